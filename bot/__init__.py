"""bot: a multi-process reinforcement-learning trading bot."""

__version__ = "0.1.0"

__all__ = ["__version__"]
