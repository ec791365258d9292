"""The manager's control API for the cluster and its nodes (SwarmKit's ``controlapi``):
reads and writes the store with Docker's rules and answers in Docker's words and shapes.

Cluster objects keep their secret material sealed with the node's data key (the root CA's
key, the join tokens, the unlock key); ``cluster_doc`` opens what the API shows and drops
the rest. Errors Docker reports as SwarmKit gRPC statuses keep that text
("rpc error: code = FailedPrecondition desc = …") and its HTTP status.
"""

from __future__ import annotations

from typing import Any

from minke import errors
from minke.swarm.ca import DataKey, RootCA, join_token, new_unlock_key, tls_info
from minke.swarm.manager import spec as specs
from minke.swarm.manager.tasks import public
from minke.swarm.store import Obj, ReadTx, SequenceConflict, Store, Tx

MANAGER_JOIN = ("this swarm keeps its state in an embedded SQLite store, which only one "
                "manager can serve: several managers need an etcd store (start the managers' "
                "minked with --cluster-store etcd://..., or move this swarm there with `minke "
                "swarm migrate-store --to etcd://...`), or join with the worker token")

Filters = dict[str, list[str]]

NODE_FILTERS = ("name", "id", "label", "role", "membership", "node.label")


def rpc_error(code: str, desc: str) -> errors.MinkeError:
    """A SwarmKit gRPC error as dockerd reports it: its text, and the status dockerd gives
    the code (FailedPrecondition and InvalidArgument are 400, Unknown 500)."""
    cls: type[errors.MinkeError] = {
        "FailedPrecondition": errors.InvalidParameter, "InvalidArgument": errors.InvalidParameter,
        "NotFound": errors.NotFound, "AlreadyExists": errors.Conflict,
        "PermissionDenied": errors.Forbidden, "Unavailable": errors.Unavailable,
    }.get(code, errors.InternalError)
    return cls(f"rpc error: code = {code} desc = {desc}")


def out_of_sequence() -> errors.MinkeError:
    return rpc_error("Unknown", SequenceConflict().message)


class ControlAPI:
    """Cluster and node operations on ``store``; ``data_key`` opens sealed material."""

    def __init__(self, store: Store, data_key: DataKey) -> None:
        self.store = store
        self.data_key = data_key

    # -- the cluster ------------------------------------------------------------------

    async def cluster(self) -> Obj:
        """The stored cluster object (sealed fields included)."""
        return await self.store.view(_the_cluster)

    def root_ca(self, cluster: Obj) -> RootCA:
        ca = cluster["RootCA"]
        return RootCA(ca["CACert"].encode(), self.data_key.open(ca["CAKey"]))

    def unlock_key(self, cluster: Obj) -> bytes | None:
        sealed = cluster.get("UnlockKey")
        return self.data_key.open(sealed) if sealed else None

    def cluster_doc(self, cluster: Obj, *, join_tokens: bool) -> Obj:
        """Docker's ``Swarm`` (``join_tokens``) or ``ClusterInfo`` shape of ``cluster``."""
        doc: Obj = {k: cluster[k] for k in ("ID", "Version", "CreatedAt", "UpdatedAt", "Spec")}
        doc["TLSInfo"] = tls_info(RootCA(cluster["RootCA"]["CACert"].encode(), b""))
        for key in ("RootRotationInProgress", "DefaultAddrPool", "SubnetSize", "DataPathPort"):
            doc[key] = cluster[key]
        if join_tokens:
            sealed = cluster["RootCA"]["JoinTokens"]
            doc["JoinTokens"] = {role: self.data_key.open(sealed[role]).decode()
                                 for role in ("Worker", "Manager")}
        return doc

    @staticmethod
    def new_cluster(data_key: DataKey, *, cluster_id: str, spec: specs.Spec, root: RootCA,
                    unlock_key: bytes | None, data_path_port: int = 4789) -> Obj:
        """A cluster object for ``swarm init``, its secrets sealed with ``data_key``."""
        seal = data_key.seal
        cluster: Obj = {
            "ID": cluster_id, "Spec": spec,
            "RootCA": {"CACert": root.cert_pem.decode(), "CAKey": seal(root.key_pem),
                       "Digest": root.digest,
                       "JoinTokens": {"Worker": seal(join_token(root).encode()),
                                      "Manager": seal(join_token(root).encode())}},
            "RootRotationInProgress": False, "DefaultAddrPool": None, "SubnetSize": 24,
            "DataPathPort": data_path_port,
        }
        if unlock_key is not None:
            cluster["UnlockKey"] = seal(unlock_key)
        return cluster

    async def update_cluster(self, version: int, spec: specs.Spec, *,
                             rotate_worker: bool = False, rotate_manager: bool = False,
                             rotate_unlock: bool = False) -> Obj:
        """``swarm update``: the complete new spec at ``version``, and key rotations.
        Turning autolock on makes an unlock key, off drops it; returns the stored object."""
        spec = specs.normalize_update_spec(spec)

        def update(tx: Tx) -> Obj:
            cluster = _the_cluster(tx)
            if cluster["Version"]["Index"] != version:
                raise out_of_sequence()
            specs.check_ca_change(spec, cluster["Spec"])
            root = self.root_ca(cluster)
            tokens = cluster["RootCA"]["JoinTokens"]
            if rotate_worker:
                tokens["Worker"] = self.data_key.seal(join_token(root).encode())
            if rotate_manager:
                tokens["Manager"] = self.data_key.seal(join_token(root).encode())
            if not spec["EncryptionConfig"]["AutoLockManagers"]:
                cluster.pop("UnlockKey", None)
            elif rotate_unlock or not cluster.get("UnlockKey"):
                cluster["UnlockKey"] = self.data_key.seal(new_unlock_key())
            cluster["Spec"] = spec
            return tx.update("cluster", cluster)
        return await self.store.update(update)

    # -- nodes ------------------------------------------------------------------------

    async def nodes(self, filters: Filters | None = None) -> list[Obj]:
        match = node_matcher(filters or {})
        return [public(n) for n in await self.store.view(lambda tx: tx.list("node"))
                if match(n)]

    async def node(self, ref: str) -> Obj:
        return public(await self.store.view(lambda tx: find_node(tx, ref)))

    async def update_node(self, ref: str, version: int, spec: Any) -> Obj:
        """``node update``: the complete new spec at ``version``."""
        new_spec = specs.validate_node_spec(spec)

        def update(tx: Tx) -> Obj:
            node = find_node(tx, ref)
            if node["Version"]["Index"] != version:
                raise out_of_sequence()
            if node["Spec"]["Role"] == "manager" and new_spec["Role"] == "worker":
                managers = [n for n in tx.list("node") if n["Spec"]["Role"] == "manager"]
                if len(managers) <= 1:
                    raise rpc_error("FailedPrecondition",
                                    "attempting to demote the last manager of the swarm")
                node.pop("ManagerStatus", None)  # it stops serving (cluster.py)
            if node["Spec"]["Role"] == "worker" and new_spec["Role"] == "manager" and \
                    not hasattr(self.store, "fenced"):
                raise errors.NotSupported(MANAGER_JOIN)  # SQLite: one manager only
            node["Spec"] = new_spec
            return tx.update("node", node)
        return await self.store.update(update)

    async def remove_node(self, ref: str, *, force: bool) -> Obj:
        """``node rm``: a manager must be demoted first; a ready node needs ``force``."""
        def remove(tx: Tx) -> Obj:
            node = find_node(tx, ref)
            if node["Spec"]["Role"] == "manager" or node.get("ManagerStatus"):
                raise rpc_error("FailedPrecondition",
                                f"node {node['ID']} is a cluster manager and is a member of "
                                "the raft cluster. It must be demoted to worker before removal")
            if not force and node["Status"]["State"] == "ready":
                raise rpc_error("FailedPrecondition",
                                f"node {node['ID']} is not down and can't be removed")
            return tx.delete("node", node["ID"])
        return await self.store.update(remove)


def _the_cluster(tx: ReadTx) -> Obj:
    clusters = tx.list("cluster")
    if not clusters:
        raise errors.Unavailable("This node is not part of a swarm")
    return clusters[0]


def node_name(node: Obj) -> str:
    """The name a node is known by: its spec's, else its hostname (SwarmKit's name index)."""
    return node["Spec"].get("Name") or node.get("Description", {}).get("Hostname", "")


def find_node(tx: ReadTx, ref: str) -> Obj:
    """A node by full ID, then exact name, then ID prefix (dockerd's ``getNode``)."""
    node = tx.get("node", ref)
    if node is not None:
        return node
    nodes = tx.list("node")
    matches = [n for n in nodes if node_name(n) == ref] or \
        [n for n in nodes if ref and n["ID"].startswith(ref)]
    if not matches:
        raise errors.NotFound(f"node {ref} not found")
    if len(matches) > 1:
        raise errors.InvalidParameter(f"node {ref} is ambiguous ({len(matches)} matches found)")
    return matches[0]


def node_matcher(filters: Filters) -> Any:
    """A predicate for ``GET /nodes?filters=``, with dockerd's checks and messages."""
    for key in filters:
        if key not in NODE_FILTERS:
            raise errors.InvalidParameter(f"Invalid filter '{key}'")
    roles = [r.lower() for r in filters.get("role", []) if r]
    for role in roles:
        if role not in specs.ROLES:
            raise errors.InternalError(f"Invalid role filter: '{role}'")
    memberships = [m.lower() for m in filters.get("membership", []) if m]
    for membership in memberships:
        if membership not in ("pending", "accepted"):
            raise errors.InternalError(f"Invalid membership filter: '{membership}'")
    names, ids = filters.get("name", []), filters.get("id", [])
    engine_labels, node_labels = _kv(filters.get("label", [])), _kv(filters.get("node.label", []))

    def match(node: Obj) -> bool:
        if names and not any(node_name(node).startswith(n) for n in names):
            return False
        if ids and not any(node["ID"].startswith(i) for i in ids):
            return False
        if roles and node["Spec"]["Role"] not in roles:
            return False
        if memberships and node["Spec"].get("Membership", "accepted") not in memberships:
            return False
        engine = node.get("Description", {}).get("Engine", {}).get("Labels") or {}
        return _labels_match(engine, engine_labels) and \
            _labels_match(node["Spec"].get("Labels") or {}, node_labels)
    return match


def _kv(values: list[str]) -> dict[str, str]:
    return dict((v.split("=", 1) + [""])[:2] for v in values)  # type: ignore[misc]


def _labels_match(labels: dict[str, str], wanted: dict[str, str]) -> bool:
    return all(k in labels and (not v or labels[k] == v) for k, v in wanted.items())
