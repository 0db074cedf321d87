"""Tests of bot.smartlog.debug_gate: the sampled-out fast path, caller information, and the handler filter."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from bot.smartlog import DebugSampler
from bot.smartlog.debug_gate import SampleFilter, SuppressedCount, install, uninstall


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def gated_logger() -> Iterator[tuple[logging.Logger, _Collect, SuppressedCount, DebugSampler]]:
    sampler, count = DebugSampler(0.5), SuppressedCount()
    logger = logging.getLogger("tests.smartlog.gate")
    handler = _Collect()
    handler.addFilter(SampleFilter(sampler, count))
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    install(sampler, count)
    try:
        yield logger, handler, count, sampler
    finally:
        uninstall()
        logger.removeHandler(handler)
        logger.propagate = True


def test_suppressed_templates_are_counted_and_kept_ones_name_the_real_caller(gated_logger: tuple) -> None:
    logger, handler, count, sampler = gated_logger
    templates = [f"gate template {i} %d" for i in range(50)]
    for template in templates:
        logger.debug(template, 1)
    kept = [t for t in templates if sampler.passes(t)]
    assert [r.msg for r in handler.records] == kept
    assert count.n == len(templates) - len(kept)
    assert {r.funcName for r in handler.records} == {
        "test_suppressed_templates_are_counted_and_kept_ones_name_the_real_caller"
    }


def test_log_at_debug_goes_through_the_filter_with_the_same_decision(gated_logger: tuple) -> None:
    logger, handler, count, sampler = gated_logger
    templates = [f"log template {i}" for i in range(40)]
    for template in templates:
        logger.log(logging.DEBUG, template)
    assert [r.msg for r in handler.records] == [t for t in templates if sampler.passes(t)]
    assert count.n == sum(not sampler.passes(t) for t in templates)


def test_debug_below_the_level_is_not_counted(gated_logger: tuple) -> None:
    logger, handler, count, _ = gated_logger
    logger.setLevel(logging.INFO)
    logger.debug("anything %d", 1)
    assert (handler.records, count.n) == ([], 0)


def test_uninstall_restores_the_standard_method() -> None:
    original = logging.Logger.debug
    install(DebugSampler(0.0), SuppressedCount())
    assert logging.Logger.debug is not original
    uninstall()
    assert logging.Logger.debug is original
