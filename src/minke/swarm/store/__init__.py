"""The cluster store: the ``Store`` interface (``store.py``), its embedded SQLite
implementation (``sqlite.py``, one manager) and the etcd one (``etcd.py``, several managers;
imported where used, so that grpc stays off the CLI's import path)."""

from minke.swarm.store.sqlite import SQLiteStore
from minke.swarm.store.store import (
    CREATE,
    DELETE,
    KINDS,
    UPDATE,
    Compacted,
    Event,
    NameConflict,
    NotLeader,
    Obj,
    ReadTx,
    SequenceConflict,
    Store,
    Tx,
)

__all__ = [
    "CREATE",
    "DELETE",
    "KINDS",
    "UPDATE",
    "Compacted",
    "Event",
    "NameConflict",
    "NotLeader",
    "Obj",
    "ReadTx",
    "SQLiteStore",
    "SequenceConflict",
    "Store",
    "Tx",
]
