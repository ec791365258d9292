"""A worker's copy of the cluster state (``agent/mirror.py``): a snapshot then changes
from the manager, the agent's own writes (task status only, queued for the manager), a
task status that never goes back, and secrets sealed with the copy's own key."""

from __future__ import annotations

import asyncio
import base64

import pytest

from minke import errors
from minke.swarm.agent.mirror import MirrorStore
from minke.swarm.manager import tasks as t
from minke.swarm.manager.secrets import SEALED
from minke.swarm.store import Tx


def task(state: str, **extra: object) -> dict[str, object]:
    return {"ID": "t1", "ServiceID": "s1", "NodeID": "n1", "Slot": 1, "Spec": {},
            "DesiredState": t.RUNNING, "Status": {"State": state, "Message": state},
            "Version": {"Index": 99}, **extra}


async def test_snapshot_changes_and_reports() -> None:
    mirror = MirrorStore()
    try:
        snapshot = {"node": [{"ID": "n1", "Spec": {"Role": "worker"},
                              "Status": {"State": "ready"}, "Version": {"Index": 3}}],
                    "task": [task(t.ASSIGNED)],
                    "secret": [{"ID": "x1", "Spec": {"Name": "pw"},
                                "PlainData": base64.b64encode(b"hunter2").decode()}]}
        await mirror.load(snapshot)
        secret = await mirror.view(lambda tx: tx.get("secret", "x1"))
        assert secret is not None and "PlainData" not in secret
        assert mirror.key.open(secret[SEALED]) == b"hunter2"

        def run(tx: Tx) -> None:
            x = tx.get("task", "t1")
            assert x is not None
            t.set_state(x, t.RUNNING, "started")
            tx.update("task", x)
        await mirror.update(run)
        assert mirror.take_reports()["t1"]["State"] == t.RUNNING
        # The manager's older copy of the task does not take its status back...
        await mirror.apply([{"Kind": "task", "Action": "update",
                             "Object": task(t.ASSIGNED, DesiredState=t.SHUTDOWN)}])
        stored = await mirror.view(lambda tx: tx.get("task", "t1"))
        assert stored is not None
        assert (stored["Status"]["State"], stored["DesiredState"]) == (t.RUNNING, t.SHUTDOWN)
        # ...while a later state of the manager's (orphaned) wins.
        await mirror.apply([{"Kind": "task", "Action": "update", "Object": task(t.ORPHANED)}])
        stored = await mirror.view(lambda tx: tx.get("task", "t1"))
        assert stored is not None and stored["Status"]["State"] == t.ORPHANED
        # A new session's snapshot behind this copy: the further status goes out again.
        await mirror.load(snapshot)
        assert mirror.take_reports()["t1"]["State"] == t.ORPHANED
        # The agent may not write anything else.
        with pytest.raises(errors.Unavailable, match="not a swarm manager"):
            await mirror.update(lambda tx: tx.delete("node", "n1"))
        # A new snapshot replaces the copy: what it lacks is deleted (with its events).
        index = await mirror.view(lambda tx: tx.index)
        await mirror.load({"node": [], "task": []})
        events = []
        async with asyncio.timeout(5):
            async for event in mirror.watch(("task", "node", "secret"), since=index):
                events.append((event.kind, event.action))
                if len(events) == 3:
                    break
        assert sorted(events) == [("node", "delete"), ("secret", "delete"), ("task", "delete")]
        # Reports that did not get through go again, newer ones first.
        mirror.return_reports({"t1": {"State": t.RUNNING}})
        assert mirror.reported.is_set() and mirror.take_reports() == {
            "t1": {"State": t.RUNNING}}
    finally:
        await mirror.close()
