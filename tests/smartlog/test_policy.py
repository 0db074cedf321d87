"""Tests of bot.smartlog.policy with explicit times: levels, dedup windows, INFO rotation, keywords, sampling."""

from __future__ import annotations

import logging

import pytest

from bot.smartlog import DebugSampler, SmartLogSettings
from bot.smartlog.debug_gate import SuppressedCount
from bot.smartlog.policy import InfoRotation, KeywordMatcher, LogPolicy, RotationFilter

EPOCH = 1_000.0
INFO, WARNING, DEBUG = logging.INFO, logging.WARNING, logging.DEBUG


def _policy(**kwargs: object) -> LogPolicy:
    return LogPolicy(SmartLogSettings(**kwargs), n_workers=4, epoch=EPOCH)  # type: ignore[arg-type]


def test_errors_and_criticals_always_pass() -> None:
    policy = _policy()
    assert all(policy.admit(w, EPOCH, lvl, "boom", "boom") for w in range(4) for lvl in (40, 50) for _ in range(3))
    assert policy.counters.snapshot()["suppressed"] == {"dedup": 0, "rotation": 0, "sampling": 0, "dropped": 0}


def test_warning_dedup_by_template_across_workers_within_the_window() -> None:
    policy = _policy(warning_dedup_window_s=5.0)
    decisions = [policy.admit(w, EPOCH + w, WARNING, "disk %s slow", f"disk {w} slow") for w in range(4)]
    assert decisions == [True, False, False, False]
    assert policy.admit(0, EPOCH + 1, WARNING, "other %s", "other") is True
    policy.expire(EPOCH + 4.9)
    assert policy.take_summaries() == []
    assert policy.admit(2, EPOCH + 5.0, WARNING, "disk %s slow", "disk 2 slow") is True  # a new window
    (summary,) = policy.take_summaries()
    assert (summary.n_repeats, summary.workers, summary.first_message) == (3, ("0", "1", "2", "3"), "disk 0 slow")
    assert summary.text() == "warning repeated 3 more times in 5 s by workers 0, 1, 2, 3: disk %s slow"
    policy.admit(3, EPOCH + 6, WARNING, "disk %s slow", "x")
    policy.close_all()
    assert [s.workers for s in policy.take_summaries()] == [("2", "3")]
    assert policy.counters.snapshot()["suppressed"]["dedup"] == 4


def test_a_window_with_one_copy_gives_no_summary_and_zero_window_disables_dedup() -> None:
    policy = _policy(warning_dedup_window_s=1.0)
    policy.admit(0, EPOCH, WARNING, "once", "once")
    policy.expire(EPOCH + 2)
    assert policy.take_summaries() == []
    no_dedup = _policy(warning_dedup_window_s=0.0)
    assert all(no_dedup.admit(0, EPOCH, WARNING, "same", "same") for _ in range(5))


def test_info_rotates_one_worker_per_interval() -> None:
    policy = _policy(info_rotation_interval_s=0.5)
    for cycle in range(8):
        created = EPOCH + cycle * 0.5 + 0.25
        passed = [w for w in range(4) if policy.admit(w, created, INFO, "step %d", "step 1")]
        assert passed == [cycle % 4]
    assert policy.counters.snapshot()["by_worker"]["1"]["rotation"] == 6


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("Trade opened %s", "Trade opened long"),
        ("%s", "STOP LOSS hit at 95"),
        ("DBE mode change to %s", "DBE mode change to defensive"),
        ("event: %s", "drawdown limit reached"),
    ],
)
def test_critical_keywords_in_template_or_message_always_pass(template: str, message: str) -> None:
    policy = _policy(info_rotation_interval_s=1000.0)
    assert all(policy.admit(w, EPOCH, INFO, template, message) for w in range(4))


def test_main_and_other_labels_are_not_rotated() -> None:
    policy = _policy(info_rotation_interval_s=1000.0)
    assert all(policy.admit(label, EPOCH, INFO, "hello", "hello") for label in ("main", "child"))


def test_debug_is_sampled_by_template() -> None:
    policy = _policy(debug_sample_rate=0.2)
    sampler = DebugSampler(0.2)
    templates = [f"debug {i} %s" for i in range(200)]
    assert [policy.admit(1, EPOCH, DEBUG, t, t) for t in templates] == [sampler.passes(t) for t in templates]
    counts = policy.counters.snapshot()["by_worker"]["1"]
    assert counts["sampling"] == sum(not sampler.passes(t) for t in templates)


def test_keyword_matcher_ignores_case_and_caches_templates() -> None:
    matcher = KeywordMatcher(("Take Profit", ""))
    assert matcher.in_template("TAKE PROFIT at %s") is True
    assert matcher.in_text("nothing") is False


def test_n_workers_must_be_positive() -> None:
    with pytest.raises(ValueError, match="n_workers=0 must be >= 1"):
        LogPolicy(SmartLogSettings(), n_workers=0, epoch=EPOCH)


def test_worker_rotation_filter_applies_the_listeners_rule_and_counts() -> None:
    rotation = InfoRotation(4, EPOCH, 1.0, KeywordMatcher(("trade opened",)))
    count = SuppressedCount()
    rotation_filter = RotationFilter(rotation, 1, count)

    def record(level: int, msg: str, created: float) -> logging.LogRecord:
        rec = logging.LogRecord("bot.x", level, __file__, 1, msg, (), None)
        rec.created = created
        return rec

    assert rotation_filter.filter(record(INFO, "step", EPOCH + 1.5)) is True  # cycle 1: worker 1's turn
    assert rotation_filter.filter(record(INFO, "step", EPOCH + 2.5)) is False
    assert rotation_filter.filter(record(INFO, "Trade opened", EPOCH + 2.5)) is True
    assert rotation_filter.filter(record(WARNING, "warn", EPOCH + 2.5)) is True
    assert rotation_filter.filter(record(DEBUG, "dbg", EPOCH + 2.5)) is True
    assert count.n == 1
