"""kill -9 of real paper-trader processes at every point of the order path: no fill is ever lost from the state.

Each kill is followed by a restart (the next process) in the same bar or one to two bars later, sometimes after an
exchange-side stop-loss filled while no process ran. After every kill the state must hold every fill the exchange had
at the kill before (the restart reconciled them); at the end it holds every fill, with the exchange's quantities, and
the exchange's position.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.bybit_candles import START_BAR, make_candles
from tests.support.bybit_emulator import BybitEmulator

REPO = Path(__file__).resolve().parents[2]
ZYGOTE = Path(__file__).with_name("paper_zygote.py")
DEADLINE_S = 60.0
#: points inside the start-up reconciliation itself
STARTUP_POINTS = frozenset({"history:after", "reconcile:record"})

#: (fault point, hit, bars the exchange moves on while no process runs, a stop-loss fills meanwhile)
KILLS: list[tuple[str, int, int, bool]] = [
    ("create:before", 1, 0, False),
    ("create:after", 1, 1, False),
    ("create:after", 2, 1, False),
    ("lookup:after", 1, 2, False),
    ("execute:after", 1, 1, True),
    ("record:before", 1, 1, False),
    ("history:after", 1, 0, False),
    ("create:after", 1, 0, False),
    ("record:after", 1, 1, True),
    ("reconcile:record", 1, 1, False),
    ("drain:fill", 1, 1, False),
    ("create:after", 2, 2, False),
    ("lookup:after", 2, 1, True),
    ("execute:after", 1, 0, False),
    ("create:before", 2, 1, False),
    ("record:before", 1, 2, True),
    ("create:after", 1, 1, False),
    ("execute:after", 1, 1, False),
    ("drain:fill", 1, 1, False),
    ("lookup:after", 1, 1, False),
]
#: the same for post-only limit orders (an offset that some bars trade through and some do not), with kills around
#: the cancel of an order that rested through its bar
LIMIT_PORTFOLIO = {"order_type": "limit", "limit_offset": 0.0008}
LIMIT_KILLS: list[tuple[str, int, int, bool]] = [
    ("create:after", 1, 0, False),
    ("cancel:before", 1, 0, False),
    ("cancel:after", 1, 1, False),
    ("create:after", 2, 1, False),
    ("record:before", 1, 2, False),
    ("cancel:after", 1, 0, False),
    ("execute:after", 1, 1, True),
    ("cancel:before", 1, 2, False),
    ("history:after", 1, 0, False),
    ("record:after", 1, 1, False),
]


class Zygote:
    """The forking parent of the trader processes, and its ``exit <code>`` lines."""

    def __init__(self, url: str, state: Path) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.proc = subprocess.Popen(
            [sys.executable, str(ZYGOTE), url, str(state)],
            cwd=REPO,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.exits: queue.Queue[int] = queue.Queue()
        self.child_pid = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("pid "):
                self.child_pid = int(line.split()[1])
            elif line.startswith("exit "):
                self.child_pid = 0
                self.exits.put(int(line.split()[1]))

    def start(self, point: str, hit: int, max_bars: int = 6, portfolio: dict[str, object] | None = None) -> None:
        assert self.proc.stdin is not None
        command = {"point": point, "hit": hit, "max_bars": max_bars, "portfolio": portfolio}
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        """End the zygote; a trader still running (a failed test) is killed, so it cannot outlive the test."""
        if self.child_pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.child_pid, signal.SIGKILL)
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=30)


@pytest.fixture
def emu() -> Iterator[BybitEmulator]:
    with BybitEmulator() as emu:
        emu.feed("BTCUSDT", make_candles(1200, seed=3))
        emu.set_bar(START_BAR)
        yield emu


def _state_rows(state: Path, sql: str) -> list[tuple[object, ...]]:
    if not state.exists():
        return []
    conn = sqlite3.connect(f"file:{state}?mode=ro", uri=True, timeout=5)
    try:
        return list(conn.execute(sql))
    except sqlite3.OperationalError:  # tables not created yet
        return []
    finally:
        conn.close()


def _last_bar(state: Path) -> int:
    rows = _state_rows(state, "SELECT MAX(open_ms) FROM bars")
    return -1 if not rows or rows[0][0] is None else int(rows[0][0])  # type: ignore[arg-type]


def _exchange_fills(emu: BybitEmulator) -> dict[str, float]:
    """Filled quantity of every exchange order with a fill, by the client id the state must record it under."""
    with emu.lock:
        return {(o.link_id or f"exchange-{o.order_id}"): round(o.filled, 9) for o in emu.account.orders if o.filled}


def _recorded_fills(state: Path) -> dict[str, float]:
    return {str(cid): round(float(qty), 9) for cid, qty in _state_rows(state, "SELECT client_id, qty FROM fills")}  # type: ignore[arg-type]


def _run_until_exit(zygote: Zygote, emu: BybitEmulator, state: Path, arm_stop: bool = False) -> int:
    """Move the exchange clock one bar each time the running trader has recorded the last closed bar.

    :param arm_stop: before the first move, put the position's stop-loss where the closing bar triggers it (the
        trader is idle then, so no order of its own replaces that stop).
    """
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        try:
            return zygote.exits.get(timeout=0.02)
        except queue.Empty:
            pass
        if _last_bar(state) == emu.bar_open_ms(emu.bar_index - 1):
            if arm_stop:
                _stop_at_next_bar(emu)
                arm_stop = False
            emu.advance()
    raise AssertionError(f"the trader process did not end within {DEADLINE_S:g} s")


def _stop_at_next_bar(emu: BybitEmulator) -> None:
    """Move the position's stop-loss to the forming bar's open: the bar closing next triggers it."""
    with emu.lock:
        pos = emu.account.position("BTCUSDT")
        if pos.size:
            pos.stop_loss = emu.account.price("BTCUSDT", emu.now_ms)


def _kill_and_restart(
    emu: BybitEmulator, state: Path, kills: list[tuple[str, int, int, bool]], portfolio: dict[str, object] | None
) -> None:
    """Run ``kills`` (each followed by a restart), then a clean run; check every fill after every restart."""
    zygote = Zygote(emu.url, state)
    try:
        before_previous_kill: dict[str, float] = {}
        for i, (point, hit, bars_down, stop_fills) in enumerate(kills):
            zygote.start(point, hit, portfolio=portfolio)
            # drain:fill: the process, alive, reads a stop-loss fill of the exchange and dies before recording it
            code = _run_until_exit(zygote, emu, state, arm_stop=point == "drain:fill")
            assert code == -9, f"kill {i} ({point}): the trader process ended with exit code {code}, not killed"
            if point in STARTUP_POINTS:
                # killed before its reconciliation wrote anything: the next process must catch up on both kills
                before_previous_kill |= _exchange_fills(emu)
            else:
                recorded = _recorded_fills(state)
                missing = {k: v for k, v in before_previous_kill.items() if recorded.get(k) != v}
                assert not missing, f"kill {i} ({point}): fills missing from the state after a restart: {missing}"
                before_previous_kill = _exchange_fills(emu)
            if stop_fills:
                _stop_at_next_bar(emu)
                bars_down = max(bars_down, 1)
            if bars_down:
                emu.advance(bars_down)
        zygote.start("", 1, max_bars=2, portfolio=portfolio)
        assert _run_until_exit(zygote, emu, state) == 0
    finally:
        zygote.close()
    exchange = _exchange_fills(emu)
    recorded = _recorded_fills(state)
    assert {k: recorded.get(k) for k in exchange} == exchange
    assert any(k.startswith("exchange-") for k in exchange), "no stop-loss filled: the test lost its point"
    (position,) = _state_rows(state, "SELECT qty FROM positions ORDER BY id DESC LIMIT 1")
    assert position[0] == pytest.approx(emu.account.position("BTCUSDT").size, abs=1e-9)
    links = [o.link_id for o in emu.account.orders if o.link_id]
    assert len(links) == len(set(links))


def test_twenty_kills_at_every_point_of_the_order_path_lose_no_fill(emu: BybitEmulator, tmp_path: Path) -> None:
    _kill_and_restart(emu, tmp_path / "paper.sqlite", KILLS, None)
    exchange = _exchange_fills(emu)
    assert sum(1 for k in exchange if k.startswith("bottest-")) >= 15  # the path was walked, many times


def test_kills_around_limit_orders_lose_no_fill_and_leave_none_resting(emu: BybitEmulator, tmp_path: Path) -> None:
    state = tmp_path / "paper.sqlite"
    _kill_and_restart(emu, state, LIMIT_KILLS, LIMIT_PORTFOLIO)
    with emu.lock:
        ours = [o for o in emu.account.orders if o.link_id]
        assert all(o.order_type == "Limit" and o.time_in_force == "PostOnly" for o in ours)
        # both ends were walked: orders that filled, and orders cancelled after their bar
        assert sum(o.filled > 0 for o in ours) >= 3 and sum(o.status == "Cancelled" for o in ours) >= 2
        # the clean run's end cancelled what still rested
        assert not [o.link_id for o in ours if o.status in ("New", "PartiallyFilled")]
    states = dict(_state_rows(state, "SELECT client_id, status FROM orders WHERE client_id LIKE 'bottest-%'"))
    assert {o.link_id for o in ours} <= set(states)
