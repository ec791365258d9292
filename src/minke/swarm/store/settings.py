"""Which cluster store a manager uses, from minked's settings: the embedded SQLite file
(default, one manager) or an etcd cluster (``--cluster-store etcd://h1:2379,h2:2379/prefix``
with ``--cluster-store-cacert/-cert/-key``), optionally an etcd member minked runs itself
(``--cluster-store-serve``: its data in ``<data-root>/etcd``), and the leader lease
(``--swarm-leader-lease``). Everything is checked before minked starts serving.

etcd modules are imported only when etcd is configured (grpc stays out of the common
path)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from minke import errors
from minke.swarm.localstate import CERT_DIR
from minke.swarm.store.sqlite import SQLiteStore
from minke.swarm.store.store import Store
from minke.units import parse_go_duration

DEFAULT_LOCAL = "etcd://127.0.0.1:2379"


@dataclass(frozen=True)
class StoreSettings:
    etcd: Any = None  # an EtcdConfig, or None for SQLite
    serve: bool = False
    leader_lease: float | None = None  # seconds; None: election.DEFAULT_TTL

    @classmethod
    def parse(cls, cluster_store: str | None, *, cacert: str | None = None,
              cert: str | None = None, key: str | None = None, serve: bool = False,
              leader_lease: str | None = None) -> StoreSettings:
        """The settings, or ``errors.InvalidParameter`` naming the one at fault."""
        lease = None
        if leader_lease:
            ns = parse_go_duration(leader_lease if not leader_lease.isdigit()
                                   else f"{leader_lease}s")
            if ns is None or ns < 1_000_000_000:
                raise errors.InvalidParameter(
                    f"swarm-leader-lease: {leader_lease!r} is not a duration of at least 1s")
            lease = ns / 1e9
        if not cluster_store and not serve:
            if cacert or cert or key:
                raise errors.InvalidParameter(
                    "cluster-store-cacert/cert/key need cluster-store (an etcd:// address)")
            return cls(leader_lease=lease)
        from minke.swarm.store.etcdconn import EtcdConfig

        config = EtcdConfig.parse(cluster_store or DEFAULT_LOCAL, cacert=cacert, cert=cert,
                                  key=key)
        return cls(etcd=config, serve=serve, leader_lease=lease)

    def opener(self) -> Callable[[Path], Store]:
        """What ``SwarmCluster`` calls with its store path to open the store: etcd if
        configured or if ``minke swarm migrate-store`` moved this node's swarm there
        (``storemigration.recorded``), else SQLite."""
        def open_store(path: Path) -> Store:
            from minke.swarm.storemigration import recorded

            config, moved = self.etcd, recorded(path.parent)
            if moved is not None and config is not None and moved.url != config.url:
                raise errors.Conflict(f"the swarm's state was moved to {moved.url} "
                                      f"(see {path.parent}/store.json), not {config.url}")
            if moved is None and config is not None and path.exists():
                raise errors.Conflict(
                    f"this node's swarm is in {path} (SQLite), not in {config.url}: move it "
                    "with `minke swarm migrate-store --to ...` on a minked started without "
                    "--cluster-store")
            config = config or moved
            if config is None:
                return SQLiteStore(path)
            from minke.swarm.store.etcd import EtcdStore

            return EtcdStore(config, cluster_id=node_cluster_id(path.parent))
        return open_store

    def server(self, data_root: Path) -> Any:
        """The etcd member to run (``--cluster-store-serve``), or None: on the first
        endpoint's address, peer port = client port + 1, data in ``<data-root>/etcd``."""
        if not self.serve:
            return None
        from minke.swarm.store.etcdserver import EtcdServer

        host, port = self.etcd.endpoints[0]
        tls = self.etcd.cacert is not None
        scheme = "https" if tls else "http"
        return EtcdServer(data_root / "etcd", client_url=f"{scheme}://{host}:{port}",
                          peer_url=f"http://{host}:{port + 1}", cacert=self.etcd.cacert,
                          cert=self.etcd.cert, key=self.etcd.key,
                          client_cert=self.etcd.cert, client_key=self.etcd.key)


def node_cluster_id(swarm_root: Path) -> str | None:
    """The cluster this node belongs to, from its certificate's O (None before init or
    join): the etcd store refuses a prefix holding another cluster's data."""
    try:
        cert = x509.load_pem_x509_certificate((swarm_root / CERT_DIR / "swarm-node.crt")
                                              .read_bytes())
    except (OSError, ValueError):
        return None
    names = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    return str(names[0].value) if names else None
