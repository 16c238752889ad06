"""The stateless decode() and new_session() dispatch."""

from __future__ import annotations

import pytest

from telebench.errors import ConfigError
from telebench.protocols import PROTOCOLS, Role, decode, new_session, protocol_module


def test_unknown_protocol_names_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="unknown protocol 'meitrack'; known protocols: gt06"):
        decode("meitrack", b"")


def test_wrong_transport_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="'gt06' does not run over 'udp'; it supports: tcp"):
        decode("gt06", b"", transport="udp")


@pytest.mark.parametrize("protocol", sorted(PROTOCOLS))
def test_every_protocol_exposes_the_package_api(protocol: str) -> None:
    module = protocol_module(protocol)
    assert callable(module.decode_payload)
    session = new_session(protocol, Role.SERVER)
    assert session.protocol == protocol
    assert session.role is Role.SERVER
