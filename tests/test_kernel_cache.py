"""The notice before the basket kernels compile: said once per process, only for a real compilation."""

from __future__ import annotations

import importlib
import logging
import os
from pathlib import Path

import pytest
from numba import njit
from numba.core import event

from bot.kernel_cache import COMPILE_NOTICE, CompileNotice, drop_stale_caches
from bot.portfolio import basket_kernel


def _notices(caplog: pytest.LogCaptureFixture) -> int:
    return sum(r.getMessage() == COMPILE_NOTICE for r in caplog.records)


def test_notice_is_said_once_and_only_for_the_prefix(caplog: pytest.LogCaptureFixture) -> None:
    """The decision alone (no compilation): another library's function says nothing; the first of ours says it,
    the next ones do not."""
    notice = CompileNotice()

    def compiling(module: str) -> event.Event:
        def f() -> None: ...

        f.__module__ = module
        return event.Event("numba:compile", event.EventStatus.START, data={"dispatcher": njit(f)})

    with caplog.at_level(logging.INFO, logger="bot.kernel_cache"):
        notice.notify(compiling("somelib.kernels"))
        assert _notices(caplog) == 0 and not notice.announced
        notice.notify(compiling(basket_kernel.__name__))
        notice.notify(compiling("bot.env.portfolio_obs"))
        assert _notices(caplog) == 1 and notice.announced


def test_a_real_compilation_is_announced_and_a_compiled_call_is_not(caplog: pytest.LogCaptureFixture) -> None:
    """Through numba's own ``numba:compile`` event: the first compilation of a function under the prefix logs the
    notice before it finishes, a call of the compiled function and a second compilation log nothing."""
    notice = CompileNotice(prefix=__name__)

    @njit
    def twice(x: float) -> float:
        return 2.0 * x

    with (
        caplog.at_level(logging.INFO, logger="bot.kernel_cache"),
        event.install_listener("numba:compile", notice),
    ):
        assert twice(1.5) == 3.0
        assert _notices(caplog) == 1
        assert twice(2.5) == 5.0
        assert twice(2) == 4.0  # a new signature compiles again, silently
        assert _notices(caplog) == 1
    assert notice.announced


def test_caches_older_than_a_dependency_are_dropped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cached kernel whose dependency's source is newer than its cache files loses them (numba compiles it
    again); a fresh cache stays. Real numba cache files of a tiny module in a temporary folder."""
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "cached_kernel.py").write_text(
        "from numba import njit\n\n@njit(cache=True)\ndef inc(x):\n    return x + 1\n"
    )
    (tmp_path / "kernel_dependency.py").write_text("STEP = 1\n")
    kernel = importlib.import_module("cached_kernel")
    dep = importlib.import_module("kernel_dependency")
    assert kernel.inc(1) == 2
    cached = sorted((tmp_path / "__pycache__").glob("cached_kernel.*.nb[ic]"))
    assert {p.suffix for p in cached} == {".nbi", ".nbc"}
    written = max(p.stat().st_mtime for p in cached)
    os.utime(tmp_path / "kernel_dependency.py", (written - 10.0, written - 10.0))
    assert drop_stale_caches(kernel.inc, [dep]) == 0
    assert all(p.exists() for p in cached)
    os.utime(tmp_path / "kernel_dependency.py", (written + 10.0, written + 10.0))
    assert drop_stale_caches(kernel.inc, [dep]) == len(cached)
    assert not any(p.exists() for p in cached)


def test_every_kernel_module_checks_what_it_compiles_in() -> None:
    """The callers of the basket kernel name it among their dependencies (a missing call would leave an edit of
    basket_kernel.py running stale machine code in their caches)."""
    root = Path(basket_kernel.__file__).resolve().parents[2]
    for module in ("bot/portfolio/basket_bar.py", "bot/portfolio/basket_orders.py", "bot/env/portfolio_spaces.py"):
        source = (root / module).read_text()
        assert "drop_stale_caches(" in source and "basket_kernel" in source.split("drop_stale_caches(")[-1], module
