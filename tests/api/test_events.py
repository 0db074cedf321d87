"""The event hub: persisted events with increasing sequence numbers, fan-out, and dropping slow clients."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.api.db import make_engine, make_session_factory
from bot.api.events import OVERFLOW, EventHub, Subscription


def test_publish_persists_with_increasing_seq(tmp_path: Path) -> None:
    hub = EventHub(make_session_factory(make_engine(tmp_path / "db.sqlite")))
    assert hub.last_seq() == 0
    first = hub.publish("job.accepted", "a", {"x": 1})
    second = hub.publish("training.started", "a", {})
    assert (first["seq"], second["seq"]) == (1, 2)
    assert [m["type"] for m in hub.since(0)] == ["job.accepted", "training.started"]
    assert hub.since(1) == [second]
    assert hub.last_seq() == 2


def test_subscribers_receive_events_in_order(tmp_path: Path) -> None:
    async def scenario(hub: EventHub) -> list[int]:
        hub.bind(asyncio.get_running_loop())
        sub = hub.subscribe()
        for i in range(5):
            hub.publish("training.progress", "a", {"i": i})
        items = [await asyncio.wait_for(sub.queue.get(), 5) for _ in range(5)]
        hub.unsubscribe(sub)
        assert hub.n_subscribers == 0
        return [item["seq"] for item in items if isinstance(item, dict)]

    hub = EventHub(make_session_factory(make_engine(tmp_path / "db.sqlite")))
    assert asyncio.run(scenario(hub)) == [1, 2, 3, 4, 5]


def test_a_slow_subscriber_gets_only_the_overflow_marker() -> None:
    async def scenario() -> list[object]:
        sub = Subscription(max_queue=3)
        for i in range(5):
            sub.offer({"seq": i})
        return [sub.queue.get_nowait() for _ in range(sub.queue.qsize())]

    assert asyncio.run(scenario()) == [OVERFLOW]
