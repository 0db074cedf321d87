"""Tune: hyperparameter search, population-based training and seed retraining of the trainer on Ray Tune.

Ray is imported only in this package, and only by the modules that need it (``experiment``, ``seeds``, the trial
at run time); this package's import and the search-space checks import neither Ray nor torch, so a bad space file
is refused at once.
"""

from bot.tune.space import (
    KINDS,
    WALK_FORWARD_PBT,
    Param,
    SearchSpace,
    check_against_schema,
    check_scheduler,
    load_space,
    parse_space,
)

__all__ = [
    "KINDS", "WALK_FORWARD_PBT", "Param", "SearchSpace", "check_against_schema", "check_scheduler", "load_space",
    "parse_space",
]
