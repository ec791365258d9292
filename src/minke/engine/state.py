"""SQLite metadata store (WAL) shared by the engine's services, and its migrations.

Owns the database file and its schema. Each service keeps its records in its own tables,
declared in ``SCHEMA`` below so that one place shows everything minke persists; the blob
store and layer directories live on disk beside it and are not described here.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1

# Records are JSON documents keyed by id; indexed columns are the ones looked up by.
SCHEMA = """
CREATE TABLE IF NOT EXISTS images (
    id TEXT PRIMARY KEY,           -- sha256:<config digest>
    doc TEXT NOT NULL              -- JSON: config, layers (diff ids), created, size, ...
);
CREATE TABLE IF NOT EXISTS tags (
    ref TEXT PRIMARY KEY,          -- normalised reference, e.g. docker.io/library/busybox:latest
    image_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS layers (
    chain_id TEXT PRIMARY KEY,
    doc TEXT NOT NULL              -- JSON: diff_id, parent chain id, size, directory
);
CREATE TABLE IF NOT EXISTS containers (
    id TEXT PRIMARY KEY,
    name TEXT UNIQUE NOT NULL,     -- without the leading '/'
    doc TEXT NOT NULL              -- JSON: the container record (config, host config, state)
);
CREATE TABLE IF NOT EXISTS volumes (
    name TEXT PRIMARY KEY,
    doc TEXT NOT NULL              -- JSON: driver, options, labels, created, anonymous, copy-up
);
CREATE TABLE IF NOT EXISTS volume_mounts (
    container_id TEXT PRIMARY KEY,
    doc TEXT NOT NULL              -- JSON: the container's mount points (volumes, binds, tmpfs)
);
CREATE TABLE IF NOT EXISTS networks (
    id TEXT PRIMARY KEY,
    name TEXT UNIQUE NOT NULL,
    doc TEXT NOT NULL              -- JSON: Docker's NetworkResource (IPAM config) + host interface
);
CREATE TABLE IF NOT EXISTS endpoints (
    id TEXT PRIMARY KEY,           -- a running container's attachment to a network
    network_id TEXT NOT NULL,
    container_id TEXT NOT NULL,
    doc TEXT NOT NULL              -- JSON: the IPAM allocations (addresses), MAC, interfaces
);
"""


class StateDB:
    """One SQLite connection shared by the engine, serialised by a lock.

    Writes are short transactions; callers on the event loop may call it directly
    (each statement is a few microseconds on local disk with WAL and synchronous=NORMAL).
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._migrate()

    def _migrate(self) -> None:
        # executescript issues its own COMMIT, so it runs outside the transaction helper.
        with self._lock:
            self._db.executescript(SCHEMA)
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: everything inside commits together or not at all."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> None:
        with self._lock:
            self._db.execute(sql, params)

    # JSON-document helpers for the common "table of documents keyed by id" shape.

    def get_doc(self, table: str, key_col: str, key: str) -> dict[str, Any] | None:
        rows = self.query(f"SELECT doc FROM {table} WHERE {key_col}=?", (key,))
        return json.loads(rows[0]["doc"]) if rows else None

    def all_docs(self, table: str) -> list[dict[str, Any]]:
        return [json.loads(r["doc"]) for r in self.query(f"SELECT doc FROM {table}")]

    def close(self) -> None:
        with self._lock:
            self._db.close()
