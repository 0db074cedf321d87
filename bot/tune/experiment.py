"""The Ray Tune experiment: connecting to Ray, the search space, scheduler, searcher, resources and failure policy.

Ray is started locally on this machine's cores unless an address is given; the memory of Ray's own processes is
sized for a small box (a 2-core, 24 GiB machine runs the default settings). The dataset is put once into Ray's
object store: each node fetches one copy and every trial on it maps that copy (``tune.with_parameters``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import ray
from ray import tune
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, PopulationBasedTraining, TrialScheduler
from ray.tune.search import BasicVariantGenerator, SearchAlgorithm, Searcher

from bot.data import Dataset
from bot.errors import ConfigError
from bot.tune.address import check_address
from bot.tune.events import TrialEvents
from bot.tune.space import Param, SearchSpace
from bot.tune.trial import TrialSetup, run_trial

logger = logging.getLogger(__name__)

#: Object store of a Ray started by ``bot tune`` (bytes): the dataset plus a few checkpoints in flight.
DEFAULT_OBJECT_STORE_BYTES = 200 * 1024**2

Scheduler = Literal["fifo", "asha", "pbt"]
#: What every trial trains on: the dataset, or the datasets of the walk-forward folds (``--walk-forward K``).
TrialData = Dataset | tuple[Dataset, ...]
Search = Literal["random", "optuna"]


@dataclass(frozen=True, slots=True)
class ExperimentSpec:
    """One experiment as the command line describes it.

    :param name: experiment name (folder ``storage/<name>``).
    :param storage: the parent folder of experiments (absolute): ``tune_runs``.
    :param space: the validated search space.
    :param setup: what every trial shares (config, overrides, run folders).
    :param n_trials: samples drawn (each crossed with the grid keys).
    :param scheduler: ``fifo``, ``asha`` or ``pbt``.
    :param search: ``random`` or ``optuna``.
    :param metric: the reported metric to optimise, e.g. ``sharpe``.
    :param mode: ``max`` or ``min``.
    :param cpus_per_trial: CPUs reserved for a trial (its learner and its worker processes, on one node).
    :param gpus_per_trial: GPUs reserved for a trial.
    :param max_failures: restarts of a failed trial from its last checkpoint.
    :param max_intervals: validation intervals of a full trial (ASHA's ``max_t``).
    :param perturbation_interval: reports between two PBT exploit/explore steps.
    :param pbt_synch: synchronous PBT: every trial waits at each exploit step, so the exploits do not depend on which
        trial Tune processes first (a trial that fails for good stalls the population).
    :param seed: seed of the searcher.
    :param max_concurrent: trials run at once (None: as many as the resources allow).
    """

    name: str
    storage: Path
    space: SearchSpace
    setup: TrialSetup
    n_trials: int
    scheduler: Scheduler
    search: Search
    metric: str
    mode: Literal["max", "min"]
    cpus_per_trial: float
    gpus_per_trial: float
    max_failures: int
    max_intervals: int
    perturbation_interval: int = 1
    pbt_synch: bool = False
    seed: int = 0
    max_concurrent: int | None = None

    @property
    def path(self) -> Path:
        """The experiment folder: Ray's state, leaderboard, ``best/``, ``runs/``."""
        return self.storage / self.name


def start_ray(address: str | None, num_cpus: int | None, object_store_bytes: int = DEFAULT_OBJECT_STORE_BYTES) -> bool:
    """Connect to the cluster at ``address``, or start Ray on this machine (no dashboard, a small object store).

    :return: whether this call connected (False: Ray was already initialised by the caller, who shuts it down).
    :raises ConfigError: when the cluster cannot be reached.
    """
    if ray.is_initialized():
        return False
    if address is not None:
        check_address(address)
        try:
            ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING)
        except ConnectionError as e:
            raise ConfigError(f"--address {address}: cannot connect to the Ray cluster: {e}") from e
        return True
    ray.init(
        num_cpus=num_cpus,
        object_store_memory=object_store_bytes,
        include_dashboard=False,
        logging_level=logging.WARNING,
        # Ray nices its workers to 15 to shield its own processes; a trial is the training the user asked for, so it
        # runs at the priority of `bot train` (Ray's job submission does the same for a job's workers)
        _system_config={"worker_niceness": 0},
    )
    return True


def domain(param: Param) -> Any:
    """The Ray Tune distribution of one parameter."""
    args = param.args
    if param.kind == "choice":
        return tune.choice(list(args))
    if param.kind == "grid":
        return tune.grid_search(list(args))
    if param.kind == "randint":
        return tune.randint(int(args[0]), int(args[1]))
    low, high = float(args[0]), float(args[1])
    if param.kind == "loguniform":
        return tune.loguniform(low, high)
    if param.kind == "quniform":
        return tune.quniform(low, high, float(args[2]))
    return tune.uniform(low, high)


def _scheduler(spec: ExperimentSpec) -> TrialScheduler:
    if spec.scheduler == "asha":
        grace = max(1, spec.max_intervals // 4)
        return ASHAScheduler(time_attr="training_iteration", max_t=spec.max_intervals, grace_period=grace,
                             reduction_factor=2)
    if spec.scheduler == "pbt":
        mutations = {p.key: domain(p) for p in spec.space.params}
        return PopulationBasedTraining(
            time_attr="training_iteration",
            perturbation_interval=spec.perturbation_interval,
            hyperparam_mutations=mutations,
            quantile_fraction=0.5,  # with a small population the bottom half copies the top half
            resample_probability=0.25,
            # asynchronous by default: Ray's synchronous PBT waits forever for a population member that failed for good
            synch=spec.pbt_synch,
        )
    return FIFOScheduler()


def _search_alg(spec: ExperimentSpec) -> Searcher | SearchAlgorithm:
    if spec.search == "optuna":
        from ray.tune.search.optuna import OptunaSearch

        return OptunaSearch(seed=spec.seed)
    # Tune ignores max_concurrent_trials for a variant generator passed in: it takes its own limit
    return BasicVariantGenerator(random_state=spec.seed, max_concurrent=spec.max_concurrent or 0)


def trainable(spec: ExperimentSpec, dataset: TrialData) -> Any:
    """``run_trial`` with the shared setup and dataset or walk-forward fold datasets (object store), in one resource
    bundle per trial."""
    with_data = tune.with_parameters(run_trial, setup=spec.setup, dataset=dataset)
    bundle = {"CPU": spec.cpus_per_trial, **({"GPU": spec.gpus_per_trial} if spec.gpus_per_trial else {})}
    # one bundle: the trial's worker processes are children of the trial and must share its node
    return tune.with_resources(with_data, tune.PlacementGroupFactory([bundle]))


def run_config(spec: ExperimentSpec, callbacks: Sequence[tune.Callback] = (), verbose: int = 1) -> tune.RunConfig:
    """Storage under ``spec.storage``, restarts of failed trials, the two newest checkpoints of each trial (all with
    PBT), the caller's callbacks (trial events, the live table) and Tune's own status output (0: none)."""
    return tune.RunConfig(
        callbacks=list(callbacks),
        name=spec.name,
        storage_path=str(spec.storage),
        failure_config=tune.FailureConfig(max_failures=spec.max_failures),
        # PBT exploits another trial's checkpoint some time after it was reported: keep them all (they are small)
        checkpoint_config=tune.CheckpointConfig(num_to_keep=None if spec.scheduler == "pbt" else 2),
        verbose=verbose,
    )


def build_tuner(
    spec: ExperimentSpec, dataset: TrialData, callbacks: Sequence[tune.Callback] = (), verbose: int = 1
) -> tune.Tuner:
    """A new :class:`ray.tune.Tuner` for ``spec`` (Ray must be started), with Tune callbacks and verbosity."""
    scheduler = _scheduler(spec)
    tune_config = tune.TuneConfig(
        metric=spec.metric,
        mode=spec.mode,
        num_samples=spec.n_trials,
        scheduler=scheduler,
        search_alg=_search_alg(spec),
        max_concurrent_trials=spec.max_concurrent if spec.search == "optuna" else None,
        trial_dirname_creator=lambda trial: trial.trial_id,
        # the next trial with the same bundle runs in the actor of the last one: no new process, no second import
        # of torch and SB3 (each trial seeds, logs and starts its env workers afresh in ``train``)
        reuse_actors=True,
    )
    space = {p.key: domain(p) for p in spec.space.params}
    return tune.Tuner(trainable(spec, dataset), param_space=space, tune_config=tune_config,
                      run_config=run_config(spec, callbacks, verbose))


def restore_tuner(spec: ExperimentSpec, dataset: TrialData, trial_events: TrialEvents | None = None,
                  verbose: int = 1) -> tune.Tuner:
    """The interrupted experiment in ``spec.path``, to continue its unfinished and failed trials, writing its trial
    events to ``trial_events`` (which goes on from the counts the experiment saved), with Tune's status output
    ``verbose``.

    :raises ConfigError: when the folder holds no experiment to resume.
    """
    if not tune.Tuner.can_restore(str(spec.path)):
        raise ConfigError(f"--resume: {spec.path} holds no Ray Tune experiment; run it once without --resume")
    tuner = tune.Tuner.restore(str(spec.path), trainable=trainable(spec, dataset), resume_unfinished=True,
                               resume_errored=True)
    if trial_events is not None:
        # Tuner.restore takes no callbacks: it brings back the pickled ones, whose events file and terminal stayed
        # with the interrupted run, so this run's callback replaces them on the restored run config
        local = tuner._local_tuner
        assert local is not None  # None only through Ray Client, which bot tune does not use
        run_config = local.get_run_config()
        run_config.verbose = verbose
        callbacks = list(run_config.callbacks or [])
        for saved in callbacks:
            if isinstance(saved, TrialEvents):
                trial_events.adopt(saved)
        run_config.callbacks = [c for c in callbacks if not isinstance(c, TrialEvents)] + [trial_events]
    return tuner
