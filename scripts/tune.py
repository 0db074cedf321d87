#!/usr/bin/env python
"""Same as `python -m bot tune`: a thin wrapper with the same flags."""

import sys

from bot.cli import main

if __name__ == "__main__":
    sys.exit(main(["tune", *sys.argv[1:]]))
