#!/usr/bin/env python
"""Same as `python -m bot paper`: a thin wrapper with the same flags."""

import sys

from bot.cli import main

if __name__ == "__main__":
    sys.exit(main(["paper", *sys.argv[1:]]))
