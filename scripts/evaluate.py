#!/usr/bin/env python
"""Same as `python -m bot evaluate`: a thin wrapper with the same flags."""

import sys

from bot.cli import main

if __name__ == "__main__":
    sys.exit(main(["evaluate", *sys.argv[1:]]))
