"""Compute resources of a training run: the torch device of the policy and the learner's torch threads."""

from __future__ import annotations

import os

import torch as th

from bot.config import BotConfig, worker_bound
from bot.errors import ConfigError


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when available, else ``cpu``.

    :raises ConfigError: for ``cuda`` where torch sees no CUDA device (training would silently run on the CPU).
    """
    if device == "auto":
        return "cuda" if th.cuda.is_available() else "cpu"
    if device == "cuda" and not th.cuda.is_available():
        raise ConfigError("training.device='cuda' but no CUDA device is available; use --device cpu or auto")
    return device


#: Widest hidden layer from which the learner gets more than one torch thread by default. Below it, one thread is
#: fastest (benchmarks/RESULTS.md, "Learner threads": 2 threads made a [128, 128] PPO run 3x slower in-process on
#: 2 cores) and the parameters then do not depend on the worker layout.
WIDE_POLICY_UNITS = 512


def learner_threads(cfg: BotConfig) -> int:
    """Torch threads of the learner: ``training.torch_threads`` when set, else chosen from the policy size.

    Default (``torch_threads: 0``): 1 thread for a policy whose widest hidden layer is below
    :data:`WIDE_POLICY_UNITS` units, so that one seed gives the same model in every worker layout (torch splits
    reductions by thread, which changes float rounding); a wider policy gets the cores left over by the worker
    processes less one (at least 1), where its updates gain from threads more than reproducibility across layouts
    is worth.
    """
    t = cfg.training
    if t.torch_threads:
        return t.torch_threads
    if _widest_layer(cfg) < WIDE_POLICY_UNITS:
        return 1
    workers = worker_bound(t)
    # one core stays free: with every core busy, an OpenMP thread that gets descheduled stalls the others
    return max(1, (os.cpu_count() or 1) - (workers if workers > 1 else 0) - 1)


def _widest_layer(cfg: BotConfig) -> int:
    t = cfg.training
    return max(t.dqn.net_arch if t.algo == "ddqn" else t.ppo.net_arch, default=0)


def choose_device(cfg: BotConfig) -> tuple[str, str]:
    """The policy's device and why: ``training.device``, where ``auto`` takes CUDA only where it pays.

    With ``auto``, CUDA is taken when present and the policy has a sequence extractor (``training.extractor.kind``
    other than ``mlp``) or a layer of :data:`WIDE_POLICY_UNITS` units or more:
    a small MLP is faster on the CPU, since every rollout step copies the observations to the device and the actions
    back, which costs more than its forward pass (SB3 recommends the CPU for PPO with MLP policies; issue 18's
    figures: a [1024, 1024, 1024] policy ran 2x faster on CUDA than on 16 CPU cores).

    :return: ``(device, reason)``, ``device`` being ``cpu`` or ``cuda``.
    :raises ConfigError: for ``cuda`` where torch sees no CUDA device.
    """
    requested = cfg.training.device
    if requested != "auto":
        return resolve_device(requested), f"training.device={requested}"
    if not th.cuda.is_available():
        return "cpu", "auto: no CUDA device"
    kind = cfg.training.extractor.kind
    if kind != "mlp":
        return "cuda", f"auto: the {kind} extractor's sequence work pays for the host-device copies"
    widest = _widest_layer(cfg)
    if widest >= WIDE_POLICY_UNITS:
        return "cuda", f"auto: the policy's widest layer ({widest} units) pays for the host-device copies"
    return "cpu", (
        f"auto: a policy of {widest} units at most is faster on the CPU than with host-device copies every step"
        " (--device cuda forces CUDA)"
    )
