"""Ensembles of trained runs (``bot evaluate --ensemble RUN RUN ...``): one policy from several models' votes.

Discrete actions go to a majority vote; a tie goes to the tied level nearest the members' mean target exposure
(then to the smaller exposure). Continuous actions (a target exposure in [-1, 1]) are averaged. The ensemble is
backtested exactly like a single agent, next to the same baselines, and gets the same report.

Every member must see the same observations: the same observation schema and the same feature scaler (runs of one
experiment, or of one config on one data file); anything else is refused, naming the run.
"""

from __future__ import annotations

import argparse
import logging
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from bot.config import BotConfig
from bot.data import Dataset
from bot.env import make_env
from bot.errors import ConfigError, SchemaMismatchError
from bot.evaluation.backtest import decision_rows, episode_rows, evaluation_config, run_agent
from bot.evaluation.baselines import agent_pace, random_baseline
from bot.evaluation.report import write_report
from bot.evaluation.results import EvaluationReport
from bot.evaluation.runner import check_spaces, run_baselines
from bot.training import LoadedCheckpoint, Obs, Policy, make_policy

logger = logging.getLogger(__name__)


class EnsemblePolicy:
    """The members' deterministic actions combined: majority vote (discrete) or mean target (continuous).

    :param members: one policy per run.
    :param targets: the target exposure of each discrete action, or None for a continuous action space.
    """

    def __init__(self, members: list[Policy], targets: tuple[float, ...] | None) -> None:
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = members
        self.targets = targets

    def act(self, obs: Obs, row: int) -> Any:
        """The combined action for the observation at the close of ``row``."""
        actions = [member.act(obs, row) for member in self.members]
        if self.targets is None:
            return np.mean(np.stack([np.asarray(a, dtype=np.float32) for a in actions]), axis=0)
        targets = self.targets
        votes = Counter(int(np.asarray(a).item()) for a in actions)
        top = max(votes.values())
        tied = [a for a, n in votes.items() if n == top]
        if len(tied) == 1:
            return tied[0]
        mean_target = float(np.mean([targets[int(np.asarray(a).item())] for a in actions]))
        return min(tied, key=lambda a: (abs(targets[a] - mean_target), abs(targets[a])))

    def reset(self) -> None:
        """Start of a gap-free episode: every member resets."""
        for member in self.members:
            member.reset()


def check_members(members: list[LoadedCheckpoint]) -> None:
    """Refuse members that would see different observations than the first one.

    :raises SchemaMismatchError: naming the run and what differs.
    """
    first = members[0]
    for member in members[1:]:
        if member.manifest.get("schema_hash") != first.manifest.get("schema_hash"):
            raise SchemaMismatchError(
                f"ensemble member {member.path} was trained on observation schema {member.manifest.get('schema_hash')}"
                f" but {first.path} on {first.manifest.get('schema_hash')}; ensemble runs of the same features"
            )
        if member.scaler.to_dict() != first.scaler.to_dict():
            raise SchemaMismatchError(
                f"ensemble member {member.path} normalises features with another scaler than {first.path} (trained"
                " on other data); ensemble runs trained on the same data and split"
            )


def evaluate_ensemble(
    cfg: BotConfig, dataset: Dataset, members: list[LoadedCheckpoint], split: str, label: str, fees_off: bool = False
) -> EvaluationReport:
    """Backtest the ensemble and the baselines on ``split``, with the configured costs and with none.

    :param cfg: the config of the first member (plus overrides); costs and windows come from it.
    :param dataset: built with the members' scaler.
    :raises SchemaMismatchError: when a member's spaces differ from the env's.
    """
    report: EvaluationReport | None = None
    for zero_costs in [True] if fees_off else [False, True]:
        ecfg = evaluation_config(cfg, zero_costs)
        env = make_env(ecfg, split, worker_id=-1, seed=ecfg.seed, dataset=dataset)
        policies: list[Policy] = []
        for member in members:
            check_spaces(member.model, env, str(member.path))
            policies.append(make_policy(member.model, member.vecnormalize, dataset.obs_features, ecfg.env.window,
                                        decision_rows(env), env.action_masks))
        targets = tuple(env.actions.targets) if ecfg.env.action_type == "discrete" else None
        agent = run_agent(env, EnsemblePolicy(policies, targets), "agent", ecfg.evaluation.risk_free_rate)
        baselines = run_baselines(env, ecfg)
        if report is not None:
            report.zero_cost = {"agent": agent, **baselines}
            continue
        ev, runs, levels = ecfg.evaluation, episode_rows(env), env.actions.targets
        tf, rf = ecfg.data.base_timeframe, ev.risk_free_rate
        random = random_baseline(dataset.market, runs, levels, ecfg.portfolio, tf, ev.n_random_runs, ecfg.seed, rf)
        paced = random_baseline(dataset.market, runs, levels, ecfg.portfolio, tf, ev.n_random_runs, ecfg.seed, rf,
                                agent_pace(agent.exposure, len(levels)))
        report = EvaluationReport(split, tf, dataset.market.symbol, label, agent, baselines, random,
                                  random_paced=paced, fees_off=fees_off)
        vote = "majority vote (ties: the level nearest the mean target)" if targets else "mean target exposure"
        report.notes.append(f"ensemble of {len(members)} runs, {vote}: " + ", ".join(str(m.path) for m in members))
    assert report is not None  # at least one cost variant ran
    return report


def run_ensemble(args: argparse.Namespace) -> int:
    """``bot evaluate --ensemble RUN RUN ...``: load every run's ``--which`` checkpoint, backtest, report.

    :raises ConfigError: for fewer than two runs or flags an ensemble does not take.
    :raises CheckpointError: for a missing or unreadable run.
    :raises SchemaMismatchError: when the runs see different observations.
    """
    if len(args.ensemble) < 2:
        raise ConfigError(f"--ensemble needs at least two runs, got {args.ensemble}; use --checkpoint for one run")
    if args.cv_folds:
        raise ConfigError("--cv-folds retrains one run per fold; it does not apply to --ensemble")
    from bot.config import load_config
    from bot.data import FeatureScaler, build_dataset
    from bot.training import CONFIG, SCALER, checkpoint_folder, load_checkpoint, training_logging

    first = checkpoint_folder(args.ensemble[0], args.which)
    cfg = load_config(first / CONFIG, list(args.overrides))
    out_dir = Path(args.out) if args.out else Path(args.ensemble[0]).parent / f"ensemble_{args.split}"
    out_dir.mkdir(parents=True, exist_ok=True)
    with training_logging(cfg, out_dir):
        dataset = build_dataset(cfg, FeatureScaler.load(first / SCALER))
        members = [load_checkpoint(run, args.which, schema_hash=dataset.schema_hash) for run in args.ensemble]
        check_members(members)
        label = f"ensemble of {len(members)} runs ({args.which})"
        report = evaluate_ensemble(cfg, dataset, members, args.split, label, fees_off=args.fees_off)
        paths = write_report(report, out_dir)
    from bot.evaluation.commands import summary_table

    print(f"Evaluation of the {label} on the {report.split} split ({report.agent.metrics.n_bars} bars):")
    print(summary_table(report))
    print(f"Report: {paths['html']}  (also report.md, metrics.json, equity.csv and PNG charts in {out_dir})")
    return 0
