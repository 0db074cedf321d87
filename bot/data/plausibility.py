"""Plausibility of valid-looking candles: price spikes against a robust volatility scale, and volume against
quote volume and price. Each finding names the file, how many rows and the first of them (rows numbered from 0).

Validation (:mod:`bot.data.validation`) rejects what cannot be a candle; these checks find candles that can be, but
are unlikely to be right: a single bar at 100x the price around it, or volume and quote-volume columns swapped.
"""

from __future__ import annotations

import logging

import numpy as np
import numpy.typing as npt
import pandas as pd

from bot.config import PlausibilityConfig
from bot.data.validation import format_ms, index_to_ms
from bot.errors import DataValidationError

logger = logging.getLogger(__name__)

#: median(|x|) of a zero-mean normal variable is 0.6745 sigma: this turns the median absolute return into a sigma
_MAD_TO_SIGMA = 1.4826
#: rows named in a message
_SHOWN = 5


def _rows(source: str, rows: npt.NDArray[np.intp], open_ms: npt.NDArray[np.int64], problem: str) -> str:
    shown = ", ".join(f"{int(r)} ({format_ms(int(open_ms[r]))})" for r in rows[:_SHOWN])
    more = f" and {rows.size - _SHOWN} more" if rows.size > _SHOWN else ""
    return f"{source}: {rows.size} row(s) {problem}: rows {shown}{more}"


def robust_sigma(log_returns: npt.NDArray[np.float64], window: int) -> npt.NDArray[np.float64]:
    """Per-bar volatility scale: the median absolute log return over a centred window of ``window`` bars, as sigma.

    A median ignores the few bars it is meant to find; the window follows calm and wild periods. Bars in windows
    with no price change get +inf (nothing there can be an outlier of a scale of 0).

    :param log_returns: float64 [n] close-to-close log returns.
    :return: float64 [n].
    """
    med = pd.Series(np.abs(log_returns)).rolling(window, center=True, min_periods=max(2, window // 4)).median()
    scale = med.to_numpy(np.float64) * _MAD_TO_SIGMA
    scale[~(scale > 0)] = np.inf
    return scale


def spike_findings(frame: pd.DataFrame, source: str, cfg: PlausibilityConfig) -> list[str]:
    """Bars whose close-to-close return or high-low range exceeds ``cfg.max_sigmas`` robust sigmas.

    :param frame: validated OHLCV frame (positive prices).
    """
    if len(frame) < 3:
        return []
    open_ms = index_to_ms(frame.index)
    close = frame["close"].to_numpy(np.float64)
    returns = np.diff(np.log(close))
    scale = robust_sigma(returns, cfg.window)
    findings = []
    jumps = np.flatnonzero(np.abs(returns) > cfg.max_sigmas * scale) + 1
    if jumps.size:
        problem = f"jump more than {cfg.max_sigmas:g} robust sigmas from the previous close (a price spike?)"
        findings.append(_rows(source, jumps, open_ms, problem))
    ranges = np.log(frame["high"].to_numpy(np.float64) / frame["low"].to_numpy(np.float64))[1:]
    wicks = np.setdiff1d(np.flatnonzero(ranges > cfg.max_sigmas * scale) + 1, jumps)
    if wicks.size:
        problem = f"span a high-low range of more than {cfg.max_sigmas:g} robust sigmas (a spike in high or low?)"
        findings.append(_rows(source, wicks, open_ms, problem))
    return findings


def volume_findings(
    frame: pd.DataFrame, quote_volume: npt.NDArray[np.float64], source: str, cfg: PlausibilityConfig
) -> list[str]:
    """Bars whose quote volume / volume (the bar's average traded price) lies outside [low, high].

    :param quote_volume: float64 [n] quote-currency volume of each bar, in the frame's row order.
    """
    volume = frame["volume"].to_numpy(np.float64)
    traded = (volume > 0) & np.isfinite(quote_volume) & (quote_volume > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        vwap = quote_volume / volume
    low = frame["low"].to_numpy(np.float64) * (1 - cfg.vwap_tolerance)
    high = frame["high"].to_numpy(np.float64) * (1 + cfg.vwap_tolerance)
    bad = np.flatnonzero(traded & ((vwap < low) | (vwap > high)))
    if not bad.size:
        return []
    i = int(bad[0])
    problem = (
        f"have quote_volume / volume outside the bar's low..high (row {i}: {float(vwap[i]):.6g} vs"
        f" {float(frame['low'].iloc[i]):.6g}..{float(frame['high'].iloc[i]):.6g}; volume and quote volume swapped?)"
    )
    return [_rows(source, bad, index_to_ms(frame.index), problem)]


def check_plausibility(
    frame: pd.DataFrame,
    source: str,
    cfg: PlausibilityConfig,
    quote_volume: npt.NDArray[np.float64] | None = None,
) -> list[str]:
    """Run the plausibility checks per ``cfg.action``: log each finding as a WARNING, raise, or skip.

    :param frame: validated OHLCV frame.
    :param source: file name for messages.
    :param cfg: ``data.plausibility``.
    :param quote_volume: the file's quote-volume column, when it has one.
    :return: the findings (empty when ``cfg.action`` is ``off``).
    :raises DataValidationError: with every finding when ``cfg.action`` is ``error``.
    """
    if cfg.action == "off":
        return []
    findings = spike_findings(frame, source, cfg)
    if quote_volume is not None:
        findings += volume_findings(frame, quote_volume, source, cfg)
    if findings and cfg.action == "error":
        raise DataValidationError(
            "; ".join(findings) + "; fix or re-download the file, or set data.plausibility.action=warn"
        )
    if findings:  # one record: the SmartLogger deduplicates WARNINGs by their template
        logger.warning("Implausible candles (data.plausibility.action=off silences this): %s", "; ".join(findings))
    return findings
