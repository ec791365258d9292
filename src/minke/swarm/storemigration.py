"""``minke swarm migrate-store``: move a one-manager swarm from its SQLite store to etcd
while its services keep running, and remember where the state went.

The manager quiesces (reconcilers, agent and node endpoint stop; task containers, networks
and load-balancing rules stay, as in a daemon restart), every object is copied in one etcd
transaction (all or nothing, IDs, times and creation order kept; ``Version.Index`` becomes
etcd's revision, so a client holding an older version gets "update out of sequence" once
and reads again), and the manager resumes on etcd. The SQLite file is kept, renamed, as a
backup; ``<swarm>/store.json`` records the etcd address so that a restarted minked uses
it even without ``--cluster-store`` (and refuses a flag naming another store).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from minke import errors
from minke.swarm.store.settings import node_cluster_id
from minke.swarm.store.sqlite import SQLiteStore
from minke.swarm.store.store import KINDS, Store

if TYPE_CHECKING:
    from minke.swarm.cluster import SwarmCluster
    from minke.swarm.store.etcdconn import EtcdConfig

RECORD = "store.json"
BACKUP_SUFFIX = ".migrated"


def recorded(swarm_root: Path) -> EtcdConfig | None:
    """The store a migration recorded for this node, or None."""
    from minke.swarm.store.etcdconn import EtcdConfig

    try:
        doc = json.loads((swarm_root / RECORD).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise errors.InternalError(f"{swarm_root / RECORD}: unreadable: {exc}") from exc
    return EtcdConfig.parse(doc["URL"], cacert=doc.get("CACert"), cert=doc.get("Cert"),
                            key=doc.get("Key"))


def _record(swarm_root: Path, config: EtcdConfig) -> None:
    doc = {"URL": config.url, "CACert": _text(config.cacert), "Cert": _text(config.cert),
           "Key": _text(config.key)}
    tmp = swarm_root / (RECORD + ".tmp")
    tmp.write_text(json.dumps({k: v for k, v in doc.items() if v}, indent=1))
    tmp.replace(swarm_root / RECORD)


def _text(path: Path | None) -> str | None:
    return str(path) if path is not None else None


async def copy_objects(source: Store, target: Any) -> int:
    """Every object of ``source`` into the (empty) etcd ``target``; how many."""
    objects = await source.view(lambda tx: {kind: tx.list(kind) for kind in KINDS})
    await target.load(objects)
    return sum(len(objs) for objs in objects.values())


async def migrate(cluster: SwarmCluster, request: dict[str, Any]) -> dict[str, Any]:
    """``POST /swarm/store`` (``{"To": "etcd://…", "CACert", "Cert", "Key"}``)."""
    from minke.swarm.store.etcd import EtcdStore
    from minke.swarm.store.etcdconn import EtcdConfig

    if not isinstance(request.get("To"), str):
        raise errors.InvalidParameter("To: the etcd:// address of the new store is required")
    config = EtcdConfig.parse(request["To"], cacert=request.get("CACert"),
                              cert=request.get("Cert"), key=request.get("Key"))
    swarm_root = cluster.local.root
    cluster_id = node_cluster_id(swarm_root)
    count = 0

    def open_etcd(path: Path) -> Store:
        return EtcdStore(config, cluster_id=cluster_id)

    async def move(old: Store, new: Store) -> None:
        nonlocal count
        if not isinstance(old, SQLiteStore):
            raise errors.Conflict("the swarm is not on the SQLite store: nothing to migrate")
        count = await copy_objects(old, new)
        await asyncio.to_thread(_record, swarm_root, config)
        db = cluster.local.store_path()
        for path in (db, *db.parent.glob(db.name + "-*")):  # with its WAL files
            path.replace(path.with_name(path.name + BACKUP_SUFFIX))
    await cluster.switch_store(open_etcd, move)
    return {"Store": config.url, "Objects": count}
