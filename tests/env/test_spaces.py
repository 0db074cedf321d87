"""Action spaces, the action -> target exposure mapping, action masks and the observation space."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium import spaces

from bot.config import EnvConfig, PortfolioConfig
from bot.env import PORTFOLIO_FEATURES, ActionMapper, observation_space
from bot.errors import ConfigError


def _mapper(market: str = "perpetual", **env: object) -> ActionMapper:
    return ActionMapper(EnvConfig.model_validate(env), PortfolioConfig(market=market))  # type: ignore[arg-type]


def test_default_levels_per_market() -> None:
    perp, spot = _mapper("perpetual"), _mapper("spot")
    assert perp.levels == (-1.0, 0.0, 1.0) and perp.space == spaces.Discrete(3)
    assert spot.levels == (0.0, 1.0) and spot.space == spaces.Discrete(2)
    assert [perp.target(a) for a in range(3)] == [-1.0, 0.0, 1.0]
    assert [spot.target(np.int64(a)) for a in range(2)] == [0.0, 1.0]
    assert perp.action_masks().tolist() == [True, True, True]


def test_custom_levels_and_spot_short_masking() -> None:
    spot = _mapper("spot", exposure_levels=[-1.0, -0.5, 0.0, 0.5, 1.0])
    assert spot.action_masks().tolist() == [False, False, True, True, True]
    # a masked level chosen anyway (DQN ignores masks) executes as flat
    assert spot.target(0) == 0.0 and spot.target(1) == 0.0 and spot.target(3) == 0.5
    perp = _mapper("perpetual", exposure_levels=[-0.5, 0.0, 0.5])
    assert perp.action_masks().all() and perp.target(0) == -0.5


def test_spot_with_only_short_levels_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"env.exposure_levels=\[-1.0, -0.5\] leaves no allowed action"):
        _mapper("spot", exposure_levels=[-1.0, -0.5])


def test_action_masks_are_copies() -> None:
    mapper = _mapper("spot", exposure_levels=[-1.0, 0.0, 1.0])
    masks = mapper.action_masks()
    masks[:] = True
    assert mapper.action_masks().tolist() == [False, True, True]


def test_continuous_actions_clip_to_the_market() -> None:
    perp = _mapper("perpetual", action_type="continuous")
    spot = _mapper("spot", action_type="continuous")
    assert perp.space == spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
    assert perp.target(np.array([-0.25], dtype=np.float32)) == pytest.approx(-0.25)
    assert perp.target(np.array([3.0])) == 1.0
    assert spot.target(np.array([-0.7])) == 0.0
    assert spot.target(0.4) == pytest.approx(0.4)
    assert perp.action_masks().tolist() == [True]


@pytest.mark.parametrize("action", [3, -1, 1.5, "long", np.array([0, 1])])
def test_bad_discrete_action_is_rejected(action: object) -> None:
    with pytest.raises(ValueError, match=r"action .* (outside the action space Discrete\(3\)|must be one integer)"):
        _mapper("perpetual").target(action)


def test_bad_continuous_actions_are_rejected() -> None:
    mapper = _mapper("perpetual", action_type="continuous")
    with pytest.raises(ValueError, match="is NaN"):
        mapper.target(np.array([np.nan], dtype=np.float32))
    with pytest.raises(ValueError, match="must hold one target exposure"):
        mapper.target(np.array([0.5, 0.5]))


def test_observation_space_layout() -> None:
    space = observation_space(16, 30, 10.0)
    assert space["market"].shape == (16, 30) and space["market"].dtype == np.float32
    assert space["portfolio"].shape == (len(PORTFOLIO_FEATURES),)
    assert float(space["market"].high.max()) == 10.0
    assert len(set(PORTFOLIO_FEATURES)) == len(PORTFOLIO_FEATURES) == 12
