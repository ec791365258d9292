"""``minked``: the daemon. Takes dockerd's flags, serves the API on a unix socket.

Stopping minked (SIGTERM, SIGINT) or killing it leaves containers running; the next minked
on the same roots finds them again (live restore).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

from aiohttp import web

from minke.api.app import make_app
from minke.daemon.wiring import build_engine
from minke.engine.engine import EngineConfig
from minke.engine.images.registry import RegistryConfig
from minke.errors import MinkeError

log = logging.getLogger("minked")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="minked", description="The minke container daemon")
    parser.add_argument("--data-root", default="/var/lib/minke", help="persistent state")
    parser.add_argument("--exec-root", default="/run/minke", help="runtime state")
    parser.add_argument("-H", "--host", action="append", default=None,
                        help="unix://PATH socket to listen on (default unix:///run/minke/minke.sock)")
    parser.add_argument("--pidfile", default=None, help="write the daemon's PID here")
    parser.add_argument("-l", "--log-level", default="info",
                        choices=["debug", "info", "warn", "error", "fatal"])
    parser.add_argument("--default-runtime", default="runc", help="runc or crun")
    parser.add_argument("--cgroup-parent", default="minke",
                        help="cgroup under which containers are placed")
    parser.add_argument("--group", default="root", help="group owning the socket (mode 0660)")
    parser.add_argument("-b", "--bridge", default="minke0",
                        help="device of the default bridge network; also names the nftables "
                        "table (inet minke_<bridge>), so it must be unique per daemon")
    parser.add_argument("--bip", default="",
                        help="address/prefix of the default bridge (default: a free pool)")
    parser.add_argument("--insecure-registry", action="append", default=[],
                        help="registry (host[:port] or CIDR) reached over plain HTTP or "
                        "without certificate checks; 127.0.0.0/8 always is")
    args = parser.parse_args(argv)
    args.host = args.host or ["unix:///run/minke/minke.sock"]
    for host in args.host:
        if not host.startswith("unix://"):
            parser.error(f"unsupported host {host!r}: only unix:// sockets are served")
    return args


async def serve(args: argparse.Namespace) -> None:
    config = EngineConfig(
        data_root=Path(args.data_root), exec_root=Path(args.exec_root),
        cgroup_parent=args.cgroup_parent, bridge=args.bridge, bip=args.bip,
    )
    engine = build_engine(config, runtime=args.default_runtime)
    engine.images.registries = RegistryConfig(insecure=args.insecure_registry)
    await engine.start()
    app = make_app(engine)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1)
    await runner.setup()
    for host in args.host:
        path = Path(host[len("unix://"):])
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_socket():
            path.unlink()
        site = web.UnixSite(runner, str(path))
        await site.start()
        os.chmod(path, 0o660)
        _chgrp(path, args.group)
        log.info("API listening on %s", path)
    if args.pidfile:
        Path(args.pidfile).write_text(str(os.getpid()))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down; containers keep running")
    await runner.cleanup()
    await engine.close()
    if args.pidfile:
        Path(args.pidfile).unlink(missing_ok=True)


def _chgrp(path: Path, group: str) -> None:
    import grp

    try:
        os.chown(path, -1, grp.getgrnam(group).gr_gid)
    except KeyError:
        log.warning("group %s does not exist; socket stays root:root", group)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    level = {"warn": "WARNING", "fatal": "CRITICAL"}.get(args.log_level, args.log_level.upper())
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if os.geteuid() != 0:
        sys.exit("minked must run as root")
    try:
        asyncio.run(serve(args))
    except MinkeError as exc:
        sys.exit(f"minked: {exc}")


if __name__ == "__main__":
    main()
