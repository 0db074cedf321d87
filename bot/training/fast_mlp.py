"""Exact batched inference for discrete SB3 MLP policies: the accelerator behind :class:`bot.training.policy.Policy`.

The ``market`` part of the observation (rows ``t - window + 1 .. t`` of ``Dataset.obs_features``) does not depend on
the agent's actions. For an SB3 ``MultiInputPolicy`` (``CombinedExtractor``: flatten each key, concatenate, then an
MLP) the first linear layer is ``W @ [market_flat; portfolio] + b = W_m @ market_flat + W_p @ portfolio + b``, so
``W_m @ market_flat(t) + b`` is computed for every row of the split in a few batched matrix products up front; per step
only ``W_p @ portfolio`` (12 inputs) and the remaining small layers run, in NumPy float64.

Exactness: the fast path evaluates the same function as torch in float64. Its argmax can differ from torch's float32
argmax only when the two best logits (or Q-values) are nearly tied, so such steps are re-decided by the plain
``model.predict``: the actions are exactly those of ``model.predict(obs, deterministic=True)``. "Nearly tied" is a gap
of at most ``2e-5 * max_i sum_j |W_out[i, j]| + 1e-6 * |best|``: the last layer moves a logit by at most
``sum_j |W_out[i, j]|`` times the error of its inputs, and float32 errors of the hidden activations are far below 1e-5
(measured discrepancy between the two paths: about 1e-8 on the logits). Policies it cannot reproduce (continuous
actions, CNN or custom extractors, unknown layers) fall back to plain ``predict`` for every step
(:func:`bot.training.policy.make_policy`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import torch as th
from gymnasium import spaces
from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.torch_layers import CombinedExtractor
from stable_baselines3.common.vec_env import VecNormalize
from stable_baselines3.dqn.policies import DQNPolicy

if TYPE_CHECKING:
    # annotations only: policy.py builds this accelerator, so a runtime import would be a cycle
    from bot.training.policy import MaskSource, Obs, PredictPolicy

#: Observation keys of the TradingEnv, in the order the CombinedExtractor concatenates them.
_KEYS = ("market", "portfolio")
#: Rows per batched matrix product when precomputing the market contribution (bounds the memory used).
_CHUNK_ROWS = 4096


def _normaliser(
    vecnormalize: VecNormalize | None, key: str
) -> Callable[[npt.NDArray[np.float32]], npt.NDArray[np.float32]] | None:
    """VecNormalize's per-key transform, with the same float64 arithmetic and float32 cast as ``normalize_obs``."""
    if vecnormalize is None or not vecnormalize.norm_obs or key not in (vecnormalize.norm_obs_keys or ()):
        return None
    rms = vecnormalize.obs_rms[key]
    mean = np.asarray(rms.mean, dtype=np.float64)
    std = np.sqrt(rms.var + vecnormalize.epsilon)
    clip = float(vecnormalize.clip_obs)

    def normalise(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        return np.clip((x - mean) / std, -clip, clip).astype(np.float32)

    return normalise


#: Market windows -> float64 [m, d] features (a torch extractor's ``encode``), for :func:`project_market`.
Encoder = Callable[[npt.NDArray[np.float32]], npt.NDArray[np.float64]]


def project_market(
    obs_features: npt.NDArray[np.float32],
    window: int,
    rows: range,
    weight: npt.NDArray[np.float64],
    normalise: Callable[[npt.NDArray[np.float32]], npt.NDArray[np.float32]] | None,
    encode: Encoder | None = None,
) -> npt.NDArray[np.float64]:
    """``weight @ features(market window(t))`` for every decision row ``t`` in ``rows``, in chunks of rows.

    :param obs_features: float32 [n, n_features] ``Dataset.obs_features``.
    :param window: ``env.window``.
    :param rows: the decision rows (each needs ``window - 1`` rows of history).
    :param weight: float64 [out, d] the columns of a linear layer that read the market features.
    :param normalise: VecNormalize's transform of the market window, or None.
    :param encode: the market features of a chunk of windows; None: the flattened window (``CombinedExtractor``).
    :return: float64 [len(rows), out].
    """
    weight_t = np.ascontiguousarray(weight.T)
    windows = np.lib.stride_tricks.sliding_window_view(obs_features, (window, obs_features.shape[1]))[:, 0]
    out = np.empty((len(rows), weight.shape[0]), dtype=np.float64)
    # one reused float64 buffer per chunk: a fresh 30 MB array per chunk costs more in page faults than the copy
    buffer = np.empty((min(_CHUNK_ROWS, len(rows)), window, obs_features.shape[1]), dtype=np.float64)
    for lo in range(rows.start, rows.stop, _CHUNK_ROWS):
        hi = min(lo + _CHUNK_ROWS, rows.stop)
        x = windows[lo - window + 1 : hi - window + 1]
        if normalise is not None:
            x = normalise(x)
        if encode is None:
            np.copyto(buffer[: hi - lo], x)
            features = buffer[: hi - lo].reshape(hi - lo, -1)
        else:
            features = encode(np.ascontiguousarray(x))
        np.matmul(features, weight_t, out=out[lo - rows.start : hi - rows.start])
    return out


def _mlp_parts(model: BaseAlgorithm) -> tuple[th.nn.Module, list[th.nn.Module]] | None:
    """The features extractor and the layers from features to logits / Q-values, or None when unsupported."""
    if not isinstance(model.action_space, spaces.Discrete):
        return None
    policy = model.policy
    if isinstance(policy, ActorCriticPolicy | MaskableActorCriticPolicy):
        return policy.pi_features_extractor, [*policy.mlp_extractor.policy_net, policy.action_net]
    if isinstance(policy, DQNPolicy):
        return policy.q_net.features_extractor, list(policy.q_net.q_net)
    return None


def _weights(linear: th.nn.Linear) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    weight = linear.weight.detach().cpu().double().numpy()
    bias = linear.bias.detach().cpu().double().numpy() if linear.bias is not None else np.zeros(weight.shape[0])
    return weight, bias


def _relu(x: npt.NDArray[np.float64], out: npt.NDArray[np.float64]) -> None:
    np.maximum(x, 0.0, out=out)


def _tanh(x: npt.NDArray[np.float64], out: npt.NDArray[np.float64]) -> None:
    np.tanh(x, out=out)


_ACTIVATIONS: dict[type[th.nn.Module], Callable[[npt.NDArray[np.float64], npt.NDArray[np.float64]], None]] = {
    th.nn.Tanh: _tanh,
    th.nn.ReLU: _relu,
}


class _Stage:
    """``activation`` of the previous pre-activation into ``hidden`` (whose last entry is a constant 1), then
    ``weight_bias @ hidden`` into ``out``: a linear layer with its bias folded in, on preallocated buffers.
    """

    __slots__ = ("activation", "hidden", "hidden_view", "out", "weight_bias")

    def __init__(
        self, activation: Callable[[npt.NDArray[np.float64], npt.NDArray[np.float64]], None], linear: th.nn.Linear
    ) -> None:
        weight, bias = _weights(linear)
        self.activation = activation
        self.weight_bias = np.ascontiguousarray(np.concatenate([weight, bias[:, None]], axis=1))
        self.hidden = np.ones(weight.shape[1] + 1, dtype=np.float64)
        self.hidden_view = self.hidden[:-1]
        self.out = np.empty(weight.shape[0], dtype=np.float64)


def _stages(modules: Sequence[th.nn.Module]) -> list[_Stage] | None:
    """The layers after the first linear layer as (activation, linear) stages; None for any other structure."""
    if len(modules) % 2:
        return None
    stages = []
    for activation, linear in zip(modules[0::2], modules[1::2], strict=True):
        fn = _ACTIVATIONS.get(type(activation))
        if fn is None or not isinstance(linear, th.nn.Linear):
            return None
        stages.append(_Stage(fn, linear))
    return stages


def run_stages(pre: npt.NDArray[np.float64], stages: list[_Stage]) -> npt.NDArray[np.float64]:
    """The output of ``stages`` run on the pre-activation ``pre`` (``pre`` itself when there are none)."""
    for stage in stages:
        stage.activation(pre, stage.hidden_view)
        np.dot(stage.weight_bias, stage.hidden, out=stage.out)
        pre = stage.out
    return pre


def best_two(values: list[float], masks: list[bool] | None) -> tuple[int, float, float]:
    """The index and value of the largest allowed value and the second largest value (plain Python: a handful of
    outputs).

    :param values: the logits or Q-values.
    :param masks: which actions may be chosen, or None for all.
    """
    best_i = -1
    best = second = -math.inf
    for i, v in enumerate(values):
        if masks is not None and not masks[i]:
            continue
        if v > best:
            best_i, best, second = i, v, best
        elif v > second:
            second = v
    return best_i, best, second


class FastMlpPolicy:
    """Exact batched inference for discrete SB3 ``MultiInputPolicy`` MLPs (PPO, MaskablePPO, DQN/Double-DQN).

    Build it with :meth:`build` (None when the model is not supported). Per step it runs a handful of NumPy calls on
    preallocated buffers: ``W_p @ portfolio``, the precomputed market row, then one activation and one matrix-vector
    product per remaining layer; the argmax and the tie check are plain Python on the few outputs.

    :param fallback: plain ``predict`` for near-tied steps.
    :param market_part: float64 [n_rows, hidden] ``W_m @ market_flat(t) + b`` for rows ``row0 .. row0 + n_rows - 1``.
    :param row0: first row of ``market_part``.
    :param w_portfolio: float64 [hidden, k] the first layer's portfolio columns.
    :param stages: the (activation, linear) layers after the first linear layer.
    :param normalise_portfolio: VecNormalize's transform of the portfolio part, or None.
    :param allowed: the env's masks of the actions that may be chosen now (MaskablePPO), or None for all.
    :param output_weight_l1: ``max_i sum_j |W_out[i, j]|`` of the output layer (scales the tie tolerance).
    """

    def __init__(
        self,
        fallback: PredictPolicy,
        market_part: npt.NDArray[np.float64],
        row0: int,
        w_portfolio: npt.NDArray[np.float64],
        stages: list[_Stage],
        normalise_portfolio: Callable[[npt.NDArray[np.float32]], npt.NDArray[np.float32]] | None,
        allowed: MaskSource | None,
        output_weight_l1: float,
    ) -> None:
        self.fallback = fallback
        self.market_part = market_part
        self.row0 = row0
        self.w_portfolio = w_portfolio
        self.stages = stages
        self.normalise_portfolio = normalise_portfolio
        self.allowed = allowed
        self.tie_absolute = 2e-5 * output_weight_l1
        self._pre = np.empty(w_portfolio.shape[0], dtype=np.float64)
        #: steps re-decided by ``model.predict`` because the two best outputs were nearly tied.
        self.n_fallbacks = 0

    @classmethod
    def build(
        cls, fallback: PredictPolicy, obs_features: npt.NDArray[np.float32], window: int, rows: range
    ) -> FastMlpPolicy | None:
        """Precompute the market contribution for decision rows ``rows`` of ``obs_features``.

        :param fallback: the plain policy of the same model (its VecNormalize and masks are used here too).
        :param obs_features: float32 [n, n_features] ``Dataset.obs_features``.
        :param window: ``env.window``.
        :param rows: the decision rows the episodes will observe (each needs ``window - 1`` rows of history).
        :return: the policy, or None when the model's architecture is not supported.
        """
        model, vecnormalize = fallback.model, fallback.vecnormalize
        parts = _mlp_parts(model)
        if parts is None:
            return None
        extractor, modules = parts
        if not isinstance(extractor, CombinedExtractor) or tuple(extractor.extractors) != _KEYS:
            return None
        if any(not isinstance(m, th.nn.Flatten) for m in extractor.extractors.values()):
            return None
        if not modules or not isinstance(modules[0], th.nn.Linear):
            return None
        stages = _stages(modules[1:])
        n_market = window * obs_features.shape[1]
        weight, bias = _weights(modules[0])
        if stages is None or weight.shape[1] <= n_market or rows.start < window - 1:
            return None
        normalise_market = _normaliser(vecnormalize, "market")
        market_part = project_market(obs_features, window, rows, weight[:, :n_market], normalise_market)
        market_part += bias
        output_weight = stages[-1].weight_bias[:, :-1] if stages else weight
        return cls(
            fallback,
            market_part,
            rows.start,
            np.ascontiguousarray(weight[:, n_market:]),
            stages,
            _normaliser(vecnormalize, "portfolio"),
            fallback.action_masks,
            float(np.abs(output_weight).sum(axis=1).max()),
        )

    def act(self, obs: Obs, row: int) -> Any:
        """The deterministic action: argmax of the logits (Q-values), or ``predict`` when nearly tied."""
        portfolio = obs["portfolio"]
        if self.normalise_portfolio is not None:
            portfolio = self.normalise_portfolio(portfolio)
        pre = self._pre
        np.dot(self.w_portfolio, portfolio, out=pre)
        pre += self.market_part[row - self.row0]
        masks = None if self.allowed is None else self.allowed().tolist()
        best_i, best, second = best_two(run_stages(pre, self.stages).tolist(), masks)
        if best - second <= self.tie_absolute + 1e-6 * abs(best):
            self.n_fallbacks += 1
            return self.fallback.act(obs, row)
        return best_i

    def reset(self) -> None:
        """Nothing to reset: the MLP is feed-forward."""
