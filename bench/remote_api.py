"""The API over TCP with TLS (``--tlsverify``) against the unix socket, minke beside Docker.

For each daemon: ``docker version`` (a connection, a TLS handshake with client certificates,
two requests) and an attached ``docker run --rm`` whose 128 MiB of output come back through
the hijacked connection, each over the unix socket and over TLS. minke's daemon is a private
minked; Docker's is a dockerd of our own with the same flags and certificates, in its own
network namespace as ``docker-anchor`` runs it (so its bridge and rules stay off the host);
both are driven by the docker CLI through ``nsenter -n`` into the daemon's namespace, so the
client's cost is equal. Without ``dockerd`` on the machine, minke is reported alone.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from common import (
    DOCKER_CLI,
    NO_DOCKER,
    Target,
    import_busybox,
    parse_repeat,
    ratio,
    report,
    summary,
    timed,
)
from tests.conftest import cleanup_root, remove_all_containers, start_daemon, stop_daemon
from tests.support.certs import make_ca, write_leaf

OUTPUT_MIB = 128


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tls_flags(server: Path, port: int) -> list[str]:
    return ["-H", f"tcp://127.0.0.1:{port}", "--tlsverify", "--tlscacert",
            str(server / "ca.pem"), "--tlscert", str(server / "cert.pem"),
            "--tlskey", str(server / "key.pem")]


def measure(netns_pid: int, unix_host: str, tcp_port: int, client: Path,
            repeat: int) -> dict[str, object]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "MINKE_"))}
    envs = {
        "unix": {**base, "DOCKER_HOST": unix_host},
        "tls": {**base, "DOCKER_HOST": f"tcp://127.0.0.1:{tcp_port}", "DOCKER_TLS_VERIFY": "1",
                "DOCKER_CERT_PATH": str(client)},
    }
    prefix = ["nsenter", "-t", str(netns_pid), "-n", DOCKER_CLI]
    ref = import_busybox(Target("daemon", unix_host))
    attach = ("run", "--rm", ref, "dd", "if=/dev/zero", "bs=1048576", f"count={OUTPUT_MIB}")
    results: dict[str, object] = {}
    for name, env in envs.items():
        def run(*args: str, env: dict[str, str] = env) -> None:
            subprocess.run([*prefix, *args], env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, check=True)

        results[f"version {name}"] = summary(timed(lambda: run("version"), repeat))
        times = timed(lambda: run(*attach), max(3, repeat // 5))
        stats = summary(times)
        stats["MiB_per_s"] = round(OUTPUT_MIB / stats["median_s"], 1)
        results[f"attach {OUTPUT_MIB} MiB {name}"] = stats
    return results


@contextmanager
def private_minked(server: Path, port: int) -> Iterator[str]:
    """A minked listening on a unix socket and on TLS; yields the unix host."""
    root = Path(tempfile.mkdtemp(prefix="mk-bench-tls-", dir="/tmp"))
    try:
        daemon = start_daemon(root, *tls_flags(server, port))
    except BaseException:
        cleanup_root(root)
        raise
    try:
        yield daemon.host
    finally:
        if daemon.process.poll() is None:
            remove_all_containers(daemon)
        stop_daemon(daemon)
        cleanup_root(root)


@contextmanager
def private_dockerd(server: Path, port: int) -> Iterator[tuple[int, str] | None]:
    """A dockerd listening on a unix socket and on TLS, in a network namespace of its own;
    yields (its PID, the unix host), or None without dockerd."""
    if shutil.which("dockerd") is None:
        yield None
        return
    directory = Path(tempfile.mkdtemp(prefix="anchor-tls-", dir="/tmp"))
    flags = " ".join(f"'{f}'" for f in tls_flags(server, port))
    proc = subprocess.Popen(
        ["setsid", "unshare", "--net", "--fork", "sh", "-c",
         f"ip link set lo up; exec dockerd --data-root '{directory}/root' "
         f"--exec-root '{directory}/exec' --pidfile '{directory}/dockerd.pid' "
         f"-H 'unix://{directory}/docker.sock' {flags} --storage-driver overlay2"],
        stdout=(directory / "dockerd.log").open("wb"), stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL)
    try:
        for _ in range(150):
            if (directory / "docker.sock").exists() and (directory / "dockerd.pid").exists():
                break
            time.sleep(0.2)
        else:
            raise RuntimeError((directory / "dockerd.log").read_text()[-2000:])
        time.sleep(1)
        pid = int((directory / "dockerd.pid").read_text())
        yield pid, f"unix://{directory}/docker.sock"
    finally:
        pidfile = directory / "dockerd.pid"
        if pidfile.exists():
            subprocess.run(["kill", pidfile.read_text().strip()], check=False)
        proc.wait(60)
        subprocess.run(["umount", "-R", "-l", str(directory / "root")], capture_output=True)
        subprocess.run(["umount", "-R", "-l", str(directory / "exec")], capture_output=True)
        shutil.rmtree(directory, ignore_errors=True)


def main() -> None:
    repeat = parse_repeat(20)
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="bench-certs-") as tmp:
        ca = make_ca()
        server = write_leaf(ca, Path(tmp) / "server", server=True)
        client = write_leaf(ca, Path(tmp) / "client", server=False)
        port = free_port()
        with private_minked(server, port) as host:
            results["minke"] = measure(os.getpid(), host, port, client, repeat)
        port = free_port()
        with private_dockerd(server, port) as docker:
            if docker is None:
                results["docker"] = NO_DOCKER
            else:
                pid, host = docker
                results["docker"] = measure(pid, host, port, client, repeat)
    if isinstance(results["docker"], dict):
        minke, docker_results = results["minke"], results["docker"]
        assert isinstance(minke, dict)
        for key in minke:
            figure = "MiB_per_s" if key.startswith("attach") else "median_s"
            mine, theirs = minke[key][figure], docker_results[key][figure]
            # For throughput, higher is better: the ratio is Docker's over minke's time.
            results[f"ratio {key} minke/docker"] = (
                ratio(theirs, mine) if figure == "MiB_per_s" else ratio(mine, theirs))
    report("remote_api", results)


if __name__ == "__main__":
    main()
