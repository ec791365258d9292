"""``stats`` and ``update``: containers' resource usage as docker prints it, and changing their
limits. The percentages are computed from the daemon's documents exactly as the docker CLI
computes them (``cpu_stats`` against ``precpu_stats``, memory without inactive file pages).
"""

from __future__ import annotations

import argparse
import threading
import time

from minke import errors
from minke.client import quote_name

from ..batch import for_each
from ..context import CLIError, Context, describe
from ..formatting import Row, render_list
from ..runopts import parse_restart, ram_in_bytes

# typing is imported only by type checkers: it costs milliseconds of CLI start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

DEFAULT_FORMAT = ("table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t"
                  "{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}")
TITLES = {
    "ID": "CONTAINER ID", "Container": "CONTAINER", "Name": "NAME", "CPUPerc": "CPU %",
    "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O",
    "BlockIO": "BLOCK I/O", "PIDs": "PIDS",
}
REFRESH = 1.0  # s between screens of a streaming `stats`, as docker's
_CLEAR = "\033[2J\033[H"


def configure_stats(p: argparse.ArgumentParser) -> None:
    p.add_argument("-a", "--all", action="store_true",
                   help="Show all containers (default shows just running)")
    p.add_argument("--format", metavar="string", help="Format output using a custom template")
    p.add_argument("--no-stream", action="store_true",
                   help="Disable streaming stats and only pull the first result")
    p.add_argument("--no-trunc", action="store_true", help="Do not truncate output")
    p.add_argument("containers", metavar="CONTAINER", nargs="*")


def do_stats(ctx: Context, args: argparse.Namespace) -> int:
    names = args.containers or _running(ctx, args.all)
    while True:
        rows, failures = _collect(ctx, names, trunc=not args.no_trunc)
        if failures and args.containers:
            raise CLIError("\n".join(failures))
        if not args.no_stream:
            ctx.stdout.write(_CLEAR)
        render_list(ctx.stdout, rows, args.format, default=DEFAULT_FORMAT, titles=TITLES)
        ctx.stdout.flush()
        if args.no_stream:
            return 0
        time.sleep(REFRESH)
        if not args.containers:
            names = _running(ctx, args.all)


def _running(ctx: Context, all_: bool) -> list[str]:
    return [c["Id"] for c in ctx.client.get("/containers/json", {"all": all_ or None}) or []]


def _collect(ctx: Context, names: list[str], *, trunc: bool) -> tuple[list[Row], list[str]]:
    """One document per container, fetched side by side (each may wait for its precpu)."""
    from minke.client import APIClient

    docs: dict[str, Any] = {}
    failures: dict[str, str] = {}

    def fetch(name: str) -> None:
        client = APIClient(ctx.client.host)
        try:
            docs[name] = client.get(f"/containers/{quote_name(name)}/stats", {"stream": False})
        except errors.MinkeError as exc:
            failures[name] = describe(exc)
        finally:
            client.close()

    threads = [threading.Thread(target=fetch, args=(n,), daemon=True) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows = [stats_row(docs[n], trunc=trunc, name=n) for n in names if n in docs]
    return rows, [failures[n] for n in names if n in failures]


def cpu_percent(doc: dict[str, Any]) -> float:
    """docker's ``calculateCPUPercentUnix``."""
    cpu, pre = doc.get("cpu_stats") or {}, doc.get("precpu_stats") or {}
    cpu_delta = (cpu.get("cpu_usage", {}).get("total_usage", 0)
                 - pre.get("cpu_usage", {}).get("total_usage", 0))
    system_delta = cpu.get("system_cpu_usage", 0) - pre.get("system_cpu_usage", 0)
    online = cpu.get("online_cpus") or len(cpu.get("cpu_usage", {}).get("percpu_usage") or [])
    if system_delta > 0 and cpu_delta > 0:
        return cpu_delta / system_delta * online * 100.0
    return 0.0


def memory_usage(memory: dict[str, Any]) -> int:
    """Usage without the page cache the kernel can drop at once (docker's
    ``calculateMemUsageUnixNoCache``: v1 ``total_inactive_file``, v2 ``inactive_file``)."""
    stats = memory.get("stats") or {}
    usage = int(memory.get("usage") or 0)
    inactive = stats.get("total_inactive_file", stats.get("inactive_file", 0))
    return usage - inactive if inactive < usage else usage


def stats_row(doc: dict[str, Any], *, trunc: bool, name: str) -> Row:
    memory = doc.get("memory_stats") or {}
    used, limit = memory_usage(memory), int(memory.get("limit") or 0)
    rx = sum(n.get("rx_bytes", 0) for n in (doc.get("networks") or {}).values())
    tx = sum(n.get("tx_bytes", 0) for n in (doc.get("networks") or {}).values())
    read = write = 0
    for entry in (doc.get("blkio_stats") or {}).get("io_service_bytes_recursive") or []:
        op = str(entry.get("op", "")).lower()
        read += entry.get("value", 0) if op == "read" else 0
        write += entry.get("value", 0) if op == "write" else 0
    running = not str(doc.get("read", "")).startswith("0001")
    cid = str(doc.get("id") or name)
    fields = {
        "ID": cid[:12] if trunc else cid,
        "Container": name,
        "Name": str(doc.get("name") or "").lstrip("/") or "--",
        "CPUPerc": f"{cpu_percent(doc):.2f}%" if running else "0.00%",
        "MemUsage": f"{bytes_size(used)} / {bytes_size(limit)}",
        "MemPerc": f"{used / limit * 100:.2f}%" if limit else "0.00%",
        "NetIO": f"{human_size(rx)} / {human_size(tx)}",
        "BlockIO": f"{human_size(read)} / {human_size(write)}",
        "PIDs": str((doc.get("pids_stats") or {}).get("current", 0)),
    }
    return Row(fields)


def _scaled(size: float, base: float, units: list[str], digits: int) -> str:
    i = 0
    while size >= base and i < len(units) - 1:
        size /= base
        i += 1
    return f"{size:.{digits}g}{units[i]}"


def human_size(size: float) -> str:
    """go-units ``HumanSizeWithPrecision(size, 3)``: decimal (``1.23kB``)."""
    return _scaled(size, 1000.0, ["B", "kB", "MB", "GB", "TB", "PB"], 3)


def bytes_size(size: float) -> str:
    """go-units ``BytesSize``: binary (``64MiB``, ``1.953GiB``)."""
    return _scaled(size, 1024.0, ["B", "KiB", "MiB", "GiB", "TiB", "PiB"], 4)


def configure_update(p: argparse.ArgumentParser) -> None:
    p.add_argument("--blkio-weight", metavar="uint16", type=int, help="Block IO weight")
    p.add_argument("--cpu-period", metavar="int", type=int, help="Limit CPU CFS period")
    p.add_argument("--cpu-quota", metavar="int", type=int, help="Limit CPU CFS quota")
    p.add_argument("--cpu-rt-period", metavar="int", type=int, help="Limit the CPU real-time "
                   "period in microseconds")
    p.add_argument("--cpu-rt-runtime", metavar="int", type=int, help="Limit the CPU real-time "
                   "runtime in microseconds")
    p.add_argument("-c", "--cpu-shares", metavar="int", type=int, help="CPU shares")
    p.add_argument("--cpus", metavar="decimal", type=float, help="Number of CPUs")
    p.add_argument("--cpuset-cpus", metavar="string", help="CPUs in which to allow execution")
    p.add_argument("--cpuset-mems", metavar="string", help="MEMs in which to allow execution")
    p.add_argument("-m", "--memory", metavar="bytes", help="Memory limit")
    p.add_argument("--memory-reservation", metavar="bytes", help="Memory soft limit")
    p.add_argument("--memory-swap", metavar="bytes", help="Swap limit equal to memory plus "
                   "swap: -1 to enable unlimited swap")
    p.add_argument("--pids-limit", metavar="int", type=int, help="Tune container pids limit "
                   "(set -1 for unlimited)")
    p.add_argument("--restart", metavar="string", help="Restart policy to apply when a "
                   "container exits")
    p.add_argument("containers", metavar="CONTAINER", nargs="+")


def update_body(args: argparse.Namespace) -> dict[str, Any]:
    """The ``POST /containers/{id}/update`` body of the flags given (docker's UpdateConfig)."""
    body: dict[str, Any] = {
        "BlkioWeight": args.blkio_weight,
        "CpuPeriod": args.cpu_period,
        "CpuQuota": args.cpu_quota,
        "CpuRealtimePeriod": args.cpu_rt_period,
        "CpuRealtimeRuntime": args.cpu_rt_runtime,
        "CpuShares": args.cpu_shares,
        "NanoCpus": int(round(args.cpus * 1e9)) if args.cpus is not None else None,
        "CpusetCpus": args.cpuset_cpus,
        "CpusetMems": args.cpuset_mems,
        "Memory": ram_in_bytes(args.memory, "-m, --memory"),
        "MemoryReservation": ram_in_bytes(args.memory_reservation, "--memory-reservation"),
        "MemorySwap": ram_in_bytes(args.memory_swap, "--memory-swap"),
        "PidsLimit": args.pids_limit,
        "RestartPolicy": parse_restart(args.restart) if args.restart else None,
    }
    return {k: v for k, v in body.items() if v is not None}


def do_update(ctx: Context, args: argparse.Namespace) -> int:
    body = update_body(args)
    if not body:
        raise CLIError("you must provide one or more flags when using this command", 1)

    def act(name: str) -> None:
        doc = ctx.client.post(f"/containers/{quote_name(name)}/update", body=body) or {}
        for warning in doc.get("Warnings") or []:
            ctx.err(f"WARNING: {warning}")

    return for_each(ctx, args.containers, act)
