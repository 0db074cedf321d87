#!/usr/bin/env python
"""Same as `python -m bot check-lookahead`: a thin wrapper with the same flags."""

import sys

from bot.cli import main

if __name__ == "__main__":
    sys.exit(main(["check-lookahead", *sys.argv[1:]]))
