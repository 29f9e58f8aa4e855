"""Command line: `python -m codegen [generate] [--spec PATH] [--check]`, `coverage`, `snapshot`."""

from __future__ import annotations

import sys

from .cli import main

sys.exit(main(sys.argv[1:]))
