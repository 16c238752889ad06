"""The one C extension (Teltonika AVL data to JSON); everything else is in pyproject.toml.

``optional=True``: without a C compiler the package installs without it and the decoder
takes the Python path (``telebench.protocols.teltonika.avl_json.COMPILED`` is False).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "telebench.protocols.teltonika._avljson",
            ["telebench/protocols/teltonika/_avljson.c"],
            extra_compile_args=["-O2"],
            optional=True,
        )
    ]
)
