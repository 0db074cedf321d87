"""Tune: hyperparameter search, population-based training and seed retraining of the trainer on Ray Tune.

Ray is imported only in this package, and only by the modules that need it (``experiment``, ``seeds``, the trial at
run time); the search-space checks run before Ray is imported.
"""

from bot.tune.space import Param, SearchSpace, check_against_schema, load_space
from bot.tune.trial import TRIAL_RECORD, TrialSetup, run_trial

__all__ = ["TRIAL_RECORD", "Param", "SearchSpace", "TrialSetup", "check_against_schema", "load_space", "run_trial"]
