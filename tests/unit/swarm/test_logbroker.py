"""The leader's log broker: subscriptions go down a node's session queue, only that node
may publish for them, cancelling and the session's end close them."""

from __future__ import annotations

import asyncio

import pytest

from minke import errors
from minke.swarm.manager.logbroker import LOGS, LogBroker
from minke.swarm.rpc import Call, Identity


def caller(node_id: str) -> Call:
    return Call(Identity(node_id, "worker", "c1"), "198.18.0.9")


async def test_subscribe_publish_cancel() -> None:
    broker = LogBroker()
    assert broker.subscribe("n1", ["t1"], {"Follow": False}) is None  # no session: skipped
    outbox: asyncio.Queue[object] = asyncio.Queue()
    broker.attach("n1", outbox)
    sub = broker.subscribe("n1", ["t1"], {"Follow": True, "Tail": 1})
    assert sub is not None
    assert outbox.get_nowait() == {"Type": LOGS, "SubscriptionID": sub.id,
                                   "TaskIDs": ["t1"], "Follow": True, "Tail": 1}
    line = {"TaskID": "t1", "Stream": "stdout", "TimeNs": 1, "Data": "aGkK"}
    with pytest.raises(errors.NotFound):  # another node's subscription
        await broker.publish(caller("n2"), {"SubscriptionID": sub.id, "Messages": [line]})
    with pytest.raises(errors.InvalidParameter):
        await broker.publish(caller("n1"), {"SubscriptionID": sub.id, "Messages": "x"})
    await broker.publish(caller("n1"), {"SubscriptionID": sub.id, "Messages": [line],
                                        "Done": True})
    assert sub.queue.get_nowait() == {"Messages": [line], "Done": True, "Closed": False}
    broker.cancel(sub)
    assert outbox.get_nowait() == {"Type": LOGS, "SubscriptionID": sub.id, "Cancel": True}
    with pytest.raises(errors.NotFound):  # gone: the agent stops publishing
        await broker.publish(caller("n1"), {"SubscriptionID": sub.id, "Messages": []})


async def test_session_end_closes_its_subscriptions() -> None:
    broker = LogBroker()
    old: asyncio.Queue[object] = asyncio.Queue()
    broker.attach("n1", old)
    sub = broker.subscribe("n1", ["t1"], {})
    assert sub is not None
    broker.detach("n1", asyncio.Queue())  # another session's end: nothing changes
    assert sub.queue.empty()
    broker.detach("n1", old)
    assert sub.queue.get_nowait() == {"Messages": [], "Done": True, "Closed": True}
    assert broker.subscribe("n1", ["t1"], {}) is None
