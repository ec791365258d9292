"""``minked``: the daemon. Takes dockerd's flags (and ``daemon.json``), serves the API on
unix sockets and TCP (with TLS; see ``listeners``).

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
from minke.daemon import config as daemon_config
from minke.daemon import listeners, stackdump
from minke.daemon.wiring import build_engine
from minke.engine.engine import EngineConfig
from minke.engine.images.registry import RegistryConfig
from minke.errors import MinkeError
from minke.swarm.manager.resources import parse_node_generic
from minke.swarm.store.settings import StoreSettings

log = logging.getLogger("minked")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="minked", description="The minke container daemon")
    parser.add_argument("--data-root", default="/var/lib/minke", help="persistent state")
    parser.add_argument("--exec-root", default="/run/minke", help="runtime state")
    parser.add_argument("--config-file", default=None,
                        help="daemon configuration file "
                        f"(default {daemon_config.DEFAULT_CONFIG_FILE})")
    parser.add_argument("-H", "--host", action="append", default=None,
                        help="unix://PATH or tcp://ADDR:PORT to listen on, repeatable "
                        f"(default {listeners.DEFAULT_HOST})")
    parser.add_argument("--tls", nargs="?", const=True, default=None, type=_flag_bool,
                        metavar="BOOL", help="use TLS; implied by --tlsverify")
    parser.add_argument("--tlsverify", nargs="?", const=True, default=None, type=_flag_bool,
                        metavar="BOOL", help="use TLS and require client certificates "
                        "signed by --tlscacert")
    parser.add_argument("--tlscacert", default=None,
                        help="trust client certificates signed only by this CA "
                        "(default $DOCKER_CERT_PATH/ca.pem, else ~/.docker/ca.pem)")
    parser.add_argument("--tlscert", default=None, help="the server's TLS certificate "
                        "(default $DOCKER_CERT_PATH/cert.pem)")
    parser.add_argument("--tlskey", default=None, help="the server's TLS key "
                        "(default $DOCKER_CERT_PATH/key.pem)")
    parser.add_argument("--pidfile", default=None, help="write the daemon's PID here")
    parser.add_argument("-l", "--log-level", default="info",
                        choices=["debug", "info", "warn", "error", "fatal"])
    parser.add_argument("--default-runtime", default="runc", help="runc or crun")
    parser.add_argument("--cgroup-parent", default="minke",
                        help="cgroup under which containers are placed")
    parser.add_argument("--group", default="root", help="group owning the socket (mode 0660)")
    parser.add_argument("-b", "--bridge", default="minke0",
                        help="device of the default bridge network; also names the nftables "
                        "table (inet minke_<bridge>). A daemon holds it while it runs: a "
                        "second one given the same bridge refuses to start")
    parser.add_argument("--bip", default="",
                        help="address/prefix of the default bridge (default: a free pool)")
    parser.add_argument("--cleanup", action="store_true",
                        help="remove from the host what the stopped daemon on --data-root "
                        "with -b/--bridge made (bridges, addresses, firewall rules), then exit")
    parser.add_argument("--insecure-registry", action="append", default=[],
                        help="registry (host[:port] or CIDR) reached over plain HTTP or "
                        "without certificate checks; 127.0.0.0/8 always is")
    parser.add_argument("--node-generic-resource", action="append", default=[],
                        metavar="KIND=VALUE",
                        help="a resource this node offers swarm tasks: gpu=2 (a count) or "
                        "gpu=GPU-UUID (one named unit; repeat the flag)")
    parser.add_argument("--web", default=None, metavar="ADDR:PORT",
                        help="serve the web dashboard here (off by default); a non-loopback "
                        "address needs TLS (--tlscert/--tlskey) and --web-token-file")
    parser.add_argument("--web-token-file", default=None, metavar="PATH",
                        help="the token the dashboard asks for before actions (default: a "
                        "random one in EXEC-ROOT/web.token)")
    parser.add_argument("--cluster-store", default=None, metavar="etcd://HOST:PORT,...[/PREFIX]",
                        help="keep the swarm's state in this etcd cluster (several managers); "
                        "default: an SQLite file in the data root (one manager)")
    parser.add_argument("--cluster-store-cacert", default=None,
                        help="CA of the etcd servers (turns on TLS)")
    parser.add_argument("--cluster-store-cert", default=None, help="client certificate for etcd")
    parser.add_argument("--cluster-store-key", default=None, help="client key for etcd")
    parser.add_argument("--cluster-store-serve", nargs="?", const=True, default=False,
                        type=_flag_bool, help="run an etcd member (Debian's etcd) for the "
                        "cluster store, its data in DATA-ROOT/etcd, on the first "
                        "--cluster-store endpoint (default 127.0.0.1:2379)")
    parser.add_argument("--swarm-leader-lease", default=None, metavar="DURATION",
                        help="leader lease of the managers on etcd (default 2s): a new "
                        "leader is elected this long after the leader stops")
    try:
        args = daemon_config.parse(parser, argv)
        args.store_settings = StoreSettings.parse(
            args.cluster_store, cacert=args.cluster_store_cacert, cert=args.cluster_store_cert,
            key=args.cluster_store_key, serve=args.cluster_store_serve,
            leader_lease=args.swarm_leader_lease)
        args.listen, args.tls_settings = listeners.resolve(
            args.host, args.tls, args.tlsverify, args.tlscacert, args.tlscert, args.tlskey)
        # Certificates are read now, so that a missing file stops minked before it starts.
        args.tls_context = (listeners.server_context(args.tls_settings)
                            if args.tls_settings else None)
        args.generic_resources = parse_node_generic(args.node_generic_resource)
    except MinkeError as exc:
        sys.exit(f"minked: {exc}")
    return args


def _flag_bool(value: str) -> bool:
    """A boolean flag's value as Go's flag package reads it (--tls=false)."""
    if value in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if value in ("0", "f", "F", "false", "FALSE", "False"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean value {value!r}")


async def serve(args: argparse.Namespace) -> None:
    config = EngineConfig(
        data_root=Path(args.data_root), exec_root=Path(args.exec_root),
        cgroup_parent=args.cgroup_parent, bridge=args.bridge, bip=args.bip,
    )
    web_config = None
    if args.web:
        from minke import web as dashboard  # only a daemon that serves it loads it

        web_config = dashboard.resolve(args.web, token_file=args.web_token_file,
                                       tls=args.tls_settings, exec_root=Path(args.exec_root))
    hosted = args.store_settings.server(config.data_root)  # --cluster-store-serve
    if hosted is not None:
        await asyncio.to_thread(hosted.start)
    engine = build_engine(config, runtime=args.default_runtime, store=args.store_settings,
                          generic_resources=args.generic_resources)
    engine.images.registries = RegistryConfig(insecure=args.insecure_registry)
    await engine.start()
    app = make_app(engine)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1)
    await runner.setup()
    await listeners.start(runner, args.listen, args.tls_context, group=args.group)
    web_runner = await dashboard.start(engine, web_config) if web_config else None
    if args.pidfile:
        Path(args.pidfile).write_text(str(os.getpid()))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    stackdump.install(loop, config.exec_root)
    await stop.wait()
    log.info("shutting down; containers keep running")
    if web_runner is not None:
        await web_runner.cleanup()
    await runner.cleanup()
    await engine.close()
    if hosted is not None:
        await asyncio.to_thread(hosted.stop)
    if args.pidfile:
        Path(args.pidfile).unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    level = {"warn": "WARNING", "fatal": "CRITICAL"}.get(args.log_level, args.log_level.upper())
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # pyroute2 logs every netlink message at debug level, which swamps minke's own debug
    # lines (lifecycle phase timings) and slows each container start. (Not "pyroute2"
    # itself: importing pyroute2 resets that logger's level.)
    logging.getLogger("pyroute2.netlink").setLevel(max(logging.INFO, logging.getLevelName(level)))
    if os.geteuid() != 0:
        sys.exit("minked must run as root")
    try:
        if args.cleanup:
            from minke.engine.network.service import clean_host

            clean_host(Path(args.data_root), args.bridge)
            return
        asyncio.run(serve(args))
    except MinkeError as exc:
        sys.exit(f"minked: {exc}")


if __name__ == "__main__":
    main()
