"""What only the etcd store has: several writers (managers) on one key space, start-up
checks of the prefix, TLS, and the member minke runs itself. The shared behaviour is in
``test_store.py``."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from tests.support.certs import make_ca, write_leaf
from tests.support.etcd import Etcd, free_port, start_cluster

from minke import errors
from minke.swarm.store.etcd import SCHEMA_VERSION, EtcdStore, StoreMismatch
from minke.swarm.store.etcdconn import EtcdConfig
from minke.swarm.store.etcdserver import EtcdServer

pytestmark = pytest.mark.integration


async def test_two_managers_lose_no_update(etcd: Etcd) -> None:
    """Read-modify-write from two stores at once: every increment lands (the loser of
    each race runs its function again on the new value)."""
    config = etcd.config()
    a, b = EtcdStore(config), EtcdStore(config)
    await a.update(lambda tx: tx.create("node", {"ID": "n1", "Spec": {"x": 0}}))

    def bump(tx):  # type: ignore[no-untyped-def]
        node = tx.get("node", "n1")
        node["Spec"]["x"] += 1
        tx.update("node", node)

    async def many(store: EtcdStore) -> None:
        for _ in range(15):
            await store.update(bump)
    await asyncio.gather(many(a), many(b))
    assert (await b.view(lambda tx: tx.get("node", "n1")))["Spec"]["x"] == 30
    await a.close()
    await b.close()


async def test_a_listing_transaction_sees_no_phantom(etcd: Etcd) -> None:
    """"Create a task for slot 1 unless the list has one" from two managers at once: the
    second one's list is stale when it commits, so it runs again and creates nothing."""
    config = etcd.config()
    stores = [EtcdStore(config) for _ in range(3)]

    def fill(id_: str):  # type: ignore[no-untyped-def]
        def fn(tx):  # type: ignore[no-untyped-def]
            if not tx.find("task", service_id="s1"):
                tx.create("task", {"ID": id_, "ServiceID": "s1", "Spec": {}})
        return fn
    await asyncio.gather(*(s.update(fill(f"t{i}")) for i, s in enumerate(stores)))
    assert len(await stores[0].view(lambda tx: tx.list("task"))) == 1
    for store in stores:
        await store.close()


async def test_unanswering_endpoint_is_a_clear_error() -> None:
    store = EtcdStore(EtcdConfig.parse(f"etcd://127.0.0.1:{free_port()}/x"), timeout=2)
    with pytest.raises(errors.Unavailable, match="does not answer"):
        await store.view(lambda tx: tx.index)
    await store.close()


async def test_prefix_checks_refuse_and_overwrite_nothing(etcd: Etcd) -> None:
    config = etcd.config()
    store = EtcdStore(config)
    await store.update(lambda tx: tx.create("cluster", {"ID": "c1", "Spec": {"Name": "d"}}))
    # another cluster's node opening the prefix
    other = EtcdStore(config, cluster_id="c2")
    with pytest.raises(StoreMismatch, match="holds the data of cluster c1"):
        await other.view(lambda tx: tx.list("cluster"))
    await other.close()
    # swarm init of another cluster on the same prefix
    with pytest.raises(StoreMismatch, match="another cluster"):
        await store.update(lambda tx: tx.create("cluster", {"ID": "c2", "Spec": {"Name": "e"}}))
    # a schema written by a newer minke
    schema = store.keys.schema
    await store.client.put(schema, b"99")
    newer = EtcdStore(config)
    with pytest.raises(StoreMismatch, match="schema version 99"):
        await newer.update(lambda tx: tx.create("node", {"ID": "n1", "Spec": {}}))
    await newer.close()
    await store.client.put(schema, str(SCHEMA_VERSION).encode())
    assert [c["ID"] for c in await store.view(lambda tx: tx.list("cluster"))] == ["c1"]
    assert await store.view(lambda tx: tx.list("node")) == []
    # keys minke did not write
    foreign = etcd.config()
    await store.client.put(foreign.prefix.encode() + b"app/setting", b"1")
    stranger = EtcdStore(foreign)
    with pytest.raises(StoreMismatch, match="keys minke did not write"):
        await stranger.update(lambda tx: tx.create("node", {"ID": "n1", "Spec": {}}))
    assert (await store.client.get(foreign.prefix.encode() + b"meta/schema")) is None
    await stranger.close()
    await store.close()


def test_config_errors_name_the_setting(tmp_path: Path) -> None:
    with pytest.raises(errors.InvalidParameter, match="cluster-store: 'http://h:1'"):
        EtcdConfig.parse("http://h:1")
    with pytest.raises(errors.InvalidParameter, match="bad endpoint 'h:x'"):
        EtcdConfig.parse("etcd://h:x")
    with pytest.raises(errors.InvalidParameter, match="cluster-store-cacert"):
        EtcdConfig.parse("etcd://h:1", cacert=tmp_path / "nope.pem")
    (tmp_path / "c.pem").write_text("x")
    with pytest.raises(errors.InvalidParameter, match="give both or neither"):
        EtcdConfig.parse("etcd://h:1", cacert=tmp_path / "c.pem", cert=tmp_path / "c.pem")
    config = EtcdConfig.parse("etcd://10.0.0.1:2379,h2,[::1]:23/a/b")
    assert config.endpoints == (("10.0.0.1", 2379), ("h2", 2379), ("::1", 23))
    assert (config.prefix, config.url) == ("/a/b/", "etcd://10.0.0.1:2379,h2:2379,[::1]:23/a/b")


async def test_tls_member_takes_its_ca_and_refuses_strangers(tmp_path: Path) -> None:
    ca = make_ca("etcd CA")
    server_dir = write_leaf(ca, tmp_path / "server", server=True)
    client_dir = write_leaf(ca, tmp_path / "client", server=False)
    stranger_dir = write_leaf(make_ca("other CA"), tmp_path / "stranger", server=False)
    port = free_port()
    server = EtcdServer(tmp_path / "etcd", client_url=f"https://127.0.0.1:{port}",
                        peer_url=f"http://127.0.0.1:{free_port()}", cacert=server_dir / "ca.pem",
                        cert=server_dir / "cert.pem", key=server_dir / "key.pem",
                        client_cert=client_dir / "cert.pem", client_key=client_dir / "key.pem")
    server.start()
    try:
        def config(d: Path) -> EtcdConfig:
            return EtcdConfig.parse(f"etcd://127.0.0.1:{port}/tls", cacert=server_dir / "ca.pem",
                                    cert=d / "cert.pem", key=d / "key.pem")
        good = EtcdStore(config(client_dir))
        await good.update(lambda tx: tx.create("node", {"ID": "n1", "Spec": {}}))
        assert len(await good.view(lambda tx: tx.list("node"))) == 1
        await good.close()
        bad = EtcdStore(config(stranger_dir), timeout=3)
        with pytest.raises(errors.Unavailable, match="does not answer"):
            await bad.view(lambda tx: tx.list("node"))
        await bad.close()
    finally:
        server.stop()
    assert server.running_pid() is None and not server.pid_file.exists()


async def test_only_the_last_manager_erases_the_swarm(etcd: Etcd) -> None:
    store = EtcdStore(etcd.config())

    def nodes(tx):  # type: ignore[no-untyped-def]
        tx.create("cluster", {"ID": "c1", "Spec": {"Name": "default"}})
        for id_ in ("m1", "m2"):
            tx.create("node", {"ID": id_, "Spec": {"Role": "manager"}})
    await store.update(nodes)
    assert not await store.erase_if_last_manager("m1")  # m2 manages on
    await store.update(lambda tx: tx.delete("node", "m2"))
    assert await store.erase_if_last_manager("m1")
    assert (await store.client.get_prefix(store.keys.prefix)).count == 0
    await store.close()


async def test_returned_objects_carry_the_commit_revision(etcd: Etcd) -> None:
    """Another writer commits while a transaction runs: the objects it returns carry the
    revision etcd gave its commit, not the one predicted from its snapshot."""
    mine, other = EtcdStore(etcd.config()), EtcdStore(etcd.config())
    await other.update(lambda tx: tx.create("node", {"ID": "n0", "Spec": {}}))
    started, go = threading.Event(), threading.Event()

    def slow(tx):  # type: ignore[no-untyped-def]
        made = tx.create("node", {"ID": "n1", "Spec": {}})
        started.set()
        go.wait(5)
        return {"made": made}
    pending = asyncio.ensure_future(mine.update(slow))
    assert await asyncio.to_thread(started.wait, 5)
    await other.update(lambda tx: tx.create("node", {"ID": "n2", "Spec": {}}))
    go.set()
    made = (await pending)["made"]
    assert made == await mine.view(lambda tx: tx.get("node", "n1"))
    await mine.close()
    await other.close()


async def test_managers_starting_together_on_an_empty_prefix_all_start(etcd: Etcd) -> None:
    config = etcd.config()
    stores = [EtcdStore(config) for _ in range(5)]

    async def start(i: int, store: EtcdStore) -> None:
        await store.ready()
        await store.client.put(store.keys.managers + f"m{i}".encode(), b"")  # as sessions do
    await asyncio.gather(*(start(i, s) for i, s in enumerate(stores)))
    for store in stores:
        await store.close()


async def test_quorum_loss_refuses_writes_clearly_and_reads_go_on(tmp_path: Path) -> None:
    """Three members: one down changes nothing; two down, writes fail with a clear 503
    and reads answer the last state; a member back, writes work again."""
    members = start_cluster(tmp_path, 3)
    try:
        hosts = ",".join(m.endpoint for m in members)
        store = EtcdStore(EtcdConfig.parse(f"etcd://{hosts}/q"), timeout=3)
        await store.update(lambda tx: tx.create("node", {"ID": "n1", "Spec": {}}))
        members[0].server.kill()  # the member the client talks to first
        await store.update(lambda tx: tx.create("node", {"ID": "n2", "Spec": {}}))
        members[1].server.kill()
        refused = []
        while not any("no quorum" in str(e) for e in refused) and len(refused) < 5:
            with pytest.raises(errors.Unavailable) as failed:  # first maybe "does not answer"
                await store.update(lambda tx: tx.create("node", {"ID": "n3", "Spec": {}}))
            refused.append(failed.value)
        assert "no quorum" in str(refused[-1])
        assert [n["ID"] for n in await store.view(lambda tx: tx.list("node"))] == ["n1", "n2"]
        members[1].server.spawn()
        members[1].server.wait_ready()
        for _ in range(20):  # the client finds the member again
            try:
                await store.update(lambda tx: tx.create("node", {"ID": "n3", "Spec": {}}))
                break
            except errors.Unavailable:
                await asyncio.sleep(0.25)
        assert len(await store.view(lambda tx: tx.list("node"))) == 3
        await store.close()
    finally:
        for member in members:
            member.server.stop()
