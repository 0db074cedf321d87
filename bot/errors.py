"""The bot's exception hierarchy: every error a user can cause or meet names the problem and the fix."""

from __future__ import annotations


class BotError(Exception):
    """Base class of every error raised on purpose by the bot."""


class ConfigError(BotError, ValueError):
    """A config file or a ``--set`` override is invalid. Fix the named key and run again."""


class DataError(BotError, ValueError):
    """Market data cannot be used as given. The message names the file, the row and the problem."""


class DataValidationError(DataError):
    """An OHLCV file failed validation (missing columns, unsorted bars, bad prices, ...). Fix or re-download it."""


class LookAheadError(DataError):
    """A feature or observation at time t depends on data after t. The named feature must be fixed before training."""


class SchemaMismatchError(BotError, ValueError):
    """A model was trained on a different observation schema than the data offered now.

    Evaluate or trade with the same features, timeframes and window the model was trained with.
    """


class CheckpointError(BotError):
    """A checkpoint folder is missing files or is unreadable. Point at a run folder written by ``bot train``."""


class TrainingError(BotError):
    """Training failed (for example an environment raised in a worker). The message carries the worker traceback."""


class BrokerError(BotError):
    """An exchange or broker call failed in a way that is not retried."""


class TransientBrokerError(BrokerError):
    """A network error, timeout, 5xx or rate limit: retried with backoff, safe to retry later."""


class AuthenticationError(BrokerError):
    """The exchange rejected the API key or signature. Check BYBIT_API_KEY / BYBIT_API_SECRET and testnet/mainnet."""


class OrderRejectedError(BrokerError):
    """The exchange rejected an order as invalid (size, price, precision). State stays consistent; bar skipped."""


class InsufficientFundsError(BrokerError):
    """The account lacks the margin or balance for an order. State stays consistent; the bar is skipped."""


class KillSwitchError(BrokerError):
    """A risk limit (max daily loss, max position) tripped: trading stops until a person intervenes."""
