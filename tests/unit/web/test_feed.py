"""The dashboard's event feed over a real event bus and a real SQLite cluster store: bus
events and task changes reach every page, a page that lags is cut off, and a swarm made
after the feed started is followed."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from minke.engine.events import EventBus
from minke.swarm.store import SQLiteStore, Tx
from minke.web import feed as feeds
from minke.web.feed import Feed

TASK = {"ID": "task1", "ServiceID": "svc1", "NodeID": "node1", "Slot": 1,
        "DesiredState": "running", "Spec": {}, "Status": {"State": "pending"}}


def engine(store: SQLiteStore | None) -> Any:
    swarm = SimpleNamespace(control=SimpleNamespace(store=store) if store else None)
    return SimpleNamespace(events=EventBus(), swarm=swarm)


async def next_message(stream: Any) -> dict[str, Any]:
    while True:
        message = await asyncio.wait_for(anext(stream), 10)
        if message is not None:
            return message


async def test_bus_events_and_task_changes_reach_every_page(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "store.db")
    e = engine(store)
    feed = Feed(e)
    feed.start()
    try:
        pages = [feed.subscribe() for _ in range(2)]
        await asyncio.sleep(0.05)  # the feed's watch and bus subscription are in place
        e.events.publish("container", "start", "c1", {"name": "web"})
        await store.update(lambda tx: tx.create("task", dict(TASK)))
        for page in pages:
            first = await next_message(page)
            assert (first["Type"], first["Action"], first["Actor"]["ID"]) == (
                "container", "start", "c1")
            second = await next_message(page)
            assert second["Type"] == "task" and second["Action"] == "create"
            assert second["Actor"]["Attributes"] == {
                "service": "svc1", "node": "node1", "state": "pending", "desired": "running"}

        def remove(tx: Tx) -> None:
            tx.delete("task", "task1")
        await store.update(remove)
        assert (await next_message(pages[0]))["Action"] == "remove"
    finally:
        await feed.stop()
        await store.close()


async def test_a_lagging_page_is_cut_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(feeds, "CLIENT_QUEUE", 3)
    feed = Feed(engine(None))
    page = feed.subscribe()
    waiting = asyncio.ensure_future(anext(page))
    await asyncio.sleep(0)
    for i in range(10):
        feed.publish({"Type": "container", "Action": "start", "Actor": {"ID": str(i)}})
    assert feed.clients == 0
    received = [await waiting]
    with pytest.raises(StopAsyncIteration):
        while True:
            received.append(await anext(page))
    assert 0 < len(received) < 10  # what was queued, then the end: the page reconnects


async def test_a_swarm_made_later_is_followed(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(feeds, "SWARM_RECHECK", 0.05)
    e = engine(None)
    feed = Feed(e)
    feed.start()
    try:
        page = feed.subscribe()
        waiting = asyncio.ensure_future(next_message(page))
        await asyncio.sleep(0.1)
        store = SQLiteStore(tmp_path / "store.db")
        e.swarm.control = SimpleNamespace(store=store)
        await asyncio.sleep(0.2)  # the feed finds the store and starts watching
        await store.update(lambda tx: tx.create("task", dict(TASK)))
        message = await waiting
        assert message["Type"] == "task" and message["Actor"]["ID"] == "task1"
    finally:
        await feed.stop()
        await store.close()
