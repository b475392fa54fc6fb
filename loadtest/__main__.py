"""``python -m loadtest ...``: the load tester's command line (see ``loadtest.cli``)."""

import sys

from loadtest.cli import cli_main

raise SystemExit(cli_main(sys.argv[1:]))
