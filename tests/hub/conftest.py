from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from telebench.hub import Hub, HubConfig
from telebench.hub.config import with_ports


def make_config(store: Path, **changes: object) -> HubConfig:
    """Every default channel on an ephemeral port, fast flushes, fsync on (as in real use)."""
    config = with_ports(HubConfig(store=store, flush_interval=0.05))
    return dataclasses.replace(config, **changes)  # type: ignore[arg-type]


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    with Hub(config=make_config(tmp_path / "store")) as running:
        yield running
