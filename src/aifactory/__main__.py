"""``python -m aifactory`` runs the command line."""

from aifactory.cli import main

main()
