"""``minke swarm init|leave|update|join-token|unlock-key|unlock|inspect``, with docker's
flags and texts (the docker CLI's ``swarm`` command)."""

from __future__ import annotations

import argparse
import sys

from ..context import CLIError, Context
from ..units import parse_go_duration

# typing is imported only by type checkers: it costs milliseconds of CLI start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

SECOND = 1_000_000_000


def _duration_ns(value: str, flag: str) -> int:
    seconds = parse_go_duration(value)
    if seconds is None:
        raise CLIError(f'invalid argument "{value}" for "{flag}" flag: time: invalid '
                       f'duration "{value}"', 125)
    return int(seconds * SECOND)


def _add_spec_flags(p: argparse.ArgumentParser, *, defaults: bool) -> None:
    """The cluster-spec flags of ``init`` and ``update``; only those given are sent."""
    p.add_argument("--autolock", nargs="?", const=True, default=None,
                   type=lambda v: v.lower() in ("1", "true", "t"), metavar="bool",
                   help="Enable manager autolocking (requiring an unlock key to start a "
                   "stopped manager)")
    p.add_argument("--cert-expiry", metavar="duration",
                   help="Validity period for node certificates (ns|us|ms|s|m|h)"
                   + (' (default 2160h0m0s)' if defaults else ""))
    p.add_argument("--dispatcher-heartbeat", metavar="duration",
                   help="Dispatcher heartbeat period (ns|us|ms|s|m|h)"
                   + (" (default 5s)" if defaults else ""))
    p.add_argument("--max-snapshots", metavar="uint", type=int,
                   help="Number of additional Raft snapshots to retain")
    p.add_argument("--snapshot-interval", metavar="uint", type=int,
                   help="Number of log entries between Raft snapshots"
                   + (" (default 10000)" if defaults else ""))
    p.add_argument("--task-history-limit", metavar="int", type=int,
                   help="Task history retention limit" + (" (default 5)" if defaults else ""))


def _apply_spec_flags(spec: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    if args.task_history_limit is not None:
        spec.setdefault("Orchestration", {})["TaskHistoryRetentionLimit"] = \
            args.task_history_limit
    if args.dispatcher_heartbeat is not None:
        spec.setdefault("Dispatcher", {})["HeartbeatPeriod"] = \
            _duration_ns(args.dispatcher_heartbeat, "--dispatcher-heartbeat")
    if args.cert_expiry is not None:
        spec.setdefault("CAConfig", {})["NodeCertExpiry"] = \
            _duration_ns(args.cert_expiry, "--cert-expiry")
    if args.max_snapshots is not None:
        spec.setdefault("Raft", {})["KeepOldSnapshots"] = args.max_snapshots
    if args.snapshot_interval is not None:
        spec.setdefault("Raft", {})["SnapshotInterval"] = args.snapshot_interval
    if args.autolock is not None:
        spec.setdefault("EncryptionConfig", {})["AutoLockManagers"] = args.autolock
    return spec


def _unlock_text(key: str) -> str:
    return ("To unlock a swarm manager after it restarts, run the `minke swarm unlock`\n"
            f"command and provide the following key:\n\n    {key}\n\n"
            "Remember to store this key in a password manager, since without it you\n"
            "will not be able to restart the manager.\n")


def configure_swarm_init(p: argparse.ArgumentParser) -> None:
    p.add_argument("--advertise-addr", metavar="string",
                   help="Advertised address (format: <ip|interface>[:port])")
    p.add_argument("--availability", metavar="string", default="active",
                   help='Availability of the node ("active"|"pause"|"drain") '
                   '(default "active")')
    p.add_argument("--data-path-addr", metavar="string",
                   help="Address or interface to use for data path traffic")
    p.add_argument("--data-path-port", metavar="uint32", type=int, default=0,
                   help="Port number to use for data path traffic (1024 - 49151). "
                   "If no value is set or is set to 0, the default port (4789) is used.")
    p.add_argument("--default-addr-pool", metavar="ipNetSlice", action="append", default=[],
                   help="default address pool in CIDR format")
    p.add_argument("--default-addr-pool-mask-length", metavar="uint32", type=int, default=24,
                   help="default address pool subnet mask length (default 24)")
    p.add_argument("--force-new-cluster", action="store_true",
                   help="Force create a new cluster from current state")
    p.add_argument("--listen-addr", metavar="node-addr", default="0.0.0.0:2377",
                   help='Listen address (format: <ip|interface>[:port]) '
                   '(default 0.0.0.0:2377)')
    _add_spec_flags(p, defaults=True)


def do_swarm_init(ctx: Context, args: argparse.Namespace) -> int:
    autolock = bool(args.autolock)
    request = {
        "ListenAddr": args.listen_addr, "AdvertiseAddr": args.advertise_addr or "",
        "DataPathAddr": args.data_path_addr or "", "DataPathPort": args.data_path_port,
        "DefaultAddrPool": [p for pools in args.default_addr_pool for p in pools.split(",")]
        or None,
        "SubnetSize": args.default_addr_pool_mask_length,
        "ForceNewCluster": args.force_new_cluster, "Availability": args.availability,
        "AutoLockManagers": autolock,
        "Spec": _apply_spec_flags({}, args),
    }
    node_id = ctx.client.post("/swarm/init", body=request)
    ctx.stdout.write(f"Swarm initialized: current node ({node_id}) is now a manager.\n\n")
    _print_join_command(ctx, node_id, worker=True, manager=False)
    ctx.stdout.write("To add a manager to this swarm, run 'minke swarm join-token manager' "
                     "and follow the instructions.\n\n")
    if autolock:
        key = ctx.client.get("/swarm/unlockkey").get("UnlockKey", "")
        if key:
            ctx.stdout.write(_unlock_text(key))
    return 0


def _print_join_command(ctx: Context, node_id: str, *, worker: bool, manager: bool) -> None:
    swarm = ctx.client.get("/swarm")
    node = ctx.client.get(f"/nodes/{node_id}")
    addr = (node.get("ManagerStatus") or {}).get("Addr")
    if not addr:
        return
    for role, wanted in (("worker", worker), ("manager", manager)):
        if wanted:
            token = swarm["JoinTokens"][role.capitalize()]
            ctx.stdout.write(f"To add a {role} to this swarm, run the following command:\n\n"
                             f"    minke swarm join --token {token} {addr}\n\n")


def configure_swarm_leave(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--force", action="store_true",
                   help="Force this node to leave the swarm, ignoring warnings")


def do_swarm_leave(ctx: Context, args: argparse.Namespace) -> int:
    ctx.client.call("POST", "/swarm/leave", params={"force": True} if args.force else None)
    ctx.stdout.write("Node left the swarm.\n")
    return 0


def configure_swarm_update(p: argparse.ArgumentParser) -> None:
    _add_spec_flags(p, defaults=False)


def do_swarm_update(ctx: Context, args: argparse.Namespace) -> int:
    swarm = ctx.client.get("/swarm")
    was_locked = swarm["Spec"].get("EncryptionConfig", {}).get("AutoLockManagers", False)
    spec = _apply_spec_flags(swarm["Spec"], args)
    ctx.client.call("POST", "/swarm/update", params={"version": swarm["Version"]["Index"]},
                    body=spec)
    ctx.stdout.write("Swarm updated.\n")
    if args.autolock and not was_locked:
        key = ctx.client.get("/swarm/unlockkey").get("UnlockKey", "")
        if key:
            ctx.stdout.write(_unlock_text(key))
    return 0


def configure_swarm_join_token(p: argparse.ArgumentParser) -> None:
    p.add_argument("-q", "--quiet", action="store_true", help="Only display token")
    p.add_argument("--rotate", action="store_true", help="Rotate join token")
    p.add_argument("role", metavar="(worker|manager)")


def do_swarm_join_token(ctx: Context, args: argparse.Namespace) -> int:
    if args.role not in ("worker", "manager"):
        raise CLIError(f"unknown role {args.role}")
    if args.rotate:
        swarm = ctx.client.get("/swarm")
        flag = "rotateWorkerToken" if args.role == "worker" else "rotateManagerToken"
        ctx.client.call("POST", "/swarm/update",
                        params={"version": swarm["Version"]["Index"], flag: True},
                        body=swarm["Spec"])
        if not args.quiet:
            ctx.stdout.write(f"Successfully rotated {args.role} join token.\n\n")
    if args.quiet:
        swarm = ctx.client.get("/swarm")
        ctx.stdout.write(swarm["JoinTokens"][args.role.capitalize()] + "\n")
        return 0
    node_id = ctx.client.get("/info")["Swarm"]["NodeID"]
    _print_join_command(ctx, node_id, worker=args.role == "worker",
                        manager=args.role == "manager")
    return 0


def configure_swarm_unlock_key(p: argparse.ArgumentParser) -> None:
    p.add_argument("-q", "--quiet", action="store_true", help="Only display token")
    p.add_argument("--rotate", action="store_true", help="Rotate unlock key")


def do_swarm_unlock_key(ctx: Context, args: argparse.Namespace) -> int:
    if args.rotate:
        swarm = ctx.client.get("/swarm")
        if not swarm["Spec"].get("EncryptionConfig", {}).get("AutoLockManagers"):
            raise CLIError("cannot rotate because autolock is not turned on")
        ctx.client.call("POST", "/swarm/update",
                        params={"version": swarm["Version"]["Index"],
                                "rotateManagerUnlockKey": True}, body=swarm["Spec"])
        if not args.quiet:
            ctx.stdout.write("Successfully rotated manager unlock key.\n\n")
    key = ctx.client.get("/swarm/unlockkey").get("UnlockKey", "")
    if not key:
        raise CLIError("no unlock key is set")
    ctx.stdout.write(key + "\n" if args.quiet else _unlock_text(key))
    return 0


def configure_swarm_unlock(p: argparse.ArgumentParser) -> None:
    pass


def do_swarm_unlock(ctx: Context, args: argparse.Namespace) -> int:
    state = ctx.client.get("/info")["Swarm"]["LocalNodeState"]
    if state == "inactive":
        raise CLIError("Error: This node is not part of a swarm")
    if state != "locked":
        raise CLIError("Error: swarm is not locked")
    if sys.stdin.isatty():
        import getpass

        key = getpass.getpass("Please enter unlock key: ")
    else:
        key = sys.stdin.readline()
    ctx.client.call("POST", "/swarm/unlock", body={"UnlockKey": key.strip()})
    return 0


def configure_swarm_migrate_store(p: argparse.ArgumentParser) -> None:
    p.add_argument("--to", required=True, metavar="etcd://HOST:PORT,...[/PREFIX]",
                   help="the etcd cluster (and key prefix) to move the state to")
    p.add_argument("--cacert", metavar="path", help="CA of the etcd servers (TLS)")
    p.add_argument("--cert", metavar="path", help="client certificate for etcd")
    p.add_argument("--key", metavar="path", help="client key for etcd")


def do_swarm_migrate_store(ctx: Context, args: argparse.Namespace) -> int:
    body = {"To": args.to, "CACert": args.cacert, "Cert": args.cert, "Key": args.key}
    moved = ctx.client.json("POST", "/swarm/store",
                            body={k: v for k, v in body.items() if v is not None})
    ctx.stdout.write(f"Moved {moved['Objects']} objects to {moved['Store']}; this manager now "
                     "uses it (and will after a restart).\n")
    return 0


def configure_swarm_inspect(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--format", metavar="string", help="Format output using a template")


def do_swarm_inspect(ctx: Context, args: argparse.Namespace) -> int:
    from ..formatting import render_inspect

    render_inspect(ctx.stdout, args.format, [ctx.client.get("/swarm")])
    return 0


def _raft_and_ca_lines(spec: dict[str, Any]) -> list[str]:
    from ..units import human_duration

    raft, ca = spec.get("Raft", {}), spec.get("CAConfig", {})
    lines = ["  Raft:", f"   Snapshot Interval: {raft.get('SnapshotInterval', 0)}"]
    if "KeepOldSnapshots" in raft:
        lines.append(f"   Number of Old Snapshots to Retain: {raft['KeepOldSnapshots']}")
    heartbeat = spec.get("Dispatcher", {}).get("HeartbeatPeriod", 0) / SECOND
    lines += [f"   Heartbeat Tick: {raft.get('HeartbeatTick', 0)}",
              f"   Election Tick: {raft.get('ElectionTick', 0)}",
              "  Dispatcher:", f"   Heartbeat Period: {human_duration(heartbeat)}",
              "  CA Configuration:",
              f"   Expiry Duration: {human_duration(ca.get('NodeCertExpiry', 0) / SECOND)}",
              f"   Force Rotate: {ca.get('ForceRotate', 0)}"]
    external = ca.get("ExternalCAs") or []
    if external:
        lines.append("   External CAs:")
        lines += [f"     {e.get('Protocol', '')}: {e.get('URL', '')}" for e in external]
    return lines


def info_lines(swarm: dict[str, Any]) -> list[str]:
    """The ``Swarm:`` part of ``minke info``, as docker prints it."""
    state = swarm.get("LocalNodeState") or "inactive"
    lines = [f" Swarm: {state}"]
    if state != "active":
        if swarm.get("Error"):
            lines.append(f"  Error: {swarm['Error']}")
        return lines
    lines += [f"  NodeID: {swarm['NodeID']}",
              f"  Is Manager: {str(bool(swarm.get('ControlAvailable'))).lower()}"]
    cluster = swarm.get("Cluster")
    if swarm.get("ControlAvailable") and cluster:
        spec = cluster["Spec"]
        lines += [f"  ClusterID: {cluster['ID']}", f"  Managers: {swarm.get('Managers', 0)}",
                  f"  Nodes: {swarm.get('Nodes', 0)}",
                  f"  Data Path Port: {cluster.get('DataPathPort', 4789)}",
                  "  Orchestration:",
                  "   Task History Retention Limit: "
                  f"{spec.get('Orchestration', {}).get('TaskHistoryRetentionLimit', 0)}"]
        lines += _raft_and_ca_lines(spec)
        autolock = spec.get("EncryptionConfig", {}).get("AutoLockManagers", False)
        lines += [f"  Autolock Managers: {str(autolock).lower()}",
                  "  Root Rotation In Progress: "
                  f"{str(cluster.get('RootRotationInProgress', False)).lower()}"]
    lines.append(f"  Node Address: {swarm.get('NodeAddr', '')}")
    managers = swarm.get("RemoteManagers") or []
    if managers:
        lines.append("  Manager Addresses:")
        lines += [f"   {m['Addr']}" for m in sorted(managers, key=lambda m: m["Addr"])]
    return lines
