"""The cluster store's interface: typed objects, read views, transactions with optimistic
concurrency, and a watch that never misses or repeats an event.

Vocabulary (SwarmKit's ``manager/state/store``):

- An *object* is a Docker API-shaped dict of one *kind* (``KINDS``) with ``ID``,
  ``Version.Index``, ``CreatedAt``, ``UpdatedAt`` and ``Spec``; the store sets the last three.
- The *index* is one store-wide counter: every write (create, update, delete) takes a value
  above every earlier one, which becomes the object's ``Version.Index`` and the index of the
  event it publishes. SQLite gives each write of a transaction its own value; etcd gives all
  writes of a transaction its revision, so they share one (a watcher resuming from an index
  has seen every event of that index: events of one transaction arrive together).
- A *view* (``ReadTx``) sees one consistent snapshot and the index it reflects (``tx.index``).
- A *transaction* (``Tx``) reads and writes; it commits as a whole or not at all. An update
  carries the ``Version.Index`` the caller read; a different stored one means someone wrote
  in between, and the update fails with ``SequenceConflict`` ("update out of sequence").
- ``watch(kinds, since=index)`` yields every event of those kinds with an index above
  ``since``, in order, once each, and then the live ones; a watcher resumes where it left off
  by passing the last index it saw. ``view`` then ``watch(since=tx.index)`` is SwarmKit's
  ``ViewAndWatch``: a snapshot and exactly the changes after it. The event log is bounded;
  resuming from below its start raises ``Compacted`` (etcd's "required revision has been
  compacted"), and the watcher must read a fresh view.

Transactions and views take plain functions (``store.update(lambda tx: ...)``) and run them
off the event loop; they must not await, and must have no effect outside ``tx``: a store with
several writers (etcd) runs the function again when another writer changed what it read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from minke import errors

Obj = dict[str, Any]
T = TypeVar("T")

KINDS = ("cluster", "node", "service", "task", "network", "secret", "config")
# Kinds whose Spec.Name is unique (case-insensitively, as SwarmKit indexes names).
NAMED_KINDS = frozenset({"cluster", "service", "network", "secret", "config"})

CREATE, UPDATE, DELETE = "create", "update", "delete"


class SequenceConflict(errors.Conflict):
    """The object changed since the caller read it (a stale ``Version.Index``)."""

    def __init__(self) -> None:
        super().__init__("update out of sequence")


class NameConflict(errors.Conflict):
    """Another object of the kind has the same ``Spec.Name``."""

    def __init__(self, kind: str, name: str) -> None:
        super().__init__(f"{kind} name conflicts with an existing object: {name}")


class Compacted(errors.Conflict):
    """A watch asked to resume from an index older than the retained event log."""

    def __init__(self, since: int, oldest: int) -> None:
        super().__init__(f"required index {since} has been compacted (oldest kept: {oldest})")


class NotLeader(errors.Unavailable):
    """A write of the leader's reconcilers after this manager lost the leadership."""

    def __init__(self) -> None:
        super().__init__("this manager is no longer the swarm leader")


@dataclass(frozen=True)
class Event:
    """One write: ``object`` is the object after it (for a delete, as it was); ``old`` is the
    object before an update or delete, None for a create."""

    index: int
    kind: str
    action: str  # CREATE, UPDATE or DELETE
    id: str
    object: Obj
    old: Obj | None


class ReadTx(Protocol):
    """A consistent snapshot of the store."""

    @property
    def index(self) -> int:
        """The store index this snapshot reflects (0 for an empty store)."""

    def get(self, kind: str, id: str) -> Obj | None:
        """The object of ``kind`` with ``id``, or None; a copy the caller may change."""

    def list(self, kind: str) -> list[Obj]:
        """Every object of ``kind``, ordered by creation."""

    def find(self, kind: str, *, name: str | None = None, service_id: str | None = None,
             node_id: str | None = None) -> list[Obj]:
        """Objects of ``kind`` by indexed field: ``Spec.Name`` (case-insensitive),
        ``ServiceID``, ``NodeID`` (tasks); all given must match."""


class Tx(ReadTx, Protocol):
    """A read-write transaction; the snapshot includes its own writes."""

    def create(self, kind: str, obj: Obj) -> Obj:
        """Store a new object (its ``ID`` set by the caller) and return it with ``Version``,
        ``CreatedAt`` and ``UpdatedAt`` set. ``errors.Conflict`` if the ID exists,
        ``NameConflict`` if a named kind's ``Spec.Name`` is taken."""

    def update(self, kind: str, obj: Obj) -> Obj:
        """Replace the stored object with ``obj``, whose ``Version.Index`` must be the stored
        one (else ``SequenceConflict``); returns it with the new ``Version`` and
        ``UpdatedAt``. ``errors.NotFound`` if it is gone, ``NameConflict`` as for create."""

    def delete(self, kind: str, id: str) -> Obj:
        """Remove the object and return it as it was; ``errors.NotFound`` if absent."""


class Store(Protocol):
    """The cluster store (see the module docstring for the model)."""

    async def view(self, fn: Callable[[ReadTx], T]) -> T:
        """Run ``fn`` on a consistent snapshot and return what it returns."""

    async def update(self, fn: Callable[[Tx], T]) -> T:
        """Run ``fn`` in a write transaction: if it returns, every write commits together
        and their events are published; if it raises, nothing is written."""

    def watch(self, kinds: Iterable[str], since: int | None = None) -> AsyncIterator[Event]:
        """Events of ``kinds`` with an index above ``since`` (default: the current index),
        then live ones, until the store closes. ``Compacted`` if ``since`` is too old."""

    async def close(self) -> None:
        """Release the store; open watches end."""


def check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise errors.InvalidParameter(f"unknown object kind {kind!r}")


def require_writable(writable: bool) -> None:
    if not writable:
        raise errors.InternalError("write in a read-only view of the store")


def check_write(kind: str, obj: Obj, writable: bool) -> None:
    """What every create and update checks first: the kind, a writable transaction, an ID."""
    check_kind(kind)
    require_writable(writable)
    if not isinstance(obj.get("ID"), str) or not obj["ID"]:
        raise errors.InvalidParameter(f"{kind} object without an ID")


def spec_name(obj: Obj) -> str | None:
    """The name a named kind is unique by (lower case), or None."""
    name = (obj.get("Spec") or {}).get("Name")
    return name.lower() if isinstance(name, str) and name else None
