"""Exact per-step NumPy inference for RecurrentPPO's LSTM actor: the accelerator behind
:class:`bot.training.policy.Policy` for ``training.algo: recurrent_ppo``.

Evaluation cannot batch over time (each step needs the previous step's LSTM state and the portfolio the previous
action led to), but the extractor's ``market`` features do not depend on the actions. The actor's first LSTM layer
computes ``W_ih @ [market_features; portfolio] + b_ih + b_hh + W_hh @ h``, so ``W_ih_m @ market_features(t) + b`` is
computed for every row of the split up front (:func:`bot.training.fast_mlp.project_market`: the flattened window of
``CombinedExtractor``, or the ``encode`` of a ``cnn1d | lstm | transformer`` extractor run in torch over batches of
windows). Per step only ``[W_ih_p | W_hh] @ [portfolio; h]``, the gates (torch's order i, f, g, o), the cell and
hidden state, further LSTM layers, the actor's layers and ``action_net`` run, in NumPy float64 on preallocated buffers.

Exactness: the fast path evaluates the same function as the torch step (:meth:`PredictPolicy._lstm_step
<bot.training.policy.PredictPolicy>`) in float64; the two states differ by torch's float32 rounding, carried along a
gap-free run. That difference is assumed below :data:`STATE_TOLERANCE` on the hidden state (measured with
``benchmarks/recurrent.py speed``: at most 1.9e-5 over a 72,000-step run of a year of 5m bars). From it, a bound on
the error of the two best logits' gap is carried through the actor's layers (interval arithmetic: ``|W| @ error``
per hidden linear layer, times the largest slope of tanh / ReLU within the error of each pre-activation, and
``|w_best - w_second| @ error`` for the output layer); a decision whose gap is within that bound plus
``1e-6 * |best|`` (the float32 rounding of the step itself) is re-decided by the torch step from the current state,
whose new state then replaces the NumPy one. A cheap filter skips the bound when the gap exceeds
``2 * STATE_TOLERANCE * L`` (``L`` the product of the layers' largest row L1 norms, which the bound never exceeds).
The actions are the torch path's (no differing action over the year in the benchmark). The model's other
configurations (continuous actions, a bidirectional or projected LSTM, unknown extractors or layers) are refused by
:func:`unsupported` with the reason, and evaluated by the torch step.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import numpy.typing as npt
import torch as th
from gymnasium import spaces
from sb3_contrib.common.recurrent.policies import RecurrentActorCriticPolicy
from stable_baselines3.common.torch_layers import CombinedExtractor

from bot.training.extractors import _SequenceExtractor
from bot.training.fast_mlp import _KEYS, Encoder, _normaliser, _Stage, _stages, best_two, project_market, run_stages

if TYPE_CHECKING:
    # annotations only: policy.py builds this accelerator, so a runtime import would be a cycle
    from bot.training.policy import Obs, PredictPolicy

#: Assumed bound on |h_numpy - h_torch| for the tie margin: about 3x the largest difference measured over a year.
STATE_TOLERANCE = 5e-5


def _tanh_slope(x: npt.NDArray[np.float64], error: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The largest slope of tanh within ``x +- error``: at the point of the interval nearest 0."""
    nearest = np.tanh(np.maximum(np.abs(x) - error, 0.0))
    return 1.0 - nearest * nearest


def _relu_slope(x: npt.NDArray[np.float64], error: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """1 where ``x +- error`` reaches above 0, else 0 (the output cannot move)."""
    return (x + error > 0.0).astype(np.float64)


_SLOPES: dict[
    type[th.nn.Module], Callable[[npt.NDArray[np.float64], npt.NDArray[np.float64]], npt.NDArray[np.float64]]
] = {
    th.nn.Tanh: _tanh_slope,
    th.nn.ReLU: _relu_slope,
}


def _copy(x: npt.NDArray[np.float64], out: npt.NDArray[np.float64]) -> None:
    np.copyto(out, x)


class _LstmLayer:
    """One LSTM layer on preallocated float64 buffers.

    ``x`` is ``[input; h; 1]`` and ``weight`` is ``[W_ih | W_hh | b_ih + b_hh]`` with the rows of the sigmoid gates
    (i, f, o) halved, so one ``tanh`` gives every gate: ``sigmoid(z) = 0.5 * tanh(z / 2) + 0.5`` (halving is exact in
    floating point). The new state goes to ``h_new`` / ``c_new``; :meth:`commit` makes it the current one.
    """

    __slots__ = ("c", "c_new", "gates", "h", "h_new", "input", "offset", "scale", "tmp", "weight", "x")

    def __init__(self, lstm: th.nn.LSTM, layer: int, input_columns: slice) -> None:
        hidden = lstm.hidden_size
        w_ih = getattr(lstm, f"weight_ih_l{layer}").detach().cpu().double().numpy()[:, input_columns]
        w_hh = getattr(lstm, f"weight_hh_l{layer}").detach().cpu().double().numpy()
        bias = np.zeros(4 * hidden)
        if lstm.bias:
            bias = (getattr(lstm, f"bias_ih_l{layer}") + getattr(lstm, f"bias_hh_l{layer}")).detach()
            bias = bias.cpu().double().numpy()
        self.scale = np.full(4 * hidden, 0.5)
        self.scale[2 * hidden : 3 * hidden] = 1.0  # g is a tanh gate
        self.offset = np.where(self.scale == 0.5, 0.5, 0.0)
        self.weight = np.ascontiguousarray(np.concatenate([w_ih, w_hh, bias[:, None]], axis=1) * self.scale[:, None])
        n_in = w_ih.shape[1]
        self.x = np.zeros(n_in + hidden + 1)
        self.x[-1] = 1.0
        self.input = self.x[:n_in]
        self.h = self.x[n_in:-1]
        self.c = np.zeros(hidden)
        self.h_new = np.empty(hidden)
        self.c_new = np.empty(hidden)
        self.gates = np.empty(4 * hidden)
        self.tmp = np.empty(hidden)

    def step(self, extra: npt.NDArray[np.float64] | None) -> None:
        """The new state from ``x`` (plus ``extra``, the precomputed market part of the gates, halved as above)."""
        gates, n = self.gates, self.c.shape[0]
        np.dot(self.weight, self.x, out=gates)
        if extra is not None:
            gates += extra
        np.tanh(gates, out=gates)
        gates *= self.scale
        gates += self.offset
        np.multiply(gates[n : 2 * n], self.c, out=self.c_new)
        np.multiply(gates[:n], gates[2 * n : 3 * n], out=self.tmp)
        self.c_new += self.tmp
        np.tanh(self.c_new, out=self.tmp)
        np.multiply(gates[3 * n :], self.tmp, out=self.h_new)

    def commit(self) -> None:
        self.h[:] = self.h_new
        self.c, self.c_new = self.c_new, self.c


def unsupported(policy: Any, action_space: spaces.Space[Any]) -> str | None:
    """Why :class:`FastLstmPolicy` cannot reproduce a recurrent actor (None when it can)."""
    if not isinstance(action_space, spaces.Discrete):
        return f"{type(action_space).__name__} actions (the fast path decides discrete argmaxes only)"
    if not isinstance(policy, RecurrentActorCriticPolicy):
        return f"policy {type(policy).__name__} is not sb3-contrib's RecurrentActorCriticPolicy"
    lstm = policy.lstm_actor
    if lstm.bidirectional or lstm.proj_size or lstm.batch_first:
        return "a bidirectional, projected or batch-first actor LSTM"
    extractor = policy.pi_features_extractor
    if isinstance(extractor, CombinedExtractor):
        if tuple(extractor.extractors) != _KEYS or not all(
            isinstance(m, th.nn.Flatten) for m in extractor.extractors.values()
        ):
            return "a CombinedExtractor other than flatten(market) + flatten(portfolio)"
    elif not isinstance(extractor, _SequenceExtractor):
        return f"features extractor {type(extractor).__name__} (not mlp, cnn1d, lstm or transformer)"
    modules = [*policy.mlp_extractor.policy_net, policy.action_net]
    if not isinstance(modules[0], th.nn.Linear) or _stages(modules[1:]) is None:
        return "actor layers other than Linear followed by Tanh or ReLU"
    return None


def _encoder(extractor: _SequenceExtractor, device: th.device) -> Encoder:
    def encode(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        with th.no_grad():
            return extractor.encode(th.as_tensor(x, device=device)).cpu().double().numpy()

    return encode


def _l1(weight_bias: npt.NDArray[np.float64]) -> float:
    return float(np.abs(weight_bias[:, :-1]).sum(axis=1).max())


class FastLstmPolicy:
    """Exact per-step NumPy inference of a discrete RecurrentPPO actor, its LSTM state carried between steps.

    Build it with :meth:`build` (None when the model is not supported; :func:`unsupported` says why).

    :param fallback: the torch step (a recurrent :class:`~bot.training.policy.PredictPolicy`) for near-tied steps.
    :param market_part: float64 [n_rows, 4 * hidden] the market's part of the first LSTM layer's gates (halved like
        :class:`_LstmLayer`'s weights) for rows ``row0 ..``.
    :param row0: first row of ``market_part``.
    :param layers: the LSTM layers; the first one's input is the portfolio vector.
    :param stages: the actor's layers and ``action_net``, the first with an identity activation.
    :param normalise_portfolio: VecNormalize's transform of the portfolio part, or None.
    :param slopes: for each stage after the first, the largest-slope function of its activation.
    """

    #: carries a state from step to step (the live trader would re-warm it; see :func:`~bot.training.is_recurrent`)
    recurrent = True

    def __init__(
        self,
        fallback: PredictPolicy,
        market_part: npt.NDArray[np.float64],
        row0: int,
        layers: list[_LstmLayer],
        stages: list[_Stage],
        normalise_portfolio: Callable[[npt.NDArray[np.float32]], npt.NDArray[np.float32]] | None,
        slopes: list[Callable[[npt.NDArray[np.float64], npt.NDArray[np.float64]], npt.NDArray[np.float64]]],
    ) -> None:
        self.fallback = fallback
        self.market_part = market_part
        self.row0 = row0
        self.layers = layers
        self.stages = stages
        self.normalise_portfolio = normalise_portfolio
        self.slopes = slopes
        self.abs_weights = [np.abs(stage.weight_bias[:, :-1]) for stage in stages[:-1]]
        self.h_error = np.full(layers[-1].h.shape[0], STATE_TOLERANCE)
        #: a gap above this needs no bound (the largest the bound can be)
        self.tie_absolute = 2.0 * STATE_TOLERANCE * math.prod(_l1(stage.weight_bias) for stage in stages)
        #: steps re-decided by the torch step because the two best logits were nearly tied.
        self.n_fallbacks = 0

    @classmethod
    def build(
        cls, fallback: PredictPolicy, obs_features: npt.NDArray[np.float32], window: int, rows: range
    ) -> FastLstmPolicy | None:
        """Precompute the market gates for decision rows ``rows`` of ``obs_features``.

        :param fallback: the torch step of the same model (its VecNormalize is used here too).
        :param obs_features: float32 [n, n_features] ``Dataset.obs_features``.
        :param window: ``env.window``.
        :param rows: the decision rows the episodes will observe (each needs ``window - 1`` rows of history).
        :return: the policy, or None when :func:`unsupported` gives a reason or ``rows`` lack their history.
        """
        model, vecnormalize = fallback.model, fallback.vecnormalize
        policy = model.policy
        if unsupported(policy, model.action_space) is not None or rows.start < window - 1:
            return None
        assert isinstance(policy, RecurrentActorCriticPolicy)  # unsupported() checked it
        lstm, extractor = policy.lstm_actor, policy.pi_features_extractor
        n_market = lstm.input_size - int(model.observation_space["portfolio"].shape[0])  # type: ignore[index]
        layers = [_LstmLayer(lstm, 0, slice(n_market, None))]
        layers += [_LstmLayer(lstm, k, slice(None)) for k in range(1, lstm.num_layers)]
        w_ih = lstm.weight_ih_l0
        assert isinstance(w_ih, th.Tensor)
        w_market = w_ih.detach().cpu().double().numpy()[:, :n_market] * layers[0].scale[:, None]
        encode = (
            None
            if isinstance(extractor, CombinedExtractor)
            else _encoder(cast(_SequenceExtractor, extractor), policy.device)
        )
        market_part = project_market(obs_features, window, rows, w_market, _normaliser(vecnormalize, "market"), encode)
        modules = [*policy.mlp_extractor.policy_net, policy.action_net]
        rest = _stages(modules[1:])
        assert rest is not None  # unsupported() checked it
        # the actor's first linear layer reads the LSTM output as is
        stages = [_Stage(_copy, modules[0]), *rest]
        slopes = [_SLOPES[type(m)] for m in modules[1::2]]
        return cls(fallback, market_part, rows.start, layers, stages, _normaliser(vecnormalize, "portfolio"), slopes)

    @property
    def state(self) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Copies of the LSTM's (hidden, cell) state, float64 [n_layers, hidden] each."""
        return np.stack([layer.h for layer in self.layers]), np.stack([layer.c for layer in self.layers])

    def act(self, obs: Obs, row: int) -> Any:
        """The deterministic action (the logits' argmax), the state carried on; the torch step when nearly tied."""
        portfolio = obs["portfolio"]
        if self.normalise_portfolio is not None:
            portfolio = self.normalise_portfolio(portfolio)
        layers = self.layers
        layers[0].input[:] = portfolio
        extra: npt.NDArray[np.float64] | None = self.market_part[row - self.row0]
        previous: _LstmLayer | None = None
        for layer in layers:
            if previous is not None:
                layer.input[:] = previous.h_new
            layer.step(extra)
            extra, previous = None, layer
        logits = run_stages(layers[-1].h_new, self.stages).tolist()
        best_i, best, second = best_two(logits, None)
        gap = best - second - 1e-6 * abs(best)
        if gap <= self.tie_absolute and gap <= self._error_bound(best_i, logits.index(second)):
            return self._torch_step(obs, row)
        for layer in layers:
            layer.commit()
        return best_i

    def _error_bound(self, best_i: int, second_i: int) -> float:
        """A bound on the error of ``logit[best_i] - logit[second_i]`` from a hidden-state error of STATE_TOLERANCE."""
        moved = error = self.h_error
        last = len(self.stages) - 1
        for k, stage in enumerate(self.stages):
            if k:  # the activation reads the previous stage's outputs, each known within ``error``
                moved = self.slopes[k - 1](self.stages[k - 1].out, error) * error
            if k == last:
                w = stage.weight_bias
                return float(np.abs(w[best_i, :-1] - w[second_i, :-1]) @ moved)
            error = self.abs_weights[k] @ moved
        raise AssertionError("a policy has at least its output layer")

    def _torch_step(self, obs: Obs, row: int) -> Any:
        """The torch step from the current state; its new state (float32, as the torch path has it) replaces ours."""
        self.n_fallbacks += 1
        h, c = self.state
        device = self.fallback.model.device
        self.fallback.state = tuple(th.as_tensor(s[:, None, :], dtype=th.float32, device=device) for s in (h, c))
        action = self.fallback.act(obs, row)
        assert self.fallback.state is not None  # the torch step always leaves a state
        h_torch, c_torch = (np.asarray(s.cpu(), dtype=np.float64)[:, 0, :] for s in self.fallback.state)
        for k, layer in enumerate(self.layers):
            layer.h[:] = h_torch[k]
            layer.c[:] = c_torch[k]
        return action

    def reset(self) -> None:
        """Start of an episode: the state starts from zero, as the torch path's does."""
        for layer in self.layers:
            layer.h[:] = 0.0
            layer.c[:] = 0.0
        self.fallback.reset()
