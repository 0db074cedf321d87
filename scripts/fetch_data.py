#!/usr/bin/env python
"""Same as `python -m bot fetch-data`: a thin wrapper with the same flags."""

import sys

from bot.cli import main

if __name__ == "__main__":
    sys.exit(main(["fetch-data", *sys.argv[1:]]))
