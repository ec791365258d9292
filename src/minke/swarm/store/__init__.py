"""The cluster store: the ``Store`` interface (``store.py``) and its embedded SQLite
implementation (``sqlite.py``); a later etcd one runs the same conformance tests."""

from minke.swarm.store.sqlite import SQLiteStore
from minke.swarm.store.store import (
    CREATE,
    DELETE,
    KINDS,
    UPDATE,
    Compacted,
    Event,
    NameConflict,
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
    "Obj",
    "ReadTx",
    "SQLiteStore",
    "SequenceConflict",
    "Store",
    "Tx",
]
