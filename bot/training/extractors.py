"""Feature extractors for the market window: ``training.extractor.kind: mlp | cnn1d | lstm | transformer``.

The observation is a Dict of ``market`` float32 [window, n_features] and ``portfolio`` float32 [k]. ``mlp`` keeps
SB3's ``CombinedExtractor`` (flatten both, concatenate): the default, and the only kind the batched evaluation path
reproduces (see :mod:`bot.training.fast_mlp`); the others read the window as a sequence, oldest bar first:

- ``cnn1d``: ``n_layers`` valid 1-D convolutions over time (``channels`` filters of ``kernel_size`` bars, ReLU),
  then one linear layer (ReLU) from the filters at every position to ``hidden_size`` features, so every bar counts;
  the window must hold ``n_layers * (kernel_size - 1) + 1`` bars;
- ``lstm``: an ``n_layers`` LSTM of ``hidden_size`` units; the features are its output at the newest bar;
- ``transformer``: a linear embedding to ``hidden_size`` plus a learned position embedding, ``n_layers`` pre-norm
  encoder layers of ``n_heads`` heads, the newest bar's output.

Each then concatenates the sequence features with the portfolio vector, so the policy and value heads
(``net_arch``) see both, as with ``mlp``. The extractors are plain ``torch.nn`` modules: PPO, MaskablePPO and
Double-DQN use them alike, on the model's device (CUDA when it is picked), and SB3 saves them in ``model.zip``.
"""

from __future__ import annotations

from typing import Any

import torch as th
from gymnasium import spaces
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from bot.config import ExtractorConfig
from bot.errors import ConfigError

MARKET, PORTFOLIO = "market", "portfolio"


def receptive_field(cfg: ExtractorConfig) -> int:
    """Bars one position of the ``cnn1d`` convolutions spans: the shortest window it can read (1 for the others)."""
    return cfg.n_layers * (cfg.kernel_size - 1) + 1 if cfg.kind == "cnn1d" else 1


def check_extractor(cfg: ExtractorConfig, window: int) -> None:
    """Refuse an extractor that cannot read a window of ``window`` bars.

    :raises ConfigError: naming the keys and what would work.
    """
    if cfg.kind == "transformer" and cfg.hidden_size % cfg.n_heads:
        raise ConfigError(
            f"training.extractor.hidden_size={cfg.hidden_size} must be a multiple of"
            f" training.extractor.n_heads={cfg.n_heads}"
        )
    needed = receptive_field(cfg)
    if needed > window:
        raise ConfigError(
            f"training.extractor: {cfg.n_layers} cnn1d layers of kernel_size={cfg.kernel_size} need a window of at"
            f" least {needed} bars, but env.window={window}; raise env.window or lower kernel_size / n_layers"
        )


class _SequenceExtractor(BaseFeaturesExtractor):
    """Market window -> ``hidden`` sequence features (by :meth:`encode`), concatenated with the portfolio vector."""

    def __init__(self, observation_space: spaces.Dict, hidden: int) -> None:
        market, portfolio = _parts(observation_space)
        super().__init__(observation_space, features_dim=hidden + portfolio)
        self.window, self.n_features = int(market.shape[0]), int(market.shape[1])

    def encode(self, market: th.Tensor) -> th.Tensor:
        """float [batch, window, n_features] -> float [batch, hidden]."""
        raise NotImplementedError

    def forward(self, observations: dict[str, th.Tensor]) -> th.Tensor:
        market = observations[MARKET]
        portfolio = observations[PORTFOLIO].reshape(market.shape[0], -1)
        return th.cat([self.encode(market), portfolio], dim=1)


class Cnn1dExtractor(_SequenceExtractor):
    """Valid 1-D convolutions over time, then a linear layer over every position (see the module docstring)."""

    def __init__(
        self,
        observation_space: spaces.Dict,
        channels: int = 32,
        kernel_size: int = 5,
        n_layers: int = 2,
        hidden_size: int = 64,
    ) -> None:
        super().__init__(observation_space, hidden_size)
        layers: list[nn.Module] = []
        width = self.n_features
        for _ in range(n_layers):
            layers += [nn.Conv1d(width, channels, kernel_size), nn.ReLU()]
            width = channels
        positions = self.window - n_layers * (kernel_size - 1)
        self.convs = nn.Sequential(*layers, nn.Flatten(), nn.Linear(channels * positions, hidden_size), nn.ReLU())

    def encode(self, market: th.Tensor) -> th.Tensor:
        return self.convs(market.transpose(1, 2))


class LstmExtractor(_SequenceExtractor):
    """An LSTM over the window; the features are its output at the newest bar."""

    def __init__(self, observation_space: spaces.Dict, hidden_size: int = 64, n_layers: int = 1) -> None:
        super().__init__(observation_space, hidden_size)
        self.lstm = nn.LSTM(self.n_features, hidden_size, num_layers=n_layers, batch_first=True)

    def encode(self, market: th.Tensor) -> th.Tensor:
        output, _ = self.lstm(market)
        return output[:, -1, :]


class TransformerExtractor(_SequenceExtractor):
    """Pre-norm transformer encoder over the window with a learned position embedding; the newest bar's output."""

    def __init__(
        self, observation_space: spaces.Dict, hidden_size: int = 64, n_layers: int = 2, n_heads: int = 4
    ) -> None:
        super().__init__(observation_space, hidden_size)
        self.embed = nn.Linear(self.n_features, hidden_size)
        self.position = nn.Parameter(th.zeros(1, self.window, hidden_size))
        nn.init.normal_(self.position, std=0.02)
        layer = nn.TransformerEncoderLayer(
            hidden_size, n_heads, dim_feedforward=2 * hidden_size, dropout=0.0, batch_first=True, norm_first=True
        )
        # the nested-tensor fast path only applies to padded batches, which a fixed window never has
        self.encoder = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(hidden_size)

    def encode(self, market: th.Tensor) -> th.Tensor:
        hidden = self.encoder(self.embed(market) + self.position)
        return self.norm(hidden[:, -1, :])


def extractor_kwargs(cfg: ExtractorConfig, window: int) -> dict[str, Any]:
    """The ``policy_kwargs`` entries that select ``cfg.kind`` (none for ``mlp``: SB3's own ``CombinedExtractor``).

    :param cfg: the ``training.extractor`` section.
    :param window: ``env.window``.
    :raises ConfigError: when the extractor cannot read the window (:func:`check_extractor`).
    """
    check_extractor(cfg, window)
    if cfg.kind == "mlp":
        return {}
    if cfg.kind == "cnn1d":
        cls: type[BaseFeaturesExtractor] = Cnn1dExtractor
        kwargs: dict[str, int] = {
            "channels": cfg.channels,
            "kernel_size": cfg.kernel_size,
            "n_layers": cfg.n_layers,
            "hidden_size": cfg.hidden_size,
        }
    elif cfg.kind == "lstm":
        cls, kwargs = LstmExtractor, {"hidden_size": cfg.hidden_size, "n_layers": cfg.n_layers}
    else:
        cls = TransformerExtractor
        kwargs = {"hidden_size": cfg.hidden_size, "n_layers": cfg.n_layers, "n_heads": cfg.n_heads}
    return {"features_extractor_class": cls, "features_extractor_kwargs": kwargs}


def _parts(observation_space: spaces.Space[Any]) -> tuple[spaces.Box, int]:
    if not isinstance(observation_space, spaces.Dict) or set(observation_space.spaces) != {MARKET, PORTFOLIO}:
        raise ValueError(f"sequence extractors need the Dict(market, portfolio) observation, got {observation_space}")
    market = observation_space.spaces[MARKET]
    portfolio = observation_space.spaces[PORTFOLIO]
    if not isinstance(market, spaces.Box) or len(market.shape) != 2 or not isinstance(portfolio, spaces.Box):
        raise ValueError(f"market must be a Box [window, n_features], got {market}")
    return market, int(portfolio.shape[0])
