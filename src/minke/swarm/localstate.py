"""What a node keeps on its own disk about its swarm membership (dockerd's
``swarm/docker-state.json`` and ``certificates/``): its node ID, addresses, the data key
(in the clear, or wrapped by the unlock key when the swarm is autolocked), and its TLS
certificate and key (the key PEM-encrypted with the data key).

Files are written whole and renamed into place, then the directory is synced, so a crash
leaves the old state or the new one, never a mix. ``state.json`` is written last at init:
without it the node is not in a swarm, whatever else is in the directory.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from minke import errors
from minke.engine.fsutil import fsync_dir
from minke.swarm.ca import DataKey

STATE_FILE = "state.json"
CERT_DIR = "certificates"


@dataclass
class LocalState:
    node_id: str
    listen_addr: str  # host:port
    advertise_addr: str  # host:port
    data_path_addr: str
    data_key: str = ""  # base64 of the DEK when not autolocked
    wrapped_data_key: str = ""  # the DEK wrapped by the unlock key when autolocked
    role: str = "manager"  # "worker" for a node that joined with the worker token
    managers: list[str] = field(default_factory=list)  # host:port of the managers it knows

    @property
    def locked_at_rest(self) -> bool:
        return bool(self.wrapped_data_key)

    def plain_key(self) -> DataKey:
        return DataKey(base64.b64decode(self.data_key))

    def keep_key(self, key: DataKey, unlock_key: bytes | None) -> None:
        """Store ``key`` wrapped by ``unlock_key``, or in the clear when there is none."""
        if unlock_key is None:
            self.data_key, self.wrapped_data_key = base64.b64encode(key.key).decode(), ""
        else:
            self.data_key, self.wrapped_data_key = "", key.wrap(unlock_key)


class LocalStore:
    """The node's swarm directory (``<data-root>/swarm``)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def load(self) -> LocalState | None:
        path = self.root / STATE_FILE
        if not path.exists():
            return None
        try:
            return LocalState(**json.loads(path.read_text()))
        except (ValueError, TypeError) as exc:
            raise errors.InternalError(f"{path}: unreadable swarm state: {exc}") from exc

    def save(self, state: LocalState) -> None:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        _write(self.root / STATE_FILE, json.dumps(asdict(state), indent=1).encode())

    def save_certificates(self, *, root_ca: bytes, cert: bytes, key: bytes,
                          data_key: DataKey) -> None:
        """The node's certificate files; the key PEM-encrypted with the data key."""
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        certs = self.root / CERT_DIR
        certs.mkdir(exist_ok=True, mode=0o700)
        loaded = serialization.load_pem_private_key(key, password=None)
        encrypted = loaded.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(data_key.key))
        _write(certs / "swarm-root-ca.crt", root_ca)
        _write(certs / "swarm-node.crt", cert)
        _write(certs / "swarm-node.key", encrypted)

    def load_certificates(self, data_key: DataKey) -> tuple[bytes, bytes, bytes]:
        """(root CA, node certificate, node key in the clear) as ``save_certificates``
        wrote them."""
        certs = self.root / CERT_DIR
        try:
            root, cert = (certs / "swarm-root-ca.crt").read_bytes(), \
                (certs / "swarm-node.crt").read_bytes()
            key = serialization.load_pem_private_key((certs / "swarm-node.key").read_bytes(),
                                                     password=data_key.key)
        except (OSError, ValueError) as exc:
            raise errors.InternalError(f"{certs}: unreadable node certificate: {exc}") \
                from exc
        return root, cert, key.private_bytes(serialization.Encoding.PEM,
                                             serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption())

    def store_path(self) -> Path:
        return self.root / "store.db"

    def erase(self) -> None:
        """Forget the swarm: the state file first, so a crash midway leaves no swarm."""
        (self.root / STATE_FILE).unlink(missing_ok=True)
        shutil.rmtree(self.root, ignore_errors=True)


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)
