"""Entry point for `python -m beatd`."""

from beatd.cli import main

main()
