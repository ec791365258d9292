"""The leader's log broker (SwarmKit's ``manager/logbroker``): ``service logs`` of tasks
on other nodes.

Workers serve no RPC, so a subscription travels down the node's dispatcher session (a
``logs`` message: the task IDs and ``follow``/``tail``/``since``) and the node's agent
(``agent/logpublisher.py``) answers by calling ``PublishLogs`` with batches of lines for
that subscription ID: first the lines already logged, then ``Done``; with ``follow`` the
new lines until its containers stop, then ``Closed``. Cancelling a subscription (the
client went away) sends a ``Cancel`` down the session; a publish for a subscription that
is gone is refused, which also stops the agent. Managers that do not lead reach it through
the leader's ``SubscribeLogs`` (``logrelay.py``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from minke import errors
from minke.swarm.ids import new_id
from minke.swarm.rpc import NODE, Call, Method
from minke.swarm.store import Obj

PUBLISH_LOGS = "/minke.swarm.LogBroker/PublishLogs"
LOGS = "logs"  # the session message's Type


def batch(messages: list[Obj], *, done: bool = False, closed: bool = False) -> Obj:
    """One batch of a subscription's lines, as publishers send them and readers take
    them from a subscription's queue (here, and in ``logrelay``'s feeds)."""
    return {"Messages": messages, "Done": done, "Closed": closed}


CLOSED = batch([], done=True, closed=True)  # the last batch of a subscription


@dataclass
class Subscription:
    id: str
    node_id: str
    # what the agent publishes: {"Messages": [...], "Done": bool, "Closed": bool}
    queue: asyncio.Queue[Obj] = field(default_factory=asyncio.Queue)


class LogBroker:
    def __init__(self) -> None:
        self._outboxes: dict[str, asyncio.Queue[Any]] = {}  # node ID → its session's queue
        self._subs: dict[str, Subscription] = {}

    def methods(self) -> list[Method]:
        return [Method(PUBLISH_LOGS, self.publish, NODE)]

    # -- the dispatcher's side ----------------------------------------------------------

    def attach(self, node_id: str, outbox: asyncio.Queue[Any]) -> None:
        """``node_id``'s session is open: what is put in ``outbox`` goes down it."""
        self._outboxes[node_id] = outbox

    def detach(self, node_id: str, outbox: asyncio.Queue[Any]) -> None:
        """The session ended: its subscriptions end too (their agent stopped them)."""
        if self._outboxes.get(node_id) is outbox:
            del self._outboxes[node_id]
            for sub in [s for s in self._subs.values() if s.node_id == node_id]:
                self._subs.pop(sub.id, None)
                sub.queue.put_nowait(CLOSED)

    # -- the API's side -----------------------------------------------------------------

    def subscribe(self, node_id: str, task_ids: list[str], options: Obj
                  ) -> Subscription | None:
        """Ask ``node_id`` for the logs of ``task_ids`` (``Follow``, ``Tail``, ``Since``);
        None when the node has no session with this manager (down, or not a worker)."""
        outbox = self._outboxes.get(node_id)
        if outbox is None:
            return None
        sub = Subscription(new_id(), node_id)
        self._subs[sub.id] = sub
        outbox.put_nowait({"Type": LOGS, "SubscriptionID": sub.id, "TaskIDs": task_ids,
                           **options})
        return sub

    def cancel(self, sub: Subscription) -> None:
        if self._subs.pop(sub.id, None) is None:
            return
        outbox = self._outboxes.get(sub.node_id)
        if outbox is not None:
            outbox.put_nowait({"Type": LOGS, "SubscriptionID": sub.id, "Cancel": True})

    # -- the agents' side ---------------------------------------------------------------

    async def publish(self, call: Call, request: Any) -> Obj:
        request = request or {}
        sub = self._subs.get(str(request.get("SubscriptionID") or ""))
        if sub is None or sub.node_id != call.identity.node_id:
            raise errors.NotFound("log subscription not found")
        messages = request.get("Messages") or []
        if not isinstance(messages, list):
            raise errors.InvalidParameter("invalid Messages: a list is expected")
        sub.queue.put_nowait(batch(messages, done=bool(request.get("Done")),
                                   closed=bool(request.get("Closed"))))
        if request.get("Closed"):
            self._subs.pop(sub.id, None)
        return {}
