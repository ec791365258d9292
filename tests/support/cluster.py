"""Many minke nodes on one host: the cluster harness of the multi-node tests and benchmarks.

Each node is a network namespace (``ip netns``) with one veth (``eth0`` inside) on a shared
underlay Linux bridge in the host namespace, its own address on a /24 of 198.18.0.0/15
picked per run, loopback up, and its own ``minked`` started inside the namespace with
``nsenter --net`` (so that its mounts are the host's and the host's docker CLI and docker-py
reach its unix socket): own data root, exec root, socket, cgroup parent, default bridge name
and ``--bip``. The host's end of the underlay has ``.1`` of the subnet, so traffic into the
mesh can come from the host.

Use::

    with Cluster() as cluster:          # or the ``cluster`` fixture of tests/integration/cluster
        cluster.start(3)
        node = cluster.node(0)          # .addr, .socket, .host, .pid, .daemon, .netns
        docker.APIClient(base_url=node.host)
        node.run("ping", "-c1", cluster.node(1).addr)   # a command in the node's namespace
        cluster.kill(1)                 # SIGKILL its minked and its containers' processes
        cluster.restart(1)              # minked again on the same roots
        cluster.cut_link(2); cluster.heal(2)
        cluster.partition([0], [1, 2])  # 0 and {1, 2} no longer reach each other
        cluster.netem(2, loss=5)        # percent; delay needs sch_netem in the kernel

``close()`` (also on failure) kills every process of every node, deletes the namespaces
(their bridges, VXLAN devices and nftables tables go with them), unmounts and deletes the
roots, removes the cgroups, the underlay bridge and its address: the host is left as it was
(``tests/support/hostnet.py`` checks interfaces, addresses, routes and tables).

Names carry a per-run token (``mkc<hex6>``…), so clusters of concurrent runs never meet.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import (
    SESSION_ROOTS,
    Daemon,
    cgroup_parent,
    cleanup_root,
    wait_for_socket,
)

UNDERLAY = ipaddress.ip_network("198.18.0.0/15")  # RFC 2544 benchmarking range
LOCK = Path("/run/minke-cluster.lock")  # held while a run picks its underlay subnet
NODE_IFNAME = "eth0"
CGROUPS = Path("/sys/fs/cgroup")
KILL_DEADLINE = 10.0  # s for a node's processes to be gone after SIGKILL


class ClusterError(RuntimeError):
    """The harness could not make or change the cluster as asked."""


def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(args), capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise ClusterError(f"{' '.join(args)}: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


@dataclass
class Node:
    """One node: its namespace, underlay address and (while it runs) its daemon."""

    index: int
    netns: str  # name under /run/netns
    addr: str  # underlay address (the node's advertise and data-path address)
    prefixlen: int
    veth: str  # the host's end of its underlay link
    root: Path  # data/, exec/, minke.sock, minked.log
    bridge: str  # its default bridge (also names its nftables table)
    bip: str
    daemon: Daemon | None = None
    extra_args: list[str] = field(default_factory=list)

    @property
    def socket(self) -> Path:
        return self.root / "minke.sock"

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    @property
    def pid(self) -> int | None:
        """The running minked's pid, None when it is not running."""
        if self.daemon is None or self.daemon.process.poll() is not None:
            return None
        return self.daemon.process.pid

    @property
    def data_root(self) -> Path:
        return self.root / "data"

    @property
    def exec_root(self) -> Path:
        return self.root / "exec"

    @property
    def cgroup_parent(self) -> str:
        return cgroup_parent(self.root)

    def env(self) -> dict[str, str]:
        return {**os.environ, "DOCKER_HOST": self.host, "MINKE_HOST": self.host}

    def nsenter(self) -> list[str]:
        """The command prefix that runs a program in this node's network namespace."""
        return ["nsenter", f"--net=/run/netns/{self.netns}", "--"]

    def run(self, *args: str, check: bool = True,
            timeout: float | None = 60) -> subprocess.CompletedProcess[str]:
        """Run ``args`` in the node's network namespace (not in a container)."""
        proc = subprocess.run([*self.nsenter(), *args], capture_output=True, text=True,
                              check=False, timeout=timeout)
        if check and proc.returncode != 0:
            raise ClusterError(f"node {self.index}: {' '.join(args)}: "
                               f"{proc.stderr.strip() or proc.stdout.strip()}")
        return proc

    def log(self, tail: int = 4000) -> str:
        path = self.root / "minked.log"
        return path.read_text(errors="replace")[-tail:] if path.exists() else ""


def _nft_script(node: Node, script: str, what: str) -> None:
    """Load an nftables ``script`` in ``node``'s namespace; ClusterError naming ``what``."""
    proc = subprocess.run([*node.nsenter(), "nft", "-f", "-"], input=script,
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ClusterError(f"{what}: {proc.stderr.strip()}")


class Cluster:
    """N nodes on this host; see the module docstring. Not thread-safe."""

    def __init__(self, *, daemon_args: Sequence[str] | Callable[[Node], Sequence[str]] = (),
                 mtu: int = 1500) -> None:
        self.token = secrets.token_hex(3)
        self.prefix = f"mkc{self.token}"
        self.bridge = f"{self.prefix}u"
        self.mtu = mtu
        self._daemon_args = daemon_args
        self.nodes: list[Node] = []
        self.subnet: ipaddress.IPv4Network | None = None
        self._workdir = Path(tempfile.mkdtemp(prefix=f"{self.prefix}-", dir="/tmp"))

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self, n: int, *, daemons: bool = True) -> list[Node]:
        """Add ``n`` nodes (the underlay is made with the first) and start their daemons
        (unless ``daemons`` is false: bare namespaces, for data-path tests); returns the new
        nodes. On failure what was made stays until ``close``."""
        if self.subnet is None:
            self._make_underlay()
        added = [self._make_node() for _ in range(n)]
        if daemons:
            for node in added:
                self._start_daemon(node)
        return added

    def node(self, i: int) -> Node:
        return self.nodes[i]

    def kill(self, i: int) -> None:
        """SIGKILL node ``i``'s minked and every process of its containers (the processes
        in its namespace and in its cgroup parent), and wait until they are gone."""
        node = self.nodes[i]
        deadline = time.monotonic() + KILL_DEADLINE
        while True:
            pids = self._pids_of(node)
            if not pids:
                break
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            if node.daemon is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    node.daemon.process.wait(0.05)
            if time.monotonic() > deadline:
                raise ClusterError(f"node {i}: processes {sorted(pids)} survive SIGKILL")
            time.sleep(0.02)
        if node.daemon is not None:
            node.daemon.process.wait()

    def stop(self, i: int) -> None:
        """Stop node ``i``'s minked gracefully (SIGTERM); its containers keep running."""
        node = self.nodes[i]
        if node.daemon is not None and node.daemon.process.poll() is None:
            node.daemon.process.terminate()
            try:
                node.daemon.process.wait(15)
            except subprocess.TimeoutExpired:
                node.daemon.process.kill()
                node.daemon.process.wait()

    def restart(self, i: int) -> Node:
        """Start node ``i``'s minked again on the same roots (stopping it first if it
        runs); containers a ``kill`` took are gone, live ones are restored."""
        self.stop(i)
        self._start_daemon(self.nodes[i])
        return self.nodes[i]

    def cut_link(self, i: int) -> None:
        """Take node ``i`` off the underlay (its link down on the host's side): it keeps
        running but reaches no other node, and no other node reaches it."""
        _run("ip", "link", "set", "dev", self.nodes[i].veth, "down")

    def heal(self, i: int) -> None:
        """Undo ``cut_link``, ``partition`` and any ``netem`` for node ``i``."""
        node = self.nodes[i]
        _run("ip", "link", "set", "dev", node.veth, "up")
        node.run("tc", "qdisc", "del", "dev", NODE_IFNAME, "root", check=False)
        for table in (self._loss_table, self._partition_table):
            node.run("nft", "delete", "table", "netdev", table, check=False)

    _loss_table = "minke_cluster_loss"
    _partition_table = "minke_cluster_partition"

    def partition(self, *groups: Sequence[int]) -> None:
        """Split the underlay: a node of one group no longer reaches a node of another
        (nodes in no group keep reaching everyone). Done with a netdev table on each
        node's ``eth0``, in its namespace; ``heal(i)`` takes node ``i``'s away."""
        group_of = {i: g for g, members in enumerate(groups) for i in members}
        for i, g in group_of.items():
            others = sorted(self.nodes[j].addr for j, h in group_of.items() if h != g)
            node = self.nodes[i]
            node.run("nft", "delete", "table", "netdev", self._partition_table, check=False)
            if not others:
                continue
            addrs = ", ".join(others)
            script = (f"table netdev {self._partition_table} {{\n"
                      f"  chain ingress {{\n    type filter hook ingress device "
                      f"{NODE_IFNAME} priority 0; policy accept;\n"
                      f"    ip saddr {{ {addrs} }} drop\n  }}\n"
                      f"  chain egress {{\n    type filter hook egress device "
                      f"{NODE_IFNAME} priority 0; policy accept;\n"
                      f"    ip daddr {{ {addrs} }} drop\n  }}\n}}\n")
            _nft_script(node, script, f"node {i}: partition")

    def netem(self, i: int, *, delay: float = 0.0, loss: float = 0.0) -> None:
        """Delay (ms) and lose (percent) what node ``i`` sends on the underlay, with
        ``tc netem`` on its ``eth0``. Where the kernel lacks sch_netem, loss alone is done
        with nftables (``numgen random``) and a delay is refused (ClusterError)."""
        node = self.nodes[i]
        node.run("tc", "qdisc", "del", "dev", NODE_IFNAME, "root", check=False)
        node.run("nft", "delete", "table", "netdev", self._loss_table, check=False)
        if not delay and not loss:
            return
        args = ["tc", "qdisc", "add", "dev", NODE_IFNAME, "root", "netem"]
        if delay:
            args += ["delay", f"{delay}ms"]
        if loss:
            args += ["loss", f"{loss}%"]
        proc = node.run(*args, check=False)
        if proc.returncode == 0:
            return
        if "unknown" not in proc.stderr.lower():
            raise ClusterError(f"node {i}: {' '.join(args)}: {proc.stderr.strip()}")
        if delay:
            raise ClusterError("this kernel has no sch_netem (CONFIG_NET_SCH_NETEM): "
                               "a delay cannot be added; loss alone works with nftables")
        # An egress hook of the netdev family sees every frame the node sends.
        permille = int(round(loss * 10))
        rule = "drop" if permille >= 1000 else f"numgen random mod 1000 < {permille} drop"
        script = (f"table netdev {self._loss_table} {{\n"
                  f"  chain egress {{\n"
                  f"    type filter hook egress device {NODE_IFNAME} priority 0; "
                  f"policy accept;\n"
                  f"    {rule}\n"
                  f"  }}\n}}\n")
        _nft_script(node, script, f"node {i}: nft loss rule")

    def close(self) -> None:
        """Remove everything the cluster made; safe to call twice and after a failure.
        Errors are collected and raised at the end, after everything was tried."""
        errors: list[str] = []
        for node in self.nodes:
            try:
                self.kill(node.index)
            except Exception as exc:  # noqa: BLE001 - go on cleaning, report at the end
                errors.append(f"node {node.index}: {exc}")
            _run("ip", "netns", "del", node.netns, check=False)
            _run("ip", "link", "del", node.veth, check=False)
            try:
                cleanup_root(node.root, node.bridge)
            except Exception as exc:  # noqa: BLE001
                errors.append(f"node {node.index} root: {exc}")
        self.nodes = []
        if self.subnet is not None:
            from minke.engine.network.firewall import Firewall

            with contextlib.suppress(Exception):
                Firewall(self.bridge).remove_from_docker_forward(self.bridge)
            _run("ip", "link", "del", self.bridge, check=False)
            self.subnet = None
        with contextlib.suppress(OSError):
            for child in self._workdir.iterdir():
                child.rmdir()
            self._workdir.rmdir()
        if errors:
            raise ClusterError("cluster cleanup: " + "; ".join(errors))

    # -- making it ---------------------------------------------------------------------------

    def _make_underlay(self) -> None:
        LOCK.parent.mkdir(parents=True, exist_ok=True)
        with open(LOCK, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            subnet = _free_subnet()
            gateway = f"{subnet[1]}/{subnet.prefixlen}"
            _run("ip", "link", "add", self.bridge, "mtu", str(self.mtu), "type", "bridge")
            self.subnet = subnet  # from here on close() removes the bridge
            self._mark(self.bridge)
            _run("ip", "addr", "add", gateway, "dev", self.bridge)
            _run("ip", "link", "set", self.bridge, "up")
        from minke.engine.network.firewall import Firewall

        # br_netfilter passes bridged frames through iptables' FORWARD, whose policy a
        # Docker on the host sets to drop: node-to-node traffic must be let through.
        Firewall(self.bridge).allow_in_docker_forward(self.bridge)

    def _mark(self, ifname: str) -> None:
        """Mark a device of the cluster's in the host namespace as minke marks its bridges
        (``ownership.mark``), with the cluster's directory as data root: the host-network
        check of other test sessions then leaves it out, and this session's sees it."""
        from minke.engine.network.ownership import mark

        SESSION_ROOTS.add(str(self._workdir))
        _run("ip", "link", "set", "dev", ifname, "alias", mark(self._workdir))

    def _make_node(self) -> Node:
        assert self.subnet is not None
        i = len(self.nodes)
        if i + 2 >= self.subnet.num_addresses - 1:
            raise ClusterError(f"the underlay {self.subnet} has no address left")
        # The root's name also names the cgroup parent (tests.conftest.cgroup_parent).
        root = self._workdir / f"{self.prefix}n{i}"
        root.mkdir()
        node = Node(
            index=i, netns=f"{self.prefix}n{i}", addr=str(self.subnet[i + 2]),
            prefixlen=self.subnet.prefixlen, veth=f"{self.prefix}v{i}", root=root,
            bridge=f"{self.prefix}b{i}", bip=f"10.{250 - i // 200}.{i % 200}.1/24",
        )
        self.nodes.append(node)  # from here on close() removes it
        _run("ip", "netns", "add", node.netns)
        _run("ip", "link", "add", node.veth, "mtu", str(self.mtu), "type", "veth",
             "peer", "name", NODE_IFNAME, "netns", node.netns)
        self._mark(node.veth)
        _run("ip", "link", "set", node.veth, "master", self.bridge, "up")
        node.run("ip", "link", "set", "lo", "up")
        node.run("ip", "addr", "add", f"{node.addr}/{node.prefixlen}", "dev", NODE_IFNAME)
        node.run("ip", "link", "set", NODE_IFNAME, "up")
        # The host's end is the node's way out (the host reaches it, and the node has a
        # default route as a real machine would; nothing is forwarded beyond the host).
        node.run("ip", "route", "add", "default", "via", str(self.subnet[1]))
        return node

    def _start_daemon(self, node: Node) -> None:
        extra = (self._daemon_args(node) if callable(self._daemon_args)
                 else self._daemon_args)
        SESSION_ROOTS.add(str(node.data_root))
        log = node.root / "minked.log"
        process = subprocess.Popen(
            [*node.nsenter(), sys.executable, "-m", "minke.daemon.main",
             "--data-root", str(node.data_root), "--exec-root", str(node.exec_root),
             "-H", node.host, "--pidfile", str(node.root / "minked.pid"),
             "--cgroup-parent", node.cgroup_parent, "--bridge", node.bridge,
             "--bip", node.bip, *node.extra_args, *extra],
            stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True,
        )
        node.daemon = Daemon(node.root, node.socket, process, log)
        wait_for_socket(node.daemon)

    # -- its processes -----------------------------------------------------------------------

    def _pids_of(self, node: Node) -> set[int]:
        """The live processes of ``node``: its minked, whatever runs in its namespace
        (conmon, ``node.run`` commands) and in its cgroup parent (the containers)."""
        pids: set[int] = set()
        if node.pid is not None:
            pids.add(node.pid)
        try:
            ino = os.stat(f"/run/netns/{node.netns}").st_ino
        except OSError:
            ino = None
        if ino is not None:
            wanted = f"net:[{ino}]"
            for entry in os.scandir("/proc"):
                if entry.name.isdigit():
                    with contextlib.suppress(OSError):
                        if os.readlink(f"/proc/{entry.name}/ns/net") == wanted:
                            pids.add(int(entry.name))
        for hierarchy in CGROUPS.iterdir():
            parent = hierarchy / node.cgroup_parent
            if parent.is_dir():
                for procs in parent.rglob("cgroup.procs"):
                    with contextlib.suppress(OSError):
                        pids.update(int(p) for p in procs.read_text().split())
        pids.discard(os.getpid())
        return {pid for pid in pids if alive(pid)}


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _free_subnet() -> ipaddress.IPv4Network:
    """A /24 of 198.18.0.0/15 that no address or route of the host touches."""
    used: list[ipaddress.IPv4Network] = []
    routes = json.loads(_run("ip", "-4", "-j", "route", "show", "table", "all").stdout or "[]")
    for route in routes:
        dst = route.get("dst", "")
        if dst and dst != "default":
            with contextlib.suppress(ValueError):
                used.append(ipaddress.ip_network(dst, strict=False))
    for link in json.loads(_run("ip", "-4", "-j", "addr", "show").stdout or "[]"):
        for a in link.get("addr_info", []):
            used.append(ipaddress.ip_network(f"{a['local']}/{a['prefixlen']}", strict=False))
    candidates = list(UNDERLAY.subnets(new_prefix=24))
    random.shuffle(candidates)
    for subnet in candidates:
        if not any(subnet.overlaps(u) for u in used if u.prefixlen > 0):
            return subnet
    raise ClusterError(f"no free /24 left in {UNDERLAY}")


@contextlib.contextmanager
def cluster(n: int, *, daemons: bool = True, **kwargs: object) -> Iterator[Cluster]:
    """A started cluster of ``n`` nodes (bare namespaces without ``daemons``), closed
    afterwards (also after a failure)."""
    c = Cluster(**kwargs)  # type: ignore[arg-type]
    try:
        c.start(n, daemons=daemons)
        yield c
    finally:
        c.close()


def docker_on(cluster: Cluster, i: int, *args: str, check: bool = True
              ) -> subprocess.CompletedProcess[str]:
    """The docker CLI against node ``i``; with ``check``, an AssertionError with docker's
    words when it fails."""
    proc = subprocess.run(["docker", "-H", cluster.node(i).host, *args], capture_output=True,
                          text=True, timeout=60, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} on node {i}: {proc.stderr}")
    return proc


def docker_out(cluster: Cluster, i: int, *args: str) -> str:
    """What ``docker ARGS`` printed on node ``i`` (it must succeed)."""
    return docker_on(cluster, i, *args).stdout.strip()
