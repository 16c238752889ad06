"""Fixtures shared by the stream delivery tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from telebench.store.wal import WriteAheadLog


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[tuple[Path, WriteAheadLog]]:
    """A hub store directory (``tmp_path / "hub"``) and its open WAL, without fsync."""
    wal = WriteAheadLog(tmp_path / "hub" / "wal", fsync=False)
    yield tmp_path / "hub", wal
    wal.close()
