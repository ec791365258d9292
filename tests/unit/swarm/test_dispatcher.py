"""The dispatcher on a real SQLite store, its RPC methods called directly: a session's
snapshot and changes (the secrets a node's tasks need, opened, and nothing of the
cluster's keys), task reports (forward only, the caller's tasks only), and a node that
stops heartbeating: Down, its tasks ORPHANED and replaced at once by the orchestrator
despite a restart delay."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import pytest

from minke import errors
from minke.swarm.ca import DataKey, RootCA
from minke.swarm.manager import dispatcher as d
from minke.swarm.manager import tasks as t
from minke.swarm.manager.controlapi import ControlAPI
from minke.swarm.manager.orchestrator import Orchestrator
from minke.swarm.manager.scheduler import Scheduler
from minke.swarm.manager.secrets import SEALED, SECRET
from minke.swarm.manager.services import ServiceControl
from minke.swarm.manager.spec import merge_init_spec
from minke.swarm.rpc import Call, Identity
from minke.swarm.store import SQLiteStore, Tx

SECOND = 1_000_000_000
LEADER, WORKER, OTHER = "leader" + "0" * 19, "worker" + "0" * 19, "other0" + "0" * 19


def node(node_id: str, role: str) -> dict[str, object]:
    return {"ID": node_id, "Spec": {"Role": role, "Availability": "active", "Labels": {}},
            "Description": {"Hostname": node_id[:6], "Resources": {
                "NanoCPUs": 2 * SECOND, "MemoryBytes": 1 << 30}},
            "Status": {"State": "ready", "Addr": "198.18.0.9"}}


async def setup(tmp_path: Path) -> tuple[SQLiteStore, ControlAPI]:
    store = SQLiteStore(tmp_path / "store.db")
    key = DataKey.generate()
    spec = merge_init_spec({"Dispatcher": {"HeartbeatPeriod": SECOND // 10}}, False)
    cluster = ControlAPI.new_cluster(key, cluster_id="c1", spec=spec, root=RootCA.create(),
                                     unlock_key=None)

    def seed(tx: Tx) -> None:
        tx.create("cluster", cluster)
        for node_id, role in ((LEADER, "manager"), (WORKER, "worker"), (OTHER, "worker")):
            tx.create("node", node(node_id, role))
        tx.create(SECRET, {"ID": "s1", "Spec": {"Name": "pw", "Labels": {}},
                           SEALED: key.seal(b"hunter2")})
    await store.update(seed)
    return store, ControlAPI(store, key)


def caller(node_id: str) -> Call:
    return Call(Identity(node_id, "worker", "c1"), "198.18.0.9")


async def test_session_reports_and_node_down(tmp_path: Path) -> None:
    store, control = await setup(tmp_path)
    dispatcher = d.Dispatcher(control, LEADER)
    await dispatcher.start()
    services = ServiceControl(store)
    try:
        await services.create({
            "Name": "web", "Mode": {"Replicated": {"Replicas": 1}},
            "TaskTemplate": {"ContainerSpec": {"Image": "busybox", "Secrets": [
                {"SecretID": "s1", "SecretName": "pw", "File": {
                    "Name": "pw", "UID": "0", "GID": "0", "Mode": 0o444}}]},
                "Placement": {"Constraints": [f"node.id=={WORKER}"]},
                "RestartPolicy": {"Condition": "any", "Delay": 5 * SECOND}}})
        for _ in range(2):
            await Orchestrator(store).reconcile()
            await Scheduler(store).reconcile()
        [task] = await store.view(lambda tx: tx.list("task"))
        assert task["NodeID"] == WORKER

        stream = dispatcher.session(caller(WORKER), {"Description": {"Hostname": "w"}})
        first = await anext(stream)  # type: ignore[arg-type]
        assert first["Type"] == "snapshot"
        objects = first["Objects"]
        assert set(objects["cluster"][0]["RootCA"]) == {"CACert", "Digest"}
        assert [base64.b64decode(s["PlainData"]) for s in objects["secret"]] == [b"hunter2"]
        assert SEALED not in objects["secret"][0]
        assert {n["ID"] for n in objects["node"]} == {LEADER, WORKER, OTHER}

        # Reports: forward only, and only for the caller's own tasks.
        def status(state: str) -> dict[str, object]:
            return {"Updates": [{"TaskID": task["ID"], "Status": {"State": state,
                                                                 "Message": state}}]}
        with pytest.raises(errors.NotFound, match="session invalid"):
            await dispatcher.update_task_status(caller(OTHER), status(t.RUNNING))
        await dispatcher.update_task_status(caller(WORKER), status(t.RUNNING))
        await dispatcher.update_task_status(caller(WORKER), status(t.PREPARING))
        stored = await store.view(lambda tx: tx.get("task", task["ID"]))
        assert stored is not None and stored["Status"]["State"] == t.RUNNING
        change = await asyncio.wait_for(anext(stream), 5)  # type: ignore[arg-type]
        assert change["Type"] == "changes"
        assert any(c["Kind"] == "task" for c in change["Changes"])

        # No heartbeat: Down after 3 periods (0.3 s), its task orphaned...
        await asyncio.sleep(0.6)
        worker = await store.view(lambda tx: tx.get("node", WORKER))
        assert worker is not None and worker["Status"]["State"] == "down"
        stored = await store.view(lambda tx: tx.get("task", task["ID"]))
        assert stored is not None and stored["Status"]["State"] == t.ORPHANED
        with pytest.raises(errors.NotFound, match="session invalid"):
            await dispatcher.heartbeat(caller(WORKER), {"SessionID": first["SessionID"]})
        # ...and replaced at once, though the service asks a 5 s restart delay.
        await Orchestrator(store).reconcile()
        tasks = await store.view(lambda tx: tx.list("task"))
        [new] = [x for x in tasks if x["ID"] != task["ID"]]
        assert new["DesiredState"] == t.RUNNING and new["Slot"] == task["Slot"]
        assert "_start_at" not in new
        await stream.aclose()  # type: ignore[attr-defined]
    finally:
        await dispatcher.stop()
        await store.close()


async def test_node_down_orphans_only_tasks_that_may_still_run(tmp_path: Path) -> None:
    """A node found Down orphans its tasks between assigned and running (nobody knows if
    they still run); a task that ended (a job's COMPLETE, a FAILED one) keeps its
    state."""
    store, _control = await setup(tmp_path)
    states = (t.ASSIGNED, t.RUNNING, t.COMPLETE, t.FAILED, t.SHUTDOWN)

    def seed(tx: Tx) -> None:
        for state in states:
            tx.create("task", {"ID": f"task-{state}", "ServiceID": "s", "NodeID": WORKER,
                               "DesiredState": t.COMPLETE, "Status": {"State": state}})
    await store.update(seed)
    assert await store.update(lambda tx: d.mark_down(tx, WORKER, "heartbeat failure")) == 2
    after = await store.view(lambda tx: {x["ID"]: x["Status"]["State"]
                                         for x in tx.list("task")})
    assert after == {"task-assigned": t.ORPHANED, "task-running": t.ORPHANED,
                     "task-complete": t.COMPLETE, "task-failed": t.FAILED,
                     "task-shutdown": t.SHUTDOWN}
    # Down again (a second heartbeat failure): nothing more changes.
    assert await store.update(lambda tx: d.mark_down(tx, WORKER, "heartbeat failure")) == 0
    await store.close()
