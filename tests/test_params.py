"""The parameter registry is consistent and drives the Teltonika IO table."""

from __future__ import annotations

from telebench.params import PARAMS, teltonika_io_sources
from telebench.protocols import PROTOCOLS

HUB_ONLY = {"server.timestamp", "checksum.valid"}


def test_names_are_flespi_style_and_unique() -> None:
    for name, param in PARAMS.items():
        assert name == param.name
        assert name == name.lower()
        assert " " not in name
        assert param.description


def test_every_source_names_a_known_protocol() -> None:
    for param in PARAMS.values():
        assert param.sources or param.name in HUB_ONLY, param.name
        for src in param.sources:
            assert src.protocol in PROTOCOLS, (param.name, src.protocol)
            assert src.divisor >= 1


def test_teltonika_ids_are_unique_and_sized() -> None:
    seen: dict[int, str] = {}
    for avl_id, param, src in teltonika_io_sources():
        assert avl_id not in seen, f"AVL {avl_id} mapped twice: {seen[avl_id]}, {param.name}"
        seen[avl_id] = param.name
        assert src.size in (0, 1, 2, 4, 8, 17)
    # protocols.md §3.10 names these; each must be in the table.
    assert {
        239,
        240,
        21,
        66,
        67,
        68,
        113,
        181,
        182,
        16,
        199,
        205,
        206,
        241,
        1,
        2,
        3,
        9,
        179,
        180,
        17,
        18,
        19,
        69,
        80,
        200,
        24,
        72,
        11,
        14,
    } <= set(seen)


def test_scaled_params_are_numbers() -> None:
    for param in PARAMS.values():
        if any(src.divisor != 1 for src in param.sources):
            assert param.type == "number", param.name
