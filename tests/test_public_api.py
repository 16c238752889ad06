"""Every public module's ``__all__`` names exist (httpx's test_public_api)."""

from __future__ import annotations

import importlib

import pytest

MODULES = [
    "telebench",
    "telebench.hub",
    "telebench.hub.config",
    "telebench.hub.plugins",
    "telebench.store.dataset",
    "telebench.store.frames",
    "telebench.store.registry",
    "telebench.store.telemetry",
    "telebench.store.logs",
    "telebench.store.commands",
    "telebench.store.wal",
    "telebench.errors",
    "telebench.model",
    "telebench.params",
    "telebench.protocols",
    "telebench.protocols.events",
    "telebench.protocols.osmand",
    "telebench.protocols.teltonika",
    "telebench.protocols.wialon_ips",
    "telebench.protocols.gt06",
]


@pytest.mark.parametrize("name", MODULES)
def test_all_names_exist(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported, f"{name} has no __all__"
    missing = [n for n in exported if not hasattr(module, n)]
    assert not missing
