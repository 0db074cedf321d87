"""DynamicBehaviorEngine: a small deterministic rule set that adapts stop loss, take profit and size to the regime.

Inputs at the close of bar t (all observable then): the causal volatility percentile ``v = pct[t]`` of relative
ATR over ``dbe.atr_window`` bars, the trend strength ``trend[t]`` in [-1, 1], the account's drawdown and the
streaks of winning / losing closed trades. Rules, in order:

1. Streaks: a closed trade with PnL > 0 extends the win streak and zeroes the loss streak; PnL <= 0 the reverse.
2. Mode:

   - DEFENSIVE when ``drawdown >= defensive_drawdown`` or ``loss_streak >= loss_streak_defensive`` or
     ``v >= high_vol_percentile``;
   - else AGGRESSIVE when ``win_streak >= win_streak_aggressive`` and ``|trend| >= STRONG_TREND`` (a strong trend
     either way) and ``v <= low_vol_percentile`` (calm market);
   - else NEUTRAL.

3. Volatility scale ``s = 0.5 + v`` (0.5 in the calmest bar of the window, 1.5 in the most volatile): stops and
   targets widen with volatility so that ordinary noise does not stop the position out.
4. ``stop_loss_pct = base_stop_loss * s * SL_MULT[mode]`` (defensive stops are tighter, aggressive ones looser),
   ``take_profit_pct = base_take_profit * s * TP_MULT[mode]`` (aggressive lets winners run),
   ``size_fraction = base_size * SIZE_MULT[mode]`` (defensive halves the size).
5. Each output is clamped to its bounds ``dbe.stop_loss``, ``dbe.take_profit`` and ``dbe.size``.

Drawdown decay (``dbe.drawdown_halflife_bars`` = h > 0): the drawdown that rule 2 sees is measured from a reference
peak that decays toward the current equity with half-life h bars, ``ref <- max(equity, ref - lambda (ref - equity))``
with ``lambda = 1 - 2 ** (-1 / h)``, so a drawdown the account does not recover from stops forcing defensive mode
after a few half-lives instead of for the rest of the run. The account's own drawdown is untouched.

With ``dbe.enabled`` false the engine still counts streaks and reports ``vol_percentile`` but always returns
NEUTRAL and the unmodified base values.
"""

from __future__ import annotations

import logging
from array import array
from enum import IntEnum

import numpy as np
import numpy.typing as npt

from bot.config import DBEConfig
from bot.dbe.inputs import dbe_inputs, decayed_drawdown, drawdown_decay, rolling_percentile

logger = logging.getLogger(__name__)


class DBEMode(IntEnum):
    """Behaviour mode; its integer value is what the observation and ``info`` carry."""

    DEFENSIVE = 0
    NEUTRAL = 1
    AGGRESSIVE = 2


#: |trend| at or above which a trend counts as strong (trend strength 0.5 = ADX 25 with ``dbe_inputs``).
STRONG_TREND = 0.5
#: Stop-loss multiplier per mode (DEFENSIVE, NEUTRAL, AGGRESSIVE).
SL_MULT = (0.75, 1.0, 1.25)
#: Take-profit multiplier per mode.
TP_MULT = (0.75, 1.0, 1.5)
#: Size multiplier per mode.
SIZE_MULT = (0.5, 1.0, 1.5)

_MODES = (DBEMode.DEFENSIVE, DBEMode.NEUTRAL, DBEMode.AGGRESSIVE)
# Regime codes precomputed per bar from volatility and trend alone.
_HIGH_VOL = 0
_ORDINARY = 1
_CALM_TREND = 2


def _clamp(x: float, low: float, high: float) -> float:
    return low if x < low else (high if x > high else x)


def _clamp_array(x: npt.NDArray[np.float64], low: float, high: float) -> npt.NDArray[np.float64]:
    """:func:`_clamp` per element, NaN kept (``np.clip`` would agree, this states the rule)."""
    return np.where(x < low, low, np.where(x > high, high, x))


def _as_floats(x: npt.NDArray[np.float64]) -> array[float]:
    """Unboxed doubles that index as Python floats (never NumPy scalars in the step), 8 bytes a bar."""
    return array("d", np.ascontiguousarray(x, dtype=np.float64).tobytes())


class DynamicBehaviorEngine:
    """Adapts stop loss, take profit and size per bar; see the module docstring for every rule.

    :param cfg: the dbe section of the config.
    :param atr_rel: float [n] ATR / close per bar, known at each bar's close (NaN during warm-up).
    :param trend: float [n] signed trend strength in [-1, 1] per bar, known at each bar's close (NaN = 0).
    :raises ValueError: when the arrays are not 1-D of equal, non-zero length, ``trend`` leaves [-1, 1] or
        ``atr_rel`` is negative.

    Attributes after :meth:`update`: ``mode`` (a :class:`DBEMode`), ``stop_loss_pct``, ``take_profit_pct``,
    ``size_fraction``, ``mode_changed``, ``win_streak``, ``loss_streak``, ``vol_percentile``.
    """

    __slots__ = (
        "_base_sl",
        "_base_tp",
        "_dd_decay",
        "_dd_defensive",
        "_dd_ref",
        "_enabled",
        "_loss_defensive",
        "_regime",
        "_size_by_mode",
        "_sl_high",
        "_sl_low",
        "_sl_table",
        "_tp_high",
        "_tp_low",
        "_tp_table",
        "_trend",
        "_vol",
        "_win_aggressive",
        "cfg",
        "loss_streak",
        "mode",
        "mode_changed",
        "size_fraction",
        "stop_loss_pct",
        "take_profit_pct",
        "vol_percentile",
        "win_streak",
    )

    def __init__(self, cfg: DBEConfig, atr_rel: npt.ArrayLike, trend: npt.ArrayLike) -> None:
        atr = np.asarray(atr_rel, dtype=np.float64)
        tr = np.asarray(trend, dtype=np.float64)
        _check_inputs(atr, tr)
        self.cfg = cfg
        self._enabled = cfg.enabled
        vol = rolling_percentile(atr, cfg.atr_window)
        tr = np.nan_to_num(tr, nan=0.0)
        regime = np.full(vol.shape[0], _ORDINARY, dtype=np.int64)
        regime[(vol <= cfg.low_vol_percentile) & (np.abs(tr) >= STRONG_TREND)] = _CALM_TREND
        regime[vol >= cfg.high_vol_percentile] = _HIGH_VOL
        # Plain Python lists: indexing them yields Python floats/ints, never NumPy scalars, in the step loop.
        self._vol: list[float] = vol.tolist()
        self._trend: list[float] = tr.tolist()
        self._regime: list[int] = regime.tolist()
        self._dd_defensive = float(cfg.defensive_drawdown)
        self._dd_decay = drawdown_decay(int(cfg.drawdown_halflife_bars))
        self._loss_defensive = int(cfg.loss_streak_defensive)
        self._win_aggressive = int(cfg.win_streak_aggressive)
        self._base_sl = float(cfg.base_stop_loss)
        self._base_tp = float(cfg.base_take_profit)
        self._sl_low, self._sl_high = float(cfg.stop_loss.low), float(cfg.stop_loss.high)
        self._tp_low, self._tp_high = float(cfg.take_profit.low), float(cfg.take_profit.high)
        # Rules 3-5 per mode and bar, computed once with the same float arithmetic as a per-bar evaluation would do
        # (``(base * mult) * (0.5 + v)``, then the clamp): ``update`` then only picks the mode's entry. Take-profit
        # entries are NaN where the unclamped value is not > 0 (NaN volatility, or no take profit): no update there.
        scale = 0.5 + vol
        self._sl_table = tuple(
            _as_floats(_clamp_array(self._base_sl * m * scale, self._sl_low, self._sl_high)) for m in SL_MULT
        )
        self._tp_table = tuple(
            _as_floats(np.where(raw > 0.0, _clamp_array(raw, self._tp_low, self._tp_high), np.nan))
            for raw in (self._base_tp * m * scale for m in TP_MULT)
        )
        self._size_by_mode = tuple(
            _clamp(float(cfg.base_size) * m, float(cfg.size.low), float(cfg.size.high)) for m in SIZE_MULT
        )
        self.reset()

    @classmethod
    def from_candles(
        cls,
        cfg: DBEConfig,
        close: npt.ArrayLike,
        high: npt.ArrayLike,
        low: npt.ArrayLike,
        atr_period: int = 14,
        adx_period: int = 14,
    ) -> DynamicBehaviorEngine:
        """Build the engine from base-timeframe candles with :func:`~bot.dbe.inputs.dbe_inputs`.

        :param cfg: the dbe section of the config (``trend_window`` sets the EMA period of the trend direction).
        :param close: float [n] closes; ``high`` and ``low`` likewise.
        :param atr_period: ATR period in bars (pass ``features.atr_period``).
        :param adx_period: ADX period in bars (pass ``features.adx_period``).
        :return: the engine, indexed by the candles' rows.
        :raises ValueError: as :func:`~bot.dbe.inputs.dbe_inputs` and the constructor.
        """
        atr_rel, trend = dbe_inputs(
            np.asarray(close, dtype=np.float64),
            np.asarray(high, dtype=np.float64),
            np.asarray(low, dtype=np.float64),
            atr_period=atr_period,
            adx_period=adx_period,
            trend_window=cfg.trend_window,
        )
        return cls(cfg, atr_rel, trend)

    def __len__(self) -> int:
        return len(self._vol)

    @property
    def drawdown_reference(self) -> float:
        """The decayed reference peak after the last :meth:`update`, as a fraction of the account's peak (1.0 after
        :meth:`reset`); a live trader, whose engine is rebuilt every bar, carries it from bar to bar and restart to
        restart."""
        return self._dd_ref

    @drawdown_reference.setter
    def drawdown_reference(self, value: float) -> None:
        self._dd_ref = value

    def reset(self) -> None:
        """Start an episode: streaks 0, NEUTRAL, outputs at their neutral values (base, clamped when enabled)."""
        self.win_streak = 0
        self.loss_streak = 0
        self._dd_ref = 1.0  # the decayed reference peak, as a fraction of the account's peak
        self.mode = DBEMode.NEUTRAL
        self.mode_changed = False
        self.vol_percentile = 0.5
        cfg = self.cfg
        if self._enabled:
            self.stop_loss_pct = _clamp(self._base_sl, self._sl_low, self._sl_high)
            self.take_profit_pct = _clamp(self._base_tp, self._tp_low, self._tp_high) if self._base_tp > 0.0 else 0.0
            self.size_fraction = self._size_by_mode[DBEMode.NEUTRAL]
        else:
            self.stop_loss_pct = self._base_sl
            self.take_profit_pct = self._base_tp
            self.size_fraction = float(cfg.base_size)

    def update(self, t: int, drawdown: float, last_trade_pnl: float | None) -> None:
        """Recompute mode and parameters at the close of bar ``t``; O(1) float work.

        :param t: row of ``atr_rel`` / ``trend`` whose close is now (0 <= t < n; not checked, for speed).
        :param drawdown: the account's current drawdown, fraction in [0, 1] (decayed when
            ``dbe.drawdown_halflife_bars`` is set; see the module docstring).
        :param last_trade_pnl: net PnL of the trade closed during the last bar, or None when none closed.
        """
        if last_trade_pnl is not None:
            if last_trade_pnl > 0.0:
                self.win_streak += 1
                self.loss_streak = 0
            else:
                self.loss_streak += 1
                self.win_streak = 0
        v = self._vol[t]
        self.vol_percentile = v
        if not self._enabled:
            self.mode_changed = False
            return
        regime = self._regime[t]
        if self._dd_decay:
            self._dd_ref, drawdown = decayed_drawdown(self._dd_ref, drawdown, self._dd_decay)
        if drawdown >= self._dd_defensive or self.loss_streak >= self._loss_defensive or regime == _HIGH_VOL:
            mode = 0
        elif regime == _CALM_TREND and self.win_streak >= self._win_aggressive:
            mode = 2
        else:
            mode = 1
        self.stop_loss_pct = self._sl_table[mode][t]
        tp = self._tp_table[mode][t]
        if tp == tp:  # NaN: base_take_profit 0 (no take profit in any mode) or no volatility yet
            self.take_profit_pct = tp
        self.size_fraction = self._size_by_mode[mode]
        if mode != self.mode:
            self._change_mode(mode, t, drawdown)
        else:
            self.mode_changed = False

    def _change_mode(self, mode: int, t: int, drawdown: float) -> None:
        new = _MODES[mode]
        logger.info(
            "DBE mode change %s -> %s at bar %d (drawdown %.4f, vol percentile %.2f, trend %.2f, win streak %d,"
            " loss streak %d)",
            self.mode.name,
            new.name,
            t,
            drawdown,
            self._vol[t],
            self._trend[t],
            self.win_streak,
            self.loss_streak,
        )
        self.mode = new
        self.mode_changed = True


def _check_inputs(atr: npt.NDArray[np.float64], trend: npt.NDArray[np.float64]) -> None:
    if atr.ndim != 1 or trend.shape != atr.shape or atr.shape[0] == 0:
        raise ValueError(
            f"DynamicBehaviorEngine needs 1-D atr_rel and trend of equal non-zero length, got shapes {atr.shape}"
            f" and {trend.shape}; pass one value per base bar (see bot.dbe.dbe_inputs)"
        )
    finite_trend = trend[np.isfinite(trend)]
    if finite_trend.size and float(np.abs(finite_trend).max()) > 1.0 + 1e-9:
        raise ValueError(
            f"trend must lie in [-1, 1], got values up to {float(np.abs(finite_trend).max()):.4g};"
            " scale it (e.g. ADX / 50 with the EMA slope's sign, as dbe_inputs does)"
        )
    finite_atr = atr[np.isfinite(atr)]
    if finite_atr.size and float(finite_atr.min()) < 0.0:
        raise ValueError(
            f"atr_rel must be >= 0 (ATR / close), got a minimum of {float(finite_atr.min()):.4g};"
            " pass ATR divided by the close"
        )
