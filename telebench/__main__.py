"""``python -m telebench``: the same as the ``telebench`` command."""

from telebench.cli import main

main()
