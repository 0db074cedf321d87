"""Tests of bot.smartlog.sampling: a stable hash and a per-template decision."""

from __future__ import annotations

import zlib

import pytest

from bot.smartlog import DebugSampler, stable_hash


def test_stable_hash_is_crc32_of_utf8() -> None:
    assert stable_hash("héllo %s") == zlib.crc32("héllo %s".encode())
    assert stable_hash("surrogate \udc80") == zlib.crc32(b"surrogate \\udc80")


@pytest.mark.parametrize("rate", [0.0, 0.05, 0.1, 0.5, 1.0])
def test_share_of_templates_that_pass_is_close_to_the_rate(rate: float) -> None:
    sampler = DebugSampler(rate)
    n = 5000
    share = sum(sampler.passes(f"template {i} %s") for i in range(n)) / n
    assert share == pytest.approx(rate, abs=0.02)


def test_decision_is_cached_and_the_same_for_every_record_of_a_template() -> None:
    sampler = DebugSampler(0.3)
    first = [sampler.passes(f"t{i}") for i in range(100)]
    assert [sampler.passes(f"t{i}") for i in range(100)] == first
    assert sampler.cache == {f"t{i}": first[i] for i in range(100)}
    assert sampler.passes(12345) == sampler.passes("12345")


def test_cache_is_bounded_for_f_string_templates(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bot.smartlog.sampling.MAX_CACHED_TEMPLATES", 10)
    sampler = DebugSampler(0.5)
    decisions = [sampler.passes(f"value {i}") for i in range(25)]
    assert len(sampler.cache) <= 10
    assert [sampler.passes(f"value {i}") for i in range(25)] == decisions


def test_rate_outside_zero_one_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"debug_sample_rate=2 must be a share in \[0, 1\]"):
        DebugSampler(2)
