"""The cluster store's conformance suite: every ``Store`` implementation runs these tests
through the ``store_factory`` fixture: SQLite on a temp file, etcd on a real member (one per
session, a fresh key prefix per test).

Indexes are compared, not spelled out: SQLite numbers each write, etcd gives every write of
a transaction the transaction's revision (and its revisions count other prefixes' writes)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from aetcd import rpc
from tests.support.etcd import Etcd

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
from minke.swarm.store.etcd import EtcdStore

StoreFactory = Callable[[], Store]


class Backend:
    """How a test opens the implementation under test, and drops history below an index."""

    def __init__(self, open_: Callable[[], Store]) -> None:
        self.open = open_

    @staticmethod
    async def compact(store: Store, index: int) -> None:
        if isinstance(store, SQLiteStore):
            store._db.execute("DELETE FROM events WHERE idx < ?", (index,))
        else:
            assert isinstance(store, EtcdStore)
            await store.client.kvstub.Compact(rpc.CompactionRequest(revision=index,
                                                                    physical=True))


@pytest.fixture(params=["sqlite", pytest.param("etcd", marks=pytest.mark.integration)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "sqlite":
        return Backend(lambda: SQLiteStore(tmp_path / "store.db"))
    etcd: Etcd = request.getfixturevalue("etcd")
    config = etcd.config()
    return Backend(lambda: EtcdStore(config))


@pytest.fixture
def store_factory(backend: Backend) -> StoreFactory:
    """Opens the implementation under test on one place; call again to reopen it."""
    return backend.open


def service(id_: str, name: str, **extra: object) -> dict[str, object]:
    return {"ID": id_, "Spec": {"Name": name, "Labels": {}}, **extra}


async def take(events: AsyncIterator[Event], n: int) -> list[Event]:
    return [await asyncio.wait_for(anext(events), 5) for _ in range(n)]


async def test_create_sets_version_and_times(store_factory: StoreFactory) -> None:
    store = store_factory()
    before = await store.view(lambda tx: tx.index)
    created = await store.update(lambda tx: tx.create("service", service("s1", "web")))
    assert created["Version"]["Index"] > before
    assert created["CreatedAt"] == created["UpdatedAt"]
    assert created["CreatedAt"].endswith("Z")
    got = await store.view(lambda tx: tx.get("service", "s1"))
    assert got == created
    assert await store.view(lambda tx: tx.index) == created["Version"]["Index"]
    await store.close()


async def test_index_is_store_wide(store_factory: StoreFactory) -> None:
    store = store_factory()

    def two(tx):  # type: ignore[no-untyped-def]
        return (tx.create("node", {"ID": "n1", "Spec": {}}),
                tx.create("service", service("s1", "web")))
    before = await store.view(lambda tx: tx.index)
    node, svc = await store.update(two)
    assert before < node["Version"]["Index"] <= svc["Version"]["Index"]
    assert await store.view(lambda tx: tx.get("node", "n1")) == node
    after = await store.update(lambda tx: tx.create("config", service("c1", "c")))
    assert after["Version"]["Index"] > svc["Version"]["Index"]
    await store.close()


async def test_update_with_current_version_moves_it(store_factory: StoreFactory) -> None:
    store = store_factory()
    created = await store.update(lambda tx: tx.create("service", service("s1", "web")))
    created["Spec"]["Labels"] = {"a": "b"}
    updated = await store.update(lambda tx: tx.update("service", created))
    assert updated["Version"]["Index"] > created["Version"]["Index"]
    assert await store.view(lambda tx: tx.get("service", "s1")) == updated
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
    before = await store.view(lambda tx: tx.index)
    with pytest.raises(errors.InvalidParameter):
        await store.update(half)
    assert await store.view(lambda tx: (tx.index, tx.list("service"))) == (before, [])
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
    assert [(e.action, e.id) for e in got] == [(CREATE, "s1"), (UPDATE, "s1"), (DELETE, "s1")]
    assert got[0].index < got[1].index < got[2].index
    assert got[1].index == s["Version"]["Index"] == got[1].object["Version"]["Index"]
    assert got[1].old is not None and got[1].old["Version"]["Index"] == got[0].index
    assert got[0].object["Version"]["Index"] == got[0].index
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
    made = [await store.update(lambda tx, i=i: tx.create("service", service(f"s{i}", f"n{i}")))
            for i in range(3)]
    indexes = [m["Version"]["Index"] for m in made]
    await store.close()
    store = store_factory()  # a restart: the log is on disk
    events = store.watch(["service"], since=indexes[0])
    got = await take(events, 2)
    assert [(e.index, e.id) for e in got] == [(indexes[1], "s1"), (indexes[2], "s2")]
    assert await store.view(lambda tx: len(tx.list("service"))) == 3
    new = await store.update(lambda tx: tx.create("service", service("s9", "n9")))
    assert (await take(events, 1))[0].index == new["Version"]["Index"]
    await events.aclose()
    await store.close()


async def test_slow_watcher_loses_nothing(store_factory: StoreFactory) -> None:
    store = store_factory()
    events = store.watch(["task"], since=await store.view(lambda tx: tx.index))

    def many(tx):  # type: ignore[no-untyped-def]
        return [tx.create("task", {"ID": f"t{i}", "Spec": {}}) for i in range(600)]
    made = await store.update(many)  # more than one read batch
    got = await take(events, 600)
    assert [(e.index, e.id) for e in got] == [(t["Version"]["Index"], t["ID"]) for t in made]
    assert [t["ID"] for t in await store.view(lambda tx: tx.list("task"))] == \
        [f"t{i}" for i in range(600)]  # in creation order
    await events.aclose()
    await store.close()


async def test_watch_from_compacted_index_fails(backend: Backend) -> None:
    store = backend.open()
    made = [await store.update(lambda tx, i=i: tx.create("task", {"ID": f"t{i}", "Spec": {}}))
            for i in range(10)]
    indexes = [t["Version"]["Index"] for t in made]
    await backend.compact(store, indexes[5])  # the oldest kept is the sixth write
    with pytest.raises(Compacted):
        await anext(store.watch(["task"], since=indexes[1]))
    got = await take(store.watch(["task"], since=indexes[4]), 5)
    assert [e.index for e in got] == indexes[5:]
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


async def test_sqlite_reads_do_not_wait_for_a_write(tmp_path: Path) -> None:
    """Views and watchers read the last commit while a write is under way (its
    transaction open, or its commit syncing): they do not queue behind it."""
    store = SQLiteStore(tmp_path / "store.db")
    await store.update(lambda tx: tx.create("service", service("s1", "web")))
    inside, release = threading.Event(), threading.Event()

    def slow(tx):  # type: ignore[no-untyped-def]
        tx.create("service", service("s2", "db"))
        inside.set()
        release.wait(30)
    writing = asyncio.ensure_future(store.update(slow))
    events = store.watch(["service"], since=0)
    try:
        await asyncio.to_thread(inside.wait, 30)
        # hang guards (the old single lock made these wait for the write), not measures
        listed = await asyncio.wait_for(
            store.view(lambda tx: [s["ID"] for s in tx.list("service")]), 10)
        assert listed == ["s1"]
        assert [e.id for e in await take(events, 1)] == ["s1"]
    finally:
        release.set()
        await writing
    assert [e.id for e in await take(events, 1)] == ["s2"]
    assert await store.view(lambda tx: [s["ID"] for s in tx.list("service")]) == ["s1", "s2"]
    await events.aclose()
    await store.close()


async def test_sqlite_watcher_of_rare_kinds_reads_on_from_the_newest_event(
        tmp_path: Path) -> None:
    """A watcher woken by commits of other kinds reads on from where the log ended at its
    last read, not from its own last event: a node watcher does not rescan the tail of a
    busy cluster's task events after every commit."""
    store = SQLiteStore(tmp_path / "store.db")
    reads: list[int] = []
    read = store._read_events

    def counted(kinds: tuple[str, ...], after: int) -> object:
        reads.append(after)
        return read(kinds, after)
    store._read_events = counted  # type: ignore[assignment,method-assign]

    async def next_read(count: int) -> None:
        async def wait() -> None:
            while len(reads) < count:
                await asyncio.sleep(0.01)
        await asyncio.wait_for(wait(), 10)  # a hang guard

    first = await store.update(lambda tx: tx.create("node", {"ID": "n1", "Spec": {}}))
    events = store.watch(["node"], since=0)
    assert [e.id for e in await take(events, 1)] == ["n1"]
    pending = asyncio.ensure_future(anext(events))
    other = await store.update(lambda tx: tx.create("config", service("c0", "c0")))
    await next_read(2)  # woken by c0: none of its kinds
    await store.update(lambda tx: tx.create("config", service("c1", "c1")))
    await next_read(3)
    assert reads[2] == other["Version"]["Index"] > first["Version"]["Index"]
    await store.update(lambda tx: tx.create("node", {"ID": "n2", "Spec": {}}))
    assert (await asyncio.wait_for(pending, 10)).id == "n2"
    await events.aclose()
    await store.close()
