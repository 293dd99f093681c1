"""`python -m userq`: the `userq` command."""

from userq.cli import main

main()
