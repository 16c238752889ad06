"""The C extensions (the decoder process's hot path); everything else is in pyproject.toml.

Teltonika AVL data straight to JSON, and the duplicate window's key sets. ``optional=True``:
without a C compiler the package installs without them and the hub takes the Python paths
(``telebench.protocols.teltonika.avl_json.COMPILED``, ``telebench.hub.window.COMPILED``).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "telebench.protocols.teltonika._avljson",
            ["telebench/protocols/teltonika/_avljson.c"],
            extra_compile_args=["-O2"],
            optional=True,
        ),
        Extension(
            "telebench.hub._window",
            ["telebench/hub/_window.c"],
            extra_compile_args=["-O2"],
            optional=True,
        ),
    ]
)
