"""An etcd member run by minke: Debian's ``etcd`` (package ``etcd-server``) started with
its data under the data root, for a manager that hosts the cluster store itself, and for
tests. It owns the process: start with a recorded PID, readiness check, clean stop.

Settings that differ from etcd's defaults, and why:

- ``--max-txn-ops`` and ``--max-request-bytes`` raised: one store transaction writes each
  object plus its name and kind keys (a service scaled to 600 tasks is one transaction).
- ``--auto-compaction-mode revision --auto-compaction-retention 10000``: the history kept
  for watchers resuming from an index, as the SQLite store's ``EVENT_RETENTION``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import ssl
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from minke import errors

ETCD = "/usr/bin/etcd"
MAX_TXN_OPS = 10_000
MAX_REQUEST_BYTES = 10 << 20
HISTORY = 10_000  # revisions kept for watchers (SQLite store: EVENT_RETENTION)


@dataclass
class EtcdServer:
    """One member. ``peers`` (name → peer URL) makes a multi-member cluster; the member's
    own entry is added. TLS files, when given, serve clients over HTTPS and require
    client certificates signed by ``cacert``; the readiness check presents
    ``client_cert``/``client_key``."""

    data_dir: Path
    client_url: str = "http://127.0.0.1:2379"
    peer_url: str = "http://127.0.0.1:2380"
    name: str = "minke"
    peers: dict[str, str] = field(default_factory=dict)
    cluster_token: str = "minke"
    cacert: Path | None = None
    cert: Path | None = None
    key: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    binary: str = ETCD
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "etcd.pid"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "etcd.log"

    def command(self) -> list[str]:
        cluster = {**self.peers, self.name: self.peer_url}
        cmd = [
            self.binary, "--name", self.name, "--data-dir", str(self.data_dir / "member"),
            "--listen-client-urls", self.client_url, "--advertise-client-urls", self.client_url,
            "--listen-peer-urls", self.peer_url, "--initial-advertise-peer-urls", self.peer_url,
            "--initial-cluster", ",".join(f"{n}={u}" for n, u in sorted(cluster.items())),
            "--initial-cluster-token", self.cluster_token, "--initial-cluster-state", "new",
            "--max-txn-ops", str(MAX_TXN_OPS), "--max-request-bytes", str(MAX_REQUEST_BYTES),
            "--auto-compaction-mode", "revision",
            "--auto-compaction-retention", str(HISTORY),
        ]
        if self.cacert is not None and self.cert is not None and self.key is not None:
            cmd += ["--cert-file", str(self.cert), "--key-file", str(self.key),
                    "--trusted-ca-file", str(self.cacert), "--client-cert-auth"]
        return cmd

    def running_pid(self) -> int | None:
        """The PID recorded by an earlier start whose etcd still runs on our data dir."""
        try:
            pid = int(self.pid_file.read_text())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            return None
        ours = (cmdline and os.path.basename(cmdline[0]) == b"etcd"
                and str(self.data_dir / "member").encode() in cmdline)
        return pid if ours else None

    def start(self, timeout: float = 20.0) -> int:
        """Start the member (stopping one this data dir's PID file says is left over) and
        return its PID once it answers ``/health``."""
        self.spawn()
        return self.wait_ready(timeout)

    def spawn(self) -> int:
        """Start the process and record its PID, without waiting (members of a new
        cluster start together: none is healthy before a quorum runs)."""
        if not Path(self.binary).exists():
            raise errors.Unavailable(f"{self.binary} is missing: install Debian's etcd-server")
        self.stop()
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.log_file, "ab") as log:
            self._process = subprocess.Popen(self.command(), stdout=log, stderr=log,
                                             stdin=subprocess.DEVNULL, start_new_session=True)
        self.pid_file.write_text(str(self._process.pid))
        return self._process.pid

    def wait_ready(self, timeout: float = 20.0) -> int:
        """The PID once the member answers ``/health``; stopped and an error if it exits or
        is not ready in ``timeout`` seconds."""
        process = self._process
        assert process is not None, "spawn() first"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self.pid_file.unlink(missing_ok=True)
                raise errors.Unavailable(f"etcd exited with status {process.returncode} at "
                                         f"start-up: {self._log_tail()}")
            if self.healthy():
                return process.pid
            time.sleep(0.05)
        self.stop()
        raise errors.Unavailable(f"etcd did not become ready in {timeout:.0f} s: "
                                 f"{self._log_tail()}")

    def healthy(self) -> bool:
        """Whether the member answers ``/health`` and has a leader (a member of a cluster
        that has not reached quorum yet answers false)."""
        context = None
        if self.client_url.startswith("https:"):
            context = ssl.create_default_context(cafile=self.cacert)
            if self.client_cert is not None and self.client_key is not None:
                context.load_cert_chain(self.client_cert, self.client_key)
        try:
            with urllib.request.urlopen(f"{self.client_url}/health", timeout=1,
                                        context=context) as response:
                return json.loads(response.read()).get("health") == "true"
        except (OSError, ValueError):
            return False

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (etcd syncs and exits), SIGKILL after ``timeout``; forget the PID."""
        pid = self.running_pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and _alive(pid):
                time.sleep(0.05)
            if _alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                while _alive(pid):
                    time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)

    def kill(self) -> None:
        """SIGKILL the member (tests: a crash)."""
        pid = self.running_pid()
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            while _alive(pid):
                time.sleep(0.02)
        self.pid_file.unlink(missing_ok=True)

    def _log_tail(self) -> str:
        try:
            lines = self.log_file.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "(no log)"
        return " | ".join(lines[-3:])[-600:]


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie of ours is reaped and counts as gone)."""
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
