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
from enum import IntEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from bot.config import DBEConfig
from bot.dbe import kernel
from bot.dbe.inputs import dbe_inputs, drawdown_decay, rolling_percentile
from bot.dbe.kernel import CHANGED, DD_REF, LOSSES, MODE, PREV_MODE, RULE_DRAWDOWN, SIZE, SL, TP, VOL_PCT, WINS
from bot.kernel_cache import entry_point

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

# the state's mode slot (a float) -> the mode
_MODE_OF = {float(mode): mode for mode in DBEMode}


def _clamp(x: float, low: float, high: float) -> float:
    return low if x < low else (high if x > high else x)


def _clamp_array(x: npt.NDArray[np.float64], low: float, high: float) -> npt.NDArray[np.float64]:
    """:func:`_clamp` per element, NaN kept (``np.clip`` would agree, this states the rule)."""
    return np.where(x < low, low, np.where(x > high, high, x))


class DynamicBehaviorEngine:
    """Adapts stop loss, take profit and size per bar; see the module docstring for every rule.

    :param cfg: the dbe section of the config.
    :param atr_rel: float [n] ATR / close per bar, known at each bar's close (NaN during warm-up).
    :param trend: float [n] signed trend strength in [-1, 1] per bar, known at each bar's close (NaN = 0).
    :raises ValueError: when the arrays are not 1-D of equal, non-zero length, ``trend`` leaves [-1, 1] or
        ``atr_rel`` is negative.

    Attributes after :meth:`update` (plain Python values): ``mode`` (a :class:`DBEMode`), ``stop_loss_pct``,
    ``take_profit_pct``, ``size_fraction``, ``mode_changed``, ``win_streak``, ``loss_streak``, ``vol_percentile``.
    They live in ``state`` (float64, the slots of :mod:`bot.dbe.kernel`) and the per-bar rules in ``tables``, which
    the compiled :func:`bot.dbe.kernel.update` reads and writes (the env's step calls it between bars); a copy
    (:func:`copy.copy`) shares the read-only tables and gets its own state.
    """

    __slots__ = ("_trend", "cfg", "state", "tables")

    def __init__(self, cfg: DBEConfig, atr_rel: npt.ArrayLike, trend: npt.ArrayLike) -> None:
        atr = np.asarray(atr_rel, dtype=np.float64)
        tr = np.asarray(trend, dtype=np.float64)
        _check_inputs(atr, tr)
        self.cfg = cfg
        vol = rolling_percentile(atr, cfg.atr_window)
        tr = np.nan_to_num(tr, nan=0.0)
        regime = np.full(vol.shape[0], kernel.ORDINARY)
        regime[(vol <= cfg.low_vol_percentile) & (np.abs(tr) >= STRONG_TREND)] = kernel.CALM_TREND
        regime[vol >= cfg.high_vol_percentile] = kernel.HIGH_VOL
        self._trend = tr  # for the mode-change log line only
        base_sl, base_tp = float(cfg.base_stop_loss), float(cfg.base_take_profit)
        sl_low, sl_high = float(cfg.stop_loss.low), float(cfg.stop_loss.high)
        tp_low, tp_high = float(cfg.take_profit.low), float(cfg.take_profit.high)
        # Rules 3-5 per mode and bar, computed once with the same float arithmetic as a per-bar evaluation would do
        # (``(base * mult) * (0.5 + v)``, then the clamp): ``update`` then only picks the mode's entry. Take-profit
        # entries are NaN where the unclamped value is not > 0 (NaN volatility, or no take profit): no update there.
        scale = 0.5 + vol
        tables = np.empty((kernel.N_TABLES, vol.shape[0]))
        tables[kernel.T_VOL] = vol
        tables[kernel.T_REGIME] = regime
        for mode, (sl_mult, tp_mult) in enumerate(zip(SL_MULT, TP_MULT, strict=True)):
            tables[kernel.T_SL + mode] = _clamp_array(base_sl * sl_mult * scale, sl_low, sl_high)
            raw = base_tp * tp_mult * scale
            tables[kernel.T_TP + mode] = np.where(raw > 0.0, _clamp_array(raw, tp_low, tp_high), np.nan)
        tables.flags.writeable = False
        self.tables = tables
        state = np.zeros(kernel.N_SLOTS)
        state[kernel.ENABLED] = float(cfg.enabled)
        state[kernel.DD_DEFENSIVE] = float(cfg.defensive_drawdown)
        state[kernel.DD_DECAY] = drawdown_decay(int(cfg.drawdown_halflife_bars))
        state[kernel.LOSS_DEFENSIVE] = int(cfg.loss_streak_defensive)
        state[kernel.WIN_AGGRESSIVE] = int(cfg.win_streak_aggressive)
        for mode, mult in enumerate(SIZE_MULT):
            state[kernel.SIZE_DEFENSIVE + mode] = _clamp(float(cfg.base_size) * mult, cfg.size.low, cfg.size.high)
        self.state = state
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
        return int(self.tables.shape[1])

    def __copy__(self) -> DynamicBehaviorEngine:
        twin = DynamicBehaviorEngine.__new__(DynamicBehaviorEngine)
        twin.cfg, twin.tables, twin._trend, twin.state = self.cfg, self.tables, self._trend, self.state.copy()
        return twin

    # state as plain Python values (``ndarray.item``: never NumPy scalars)

    @property
    def stop_loss_pct(self) -> float:
        """Stop-loss distance, fraction of the entry price."""
        return self.state.item(SL)

    @property
    def take_profit_pct(self) -> float:
        """Take-profit distance, fraction of the entry price (0 = none)."""
        return self.state.item(TP)

    @property
    def size_fraction(self) -> float:
        """Fraction of the requested exposure to use."""
        return self.state.item(SIZE)

    @size_fraction.setter
    def size_fraction(self, value: float) -> None:
        self.state[SIZE] = value

    @property
    def vol_percentile(self) -> float:
        """The volatility percentile of the last updated bar (0.5 after :meth:`reset`)."""
        return self.state.item(VOL_PCT)

    @property
    def mode(self) -> DBEMode:
        """The behaviour mode."""
        return _MODE_OF[self.state.item(MODE)]

    @mode.setter
    def mode(self, value: DBEMode) -> None:
        self.state[MODE] = int(value)

    @property
    def mode_changed(self) -> bool:
        """True when the last :meth:`update` changed the mode."""
        return self.state.item(CHANGED) != 0.0

    @property
    def win_streak(self) -> int:
        """Closed trades in a row with PnL > 0."""
        return int(self.state.item(WINS))

    @win_streak.setter
    def win_streak(self, value: int) -> None:
        self.state[WINS] = int(value)

    @property
    def loss_streak(self) -> int:
        """Closed trades in a row with PnL <= 0."""
        return int(self.state.item(LOSSES))

    @loss_streak.setter
    def loss_streak(self, value: int) -> None:
        self.state[LOSSES] = int(value)

    @property
    def drawdown_reference(self) -> float:
        """The decayed reference peak after the last :meth:`update`, as a fraction of the account's peak (1.0 after
        :meth:`reset`); a live trader, whose engine is rebuilt every bar, carries it from bar to bar and restart to
        restart."""
        return self.state.item(DD_REF)

    @drawdown_reference.setter
    def drawdown_reference(self, value: float) -> None:
        self.state[DD_REF] = value

    def reset(self) -> None:
        """Start an episode: streaks 0, NEUTRAL, outputs at their neutral values (base, clamped when enabled)."""
        cfg = self.cfg
        s = self.state
        s[WINS] = s[LOSSES] = 0.0
        s[DD_REF] = 1.0
        s[MODE] = int(DBEMode.NEUTRAL)
        s[CHANGED] = 0.0
        s[VOL_PCT] = 0.5
        base_sl, base_tp = float(cfg.base_stop_loss), float(cfg.base_take_profit)
        if cfg.enabled:
            s[SL] = _clamp(base_sl, cfg.stop_loss.low, cfg.stop_loss.high)
            s[TP] = _clamp(base_tp, cfg.take_profit.low, cfg.take_profit.high) if base_tp > 0.0 else 0.0
            s[SIZE] = s[kernel.SIZE_DEFENSIVE + DBEMode.NEUTRAL]
        else:
            s[SL] = base_sl
            s[TP] = base_tp
            s[SIZE] = float(cfg.base_size)

    def update(self, t: int, drawdown: float, last_trade_pnl: float | None) -> None:
        """Recompute mode and parameters at the close of bar ``t`` (the compiled :func:`bot.dbe.kernel.update`).

        :param t: row of ``atr_rel`` / ``trend`` whose close is now (0 <= t < n; not checked, for speed).
        :param drawdown: the account's current drawdown, fraction in [0, 1] (decayed when
            ``dbe.drawdown_halflife_bars`` is set; see the module docstring).
        :param last_trade_pnl: net PnL of the trade closed during the last bar, or None when none closed.
        """
        closed = last_trade_pnl is not None
        update = _update or _update_entry()
        if update(self.state, self.tables, t, drawdown, closed, last_trade_pnl if closed else 0.0):
            self.log_mode_change(t)

    def log_mode_change(self, t: int) -> None:
        """Log the mode change of the update at row ``t`` (INFO), with what the mode rule saw."""
        s = self.state
        logger.info(
            "DBE mode change %s -> %s at bar %d (drawdown %.4f, vol percentile %.2f, trend %.2f, win streak %d,"
            " loss streak %d)",
            _MODE_OF[s.item(PREV_MODE)].name,
            self.mode.name,
            t,
            s.item(RULE_DRAWDOWN),
            s.item(VOL_PCT),
            self._trend.item(t),
            self.win_streak,
            self.loss_streak,
        )


_update: Any = None


def _update_entry() -> Any:
    """The compiled update's native entry point (:func:`bot.kernel_cache.entry_point`: no dispatcher typing per
    call), taken once per process (a cold numba cache compiles it here)."""
    global _update
    if _update is None:
        _update = entry_point(kernel.update, kernel.UPDATE_ARGS)
    return _update


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
