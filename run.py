#!/usr/bin/env python3
"""tickbus command line: `python run.py --help` (the same as the `tickbus` console script)."""

from __future__ import annotations

import sys

from engine.app.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
