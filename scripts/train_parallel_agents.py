#!/usr/bin/env python
"""Same as `python -m bot train`: a thin wrapper with the same flags."""

import sys

from bot.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
