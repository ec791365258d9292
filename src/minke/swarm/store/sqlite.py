"""The embedded cluster store on SQLite: one file, WAL, one writer (a single manager).

Objects are JSON documents in one table keyed by (kind, id), with the fields looked up by
(lower-case ``Spec.Name``, ``ServiceID``, ``NodeID``) as indexed columns. Every write
appends a row to the event log in the same SQLite transaction, so the log and the objects
never disagree, even after a SIGKILL; watchers read the log, which is why a slow watcher
can never miss an event (nothing is dropped from a queue) and a restarted one resumes from
its last index. The log keeps the last ``EVENT_RETENTION`` events.

Statements run in a worker thread (``asyncio.to_thread``), so the event loop only waits
for the hop; ``synchronous=FULL`` makes each commit durable before ``update`` returns.
Writes run on one connection under one lock; views and the watchers' reads of the log on a
second connection under another (WAL lets readers read the last commit while a writer
writes), so they never queue behind a write and its fsync. An in-memory store (the agent's
mirror) has one connection for both.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any

from minke import errors
from minke.swarm.store.store import (
    CREATE,
    DELETE,
    NAMED_KINDS,
    UPDATE,
    Compacted,
    Event,
    NameConflict,
    Obj,
    ReadTx,
    SequenceConflict,
    Store,
    T,
    Tx,
    check_kind,
    check_write,
    require_writable,
    spec_name,
)
from minke.units import rfc3339

EVENT_RETENTION = 10_000  # events kept for watchers resuming from an index
WATCH_BATCH = 256  # events read from the log per query while a watcher catches up

SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT,                      -- lower-case Spec.Name, unique per named kind
    service_id TEXT,
    node_id TEXT,
    version INTEGER NOT NULL,       -- Version.Index: the index of its last write
    doc TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE UNIQUE INDEX IF NOT EXISTS objects_name ON objects (kind, name) WHERE name IS NOT NULL;
CREATE INDEX IF NOT EXISTS objects_service ON objects (kind, service_id);
CREATE INDEX IF NOT EXISTS objects_node ON objects (kind, node_id);
CREATE TABLE IF NOT EXISTS events (
    idx INTEGER PRIMARY KEY,        -- the store index of the write
    kind TEXT NOT NULL,
    action TEXT NOT NULL,
    id TEXT NOT NULL,
    doc TEXT NOT NULL,
    old TEXT
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL          -- 'index': the store-wide counter
);
INSERT OR IGNORE INTO meta (key, value) VALUES ('index', 0);
"""


class _SQLiteTx(Tx):
    """A view or transaction on the connection; writes are refused in a view."""

    def __init__(self, db: sqlite3.Connection, *, writable: bool) -> None:
        self._db = db
        self._writable = writable
        self._index = int(db.execute("SELECT value FROM meta WHERE key='index'").fetchone()[0])
        self.events: list[Event] = []

    @property
    def index(self) -> int:
        return self._index

    def get(self, kind: str, id: str) -> Obj | None:
        check_kind(kind)
        doc = self._doc(kind, id)
        return json.loads(doc) if doc is not None else None

    def _doc(self, kind: str, id: str) -> str | None:
        """The stored JSON text: writes reuse it rather than encode the object again."""
        row = self._db.execute("SELECT doc FROM objects WHERE kind=? AND id=?",
                               (kind, id)).fetchone()
        return row[0] if row else None

    def list(self, kind: str) -> list[Obj]:
        check_kind(kind)
        rows = self._db.execute("SELECT doc FROM objects WHERE kind=? ORDER BY rowid", (kind,))
        return [json.loads(r[0]) for r in rows]

    def find(self, kind: str, *, name: str | None = None, service_id: str | None = None,
             node_id: str | None = None) -> list[Obj]:
        check_kind(kind)
        where, params = ["kind=?"], [kind]
        for column, value in (("name", name.lower() if name else name),
                              ("service_id", service_id), ("node_id", node_id)):
            if value is not None:
                where.append(f"{column}=?")
                params.append(value)
        rows = self._db.execute(
            f"SELECT doc FROM objects WHERE {' AND '.join(where)} ORDER BY rowid", params)
        return [json.loads(r[0]) for r in rows]

    def create(self, kind: str, obj: Obj) -> Obj:
        self._check_write(kind, obj)
        if self._doc(kind, obj["ID"]) is not None:
            raise errors.Conflict(f"{kind} {obj['ID']} already exists")
        index = self._next_index()
        now = _now()
        stored = _with_meta(obj, index, now, now)
        doc = self._write(kind, stored, insert=True)
        self._log(Event(index, kind, CREATE, stored["ID"], stored, None), doc, None)
        return json.loads(doc)  # the caller's copy

    def update(self, kind: str, obj: Obj) -> Obj:
        self._check_write(kind, obj)
        old_doc = self._doc(kind, obj["ID"])
        if old_doc is None:
            raise errors.NotFound(f"{kind} {obj['ID']} not found")
        old = json.loads(old_doc)
        if (obj.get("Version") or {}).get("Index") != old["Version"]["Index"]:
            raise SequenceConflict()
        index = self._next_index()
        stored = _with_meta(obj, index, old["CreatedAt"], _now())
        doc = self._write(kind, stored, insert=False)
        self._log(Event(index, kind, UPDATE, stored["ID"], stored, old), doc, old_doc)
        return json.loads(doc)

    def delete(self, kind: str, id: str) -> Obj:
        check_kind(kind)
        self._require_writable()
        old_doc = self._doc(kind, id)
        if old_doc is None:
            raise errors.NotFound(f"{kind} {id} not found")
        old = json.loads(old_doc)
        self._db.execute("DELETE FROM objects WHERE kind=? AND id=?", (kind, id))
        self._log(Event(self._next_index(), kind, DELETE, id, old, old), old_doc, old_doc)
        return old

    def _check_write(self, kind: str, obj: Obj) -> None:
        check_write(kind, obj, self._writable)

    def _require_writable(self) -> None:
        require_writable(self._writable)

    def _next_index(self) -> int:
        self._index += 1
        return self._index

    def _write(self, kind: str, obj: Obj, *, insert: bool) -> str:
        """Store ``obj``; returns its JSON text."""
        name = spec_name(obj) if kind in NAMED_KINDS else None
        doc = json.dumps(obj)
        row = (name, obj.get("ServiceID") or None, obj.get("NodeID") or None,
               obj["Version"]["Index"], doc, kind, obj["ID"])
        try:
            if insert:
                self._db.execute("INSERT INTO objects (name, service_id, node_id, version, doc,"
                                 " kind, id) VALUES (?, ?, ?, ?, ?, ?, ?)", row)
            else:
                self._db.execute("UPDATE objects SET name=?, service_id=?, node_id=?, version=?,"
                                 " doc=? WHERE kind=? AND id=?", row)
        except sqlite3.IntegrityError as exc:
            raise NameConflict(kind, obj["Spec"]["Name"]) from exc
        return doc

    def _log(self, event: Event, doc: str, old: str | None) -> None:
        """Append ``event`` to the log with the JSON texts of its objects."""
        self._db.execute(
            "INSERT INTO events (idx, kind, action, id, doc, old) VALUES (?, ?, ?, ?, ?, ?)",
            (event.index, event.kind, event.action, event.id, doc, old))
        self.events.append(event)

    def finish(self) -> None:
        """Record the counter and trim the log; called inside the SQLite transaction."""
        if not self.events:
            return
        self._db.execute("UPDATE meta SET value=? WHERE key='index'", (self._index,))
        self._db.execute("DELETE FROM events WHERE idx <= ?", (self._index - EVENT_RETENTION,))


def _now() -> str:
    """Now as Go marshals a ``time.Time`` (RFC 3339, trailing zeros of the fraction
    dropped), as dockerd shows swarm objects' times."""
    whole, _, fraction = rfc3339().removesuffix("Z").partition(".")
    fraction = fraction.rstrip("0")
    return f"{whole}.{fraction}Z" if fraction else f"{whole}Z"


def _with_meta(obj: Obj, index: int, created: str, updated: str) -> Obj:
    """``obj`` with the store's fields, in Docker's key order (ID, Version, CreatedAt,
    UpdatedAt, then the rest)."""
    meta = ("ID", "Version", "CreatedAt", "UpdatedAt")
    return {"ID": obj["ID"], "Version": {"Index": index}, "CreatedAt": created,
            "UpdatedAt": updated, **{k: v for k, v in obj.items() if k not in meta}}


class SQLiteStore(Store):
    """The ``Store`` on one SQLite file (created if missing)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        self._reader, self._read_lock = self._db, self._lock
        if str(path) != ":memory:":
            self._reader = sqlite3.connect(path, check_same_thread=False,
                                           isolation_level=None)
            self._read_lock = threading.Lock()
        self._closed = False
        self._changed = asyncio.Event()  # replaced after each commit; watchers wait on it
        # The index of the last commit, for a watch "from now" without a read: a read on
        # the other connection could start after a write the caller made next.
        self._committed = int(
            self._db.execute("SELECT value FROM meta WHERE key='index'").fetchone()[0])

    async def view(self, fn: Callable[[ReadTx], T]) -> T:
        return await asyncio.to_thread(self._view, fn)

    async def update(self, fn: Callable[[Tx], T]) -> T:
        result = await asyncio.to_thread(self._run, fn, True)
        self._notify()
        return result

    def _run(self, fn: Callable[[Any], T], writable: bool) -> T:
        with self._lock:
            if self._closed:
                raise errors.Unavailable("the cluster store is closed")
            self._db.execute("BEGIN IMMEDIATE" if writable else "BEGIN")
            try:
                tx = _SQLiteTx(self._db, writable=writable)
                result = fn(tx)
                tx.finish()
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            self._committed = tx.index
            return result

    def _view(self, fn: Callable[[Any], T]) -> T:
        with self._read_lock:
            if self._closed:
                raise errors.Unavailable("the cluster store is closed")
            self._reader.execute("BEGIN")
            try:
                return fn(_SQLiteTx(self._reader, writable=False))
            finally:
                self._reader.execute("ROLLBACK")  # a read: nothing to keep

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def watch(self, kinds: Iterable[str], since: int | None = None
                    ) -> AsyncIterator[Event]:
        wanted = tuple(kinds)
        for kind in wanted:
            check_kind(kind)
        last = self._committed if since is None else since
        while not self._closed:
            changed = self._changed  # taken before reading, so no commit slips between
            batch, newest = await asyncio.to_thread(self._read_events, wanted, last)
            for event in batch:
                last = event.index
                yield event
            if len(batch) < WATCH_BATCH:
                # None of ours up to the newest event read: the next read starts there, so
                # a watcher of rare kinds (nodes) does not rescan the whole log's tail of
                # other kinds (tasks) after every commit.
                last = max(last, newest)
                await changed.wait()

    def _read_events(self, kinds: tuple[str, ...], after: int) -> tuple[list[Event], int]:
        """The events of ``kinds`` after ``after`` (at most ``WATCH_BATCH``), and the
        newest index in the log when they were read."""
        with self._read_lock:
            if self._closed:
                return [], after
            self._reader.execute("BEGIN")  # one snapshot: no trim between the reads
            try:
                oldest, newest = self._reader.execute(  # each an O(1) look at the key
                    "SELECT (SELECT MIN(idx) FROM events), (SELECT MAX(idx) FROM events)"
                ).fetchone()
                if oldest is not None and after < oldest - 1:
                    raise Compacted(after, oldest)
                marks = ",".join("?" * len(kinds))
                rows = self._reader.execute(
                    f"SELECT idx, kind, action, id, doc, old FROM events WHERE idx > ? "
                    f"AND kind IN ({marks}) ORDER BY idx LIMIT ?",
                    (after, *kinds, WATCH_BATCH)).fetchall()
            finally:
                self._reader.execute("ROLLBACK")
        return [Event(r[0], r[1], r[2], r[3], json.loads(r[4]),
                      json.loads(r[5]) if r[5] is not None else None) for r in rows], \
            newest or after

    async def close(self) -> None:
        with self._lock, self._read_lock if self._read_lock is not self._lock \
                else contextlib.nullcontext():
            if self._closed:
                return
            self._closed = True
            if self._reader is not self._db:
                self._reader.close()
            self._db.close()
        self._notify()


