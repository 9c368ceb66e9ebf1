"""``python -m cli``: the ``mvt`` command."""

from cli import main

main()
