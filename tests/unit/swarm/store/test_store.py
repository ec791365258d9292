"""The cluster store's conformance suite: every ``Store`` implementation runs these tests
through the ``store_factory`` fixture (add the etcd one to ``IMPLEMENTATIONS``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from minke import errors
from minke.swarm.store import (
    CREATE,
    DELETE,
    UPDATE,
    Compacted,
    Event,
    NameConflict,
    SequenceConflict,
    SQLiteStore,
    Store,
)
from minke.swarm.store import sqlite as sqlite_store

StoreFactory = Callable[[], Store]

# name → opener on a directory; the same directory reopens the same store (restart).
IMPLEMENTATIONS: dict[str, Callable[[Path], Store]] = {
    "sqlite": lambda root: SQLiteStore(root / "store.db"),
}


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    """Opens the implementation under test on one directory; call again to reopen it."""
    opener = IMPLEMENTATIONS[request.param]
    return lambda: opener(tmp_path)


def service(id_: str, name: str, **extra: object) -> dict[str, object]:
    return {"ID": id_, "Spec": {"Name": name, "Labels": {}}, **extra}


async def take(events: AsyncIterator[Event], n: int) -> list[Event]:
    return [await asyncio.wait_for(anext(events), 5) for _ in range(n)]


async def test_create_sets_version_and_times(store_factory: StoreFactory) -> None:
    store = store_factory()
    created = await store.update(lambda tx: tx.create("service", service("s1", "web")))
    assert created["Version"]["Index"] == 1
    assert created["CreatedAt"] == created["UpdatedAt"]
    assert created["CreatedAt"].endswith("Z")
    got = await store.view(lambda tx: tx.get("service", "s1"))
    assert got == created
    assert await store.view(lambda tx: tx.index) == 1
    await store.close()


async def test_index_is_store_wide(store_factory: StoreFactory) -> None:
    store = store_factory()

    def two(tx):  # type: ignore[no-untyped-def]
        return (tx.create("node", {"ID": "n1", "Spec": {}}),
                tx.create("service", service("s1", "web")))
    node, svc = await store.update(two)
    assert (node["Version"]["Index"], svc["Version"]["Index"]) == (1, 2)
    await store.close()


async def test_update_with_current_version_moves_it(store_factory: StoreFactory) -> None:
    store = store_factory()
    created = await store.update(lambda tx: tx.create("service", service("s1", "web")))
    created["Spec"]["Labels"] = {"a": "b"}
    updated = await store.update(lambda tx: tx.update("service", created))
    assert updated["Version"]["Index"] == 2
    assert updated["CreatedAt"] == created["CreatedAt"]
    assert updated["Spec"]["Labels"] == {"a": "b"}
    await store.close()


async def test_stale_version_is_out_of_sequence_and_changes_nothing(
        store_factory: StoreFactory) -> None:
    store = store_factory()
    first = await store.update(lambda tx: tx.create("service", service("s1", "web")))
    second = await store.update(lambda tx: tx.update("service", first))
    first["Spec"]["Labels"] = {"stale": "yes"}
    with pytest.raises(SequenceConflict, match="update out of sequence"):
        await store.update(lambda tx: tx.update("service", first))
    assert await store.view(lambda tx: tx.get("service", "s1")) == second
    await store.close()


async def test_failed_transaction_writes_nothing(store_factory: StoreFactory) -> None:
    store = store_factory()

    def half(tx):  # type: ignore[no-untyped-def]
        tx.create("service", service("s1", "web"))
        raise errors.InvalidParameter("bad spec")
    with pytest.raises(errors.InvalidParameter):
        await store.update(half)
    assert await store.view(lambda tx: (tx.index, tx.list("service"))) == (0, [])
    await store.close()


async def test_names_unique_per_kind_case_insensitive(store_factory: StoreFactory) -> None:
    store = store_factory()
    await store.update(lambda tx: tx.create("service", service("s1", "Web")))
    with pytest.raises(NameConflict):
        await store.update(lambda tx: tx.create("service", service("s2", "web")))
    # another kind may use the name; nodes' names are not unique (hostnames may repeat)
    await store.update(lambda tx: tx.create("secret", service("x1", "web")))
    await store.update(lambda tx: tx.create("node", {"ID": "n1", "Spec": {"Name": "a"}}))
    await store.update(lambda tx: tx.create("node", {"ID": "n2", "Spec": {"Name": "a"}}))
    assert [s["ID"] for s in await store.view(lambda tx: tx.find("service", name="WEB"))] \
        == ["s1"]
    await store.close()


async def test_duplicate_id_and_missing_objects(store_factory: StoreFactory) -> None:
    store = store_factory()
    await store.update(lambda tx: tx.create("service", service("s1", "web")))
    with pytest.raises(errors.Conflict):
        await store.update(lambda tx: tx.create("service", service("s1", "other")))
    with pytest.raises(errors.NotFound):
        await store.update(lambda tx: tx.delete("service", "nope"))
    with pytest.raises(errors.NotFound):
        await store.update(lambda tx: tx.update("service", service("nope", "x",
                                                                   Version={"Index": 1})))
    with pytest.raises(errors.InvalidParameter):
        await store.view(lambda tx: tx.list("widget"))
    await store.close()


async def test_view_cannot_write(store_factory: StoreFactory) -> None:
    store = store_factory()
    with pytest.raises(errors.MinkeError):
        await store.view(lambda tx: tx.create("service", service("s1", "web")))  # type: ignore
    assert await store.view(lambda tx: tx.list("service")) == []
    await store.close()


async def test_find_tasks_by_service_and_node(store_factory: StoreFactory) -> None:
    store = store_factory()

    def tasks(tx):  # type: ignore[no-untyped-def]
        tx.create("task", {"ID": "t1", "ServiceID": "s1", "NodeID": "n1", "Spec": {}})
        tx.create("task", {"ID": "t2", "ServiceID": "s1", "NodeID": "n2", "Spec": {}})
        tx.create("task", {"ID": "t3", "ServiceID": "s2", "NodeID": "n1", "Spec": {}})
    await store.update(tasks)

    def ids(**by: str) -> Callable[..., list[str]]:
        return lambda tx: [t["ID"] for t in tx.find("task", **by)]
    assert await store.view(ids(service_id="s1")) == ["t1", "t2"]
    assert await store.view(ids(node_id="n1")) == ["t1", "t3"]
    assert await store.view(ids(service_id="s1", node_id="n1")) == ["t1"]
    await store.close()


async def test_watch_sees_each_event_once_in_order(store_factory: StoreFactory) -> None:
    store = store_factory()
    events = store.watch(["service"])
    first = asyncio.ensure_future(anext(events))
    await asyncio.sleep(0)
    s = await store.update(lambda tx: tx.create("service", service("s1", "web")))
    await store.update(lambda tx: tx.create("node", {"ID": "n1", "Spec": {}}))  # not watched
    s = await store.update(lambda tx: tx.update("service", s))
    await store.update(lambda tx: tx.delete("service", "s1"))
    got = [await asyncio.wait_for(first, 5), *await take(events, 2)]
    assert [(e.index, e.action, e.id) for e in got] == \
        [(1, CREATE, "s1"), (3, UPDATE, "s1"), (4, DELETE, "s1")]
    assert got[1].old is not None and got[1].old["Version"]["Index"] == 1
    assert got[1].object["Version"]["Index"] == 3
    assert got[2].object["ID"] == "s1"
    await events.aclose()
    await store.close()


async def test_view_then_watch_since_misses_nothing(store_factory: StoreFactory) -> None:
    store = store_factory()
    await store.update(lambda tx: tx.create("service", service("s1", "a")))
    index, names = await store.view(
        lambda tx: (tx.index, [s["Spec"]["Name"] for s in tx.list("service")]))
    # writes between the snapshot and the subscription are delivered, and only those
    await store.update(lambda tx: tx.create("service", service("s2", "b")))
    events = store.watch(["service"], since=index)
    await store.update(lambda tx: tx.create("service", service("s3", "c")))
    got = await take(events, 2)
    assert names == ["a"]
    assert [e.id for e in got] == ["s2", "s3"]
    await events.aclose()
    await store.close()


async def test_watch_resumes_after_reopen(store_factory: StoreFactory) -> None:
    store = store_factory()
    for i in range(3):
        await store.update(lambda tx, i=i: tx.create("service", service(f"s{i}", f"n{i}")))
    await store.close()
    store = store_factory()  # a restart: the log is on disk
    events = store.watch(["service"], since=1)
    got = await take(events, 2)
    assert [(e.index, e.id) for e in got] == [(2, "s1"), (3, "s2")]
    assert await store.view(lambda tx: len(tx.list("service"))) == 3
    await store.update(lambda tx: tx.create("service", service("s9", "n9")))
    assert (await take(events, 1))[0].index == 4
    await events.aclose()
    await store.close()


async def test_slow_watcher_loses_nothing(store_factory: StoreFactory) -> None:
    store = store_factory()
    events = store.watch(["task"], since=0)

    def many(tx):  # type: ignore[no-untyped-def]
        for i in range(600):  # more than one read batch
            tx.create("task", {"ID": f"t{i}", "Spec": {}})
    await store.update(many)
    got = await take(events, 600)
    assert [e.index for e in got] == list(range(1, 601))
    await events.aclose()
    await store.close()


async def test_watch_from_compacted_index_fails(store_factory: StoreFactory,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_store, "EVENT_RETENTION", 5)
    store = store_factory()
    for i in range(10):
        await store.update(lambda tx, i=i: tx.create("task", {"ID": f"t{i}", "Spec": {}}))
    with pytest.raises(Compacted):
        await anext(store.watch(["task"], since=2))
    got = await take(store.watch(["task"], since=5), 5)  # the oldest kept is 6
    assert [e.index for e in got] == [6, 7, 8, 9, 10]
    await store.close()


async def test_close_ends_watches(store_factory: StoreFactory) -> None:
    store = store_factory()
    events = store.watch(["service"])
    pending = asyncio.ensure_future(anext(events))
    await asyncio.sleep(0.05)
    await store.close()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(pending, 5)


async def test_concurrent_updates_one_wins(store_factory: StoreFactory) -> None:
    store = store_factory()
    base = await store.update(lambda tx: tx.create("node", {"ID": "n1", "Spec": {"x": 0}}))

    def bump(value: int):  # type: ignore[no-untyped-def]
        def fn(tx):  # type: ignore[no-untyped-def]
            return tx.update("node", {**base, "Spec": {"x": value}})
        return fn
    results = await asyncio.gather(store.update(bump(1)), store.update(bump(2)),
                                   return_exceptions=True)
    assert sum(isinstance(r, SequenceConflict) for r in results) == 1
    await store.close()


async def test_resuming_from_the_last_seen_index_repeats_nothing(
        store_factory: StoreFactory) -> None:
    store = store_factory()
    for i in range(5):
        await store.update(lambda tx, i=i: tx.create("config", service(f"c{i}", f"n{i}")))
    first = store.watch(["config"], since=0)
    seen = await take(first, 3)
    await first.aclose()  # the watcher goes away after three events ...
    resumed = store.watch(["config"], since=seen[-1].index)  # ... and comes back
    rest = await take(resumed, 2)
    assert [e.id for e in seen + rest] == [f"c{i}" for i in range(5)]
    await store.update(lambda tx: tx.delete("config", "c0"))
    assert (await take(resumed, 1))[0].action == DELETE
    await resumed.aclose()
    await store.close()
