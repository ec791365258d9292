"""``minke compose`` commands that act on existing containers or run one more:
start, stop, restart, kill, pause, unpause, rm, logs, exec, run, build, pull, push,
wait, scale, events."""

from __future__ import annotations

import argparse
import json
import sys

from minke import errors
from minke.cli.context import CLIError, Context
from minke.client import quote_name

from .. import hooks, model
from ..executor import UpOptions
from .commands_base import project_for

TYPE_CHECKING = False  # typing costs milliseconds of start-up: for type checkers only
if TYPE_CHECKING:
    from typing import Any


def _services(p: argparse.ArgumentParser) -> None:
    p.add_argument("services", nargs="*", metavar="SERVICE")


def _each(ctx: Context, args: argparse.Namespace, verb: str, action: str,
          params: dict[str, Any] | None = None, states: tuple[str, ...] = ()) -> int:
    project, ex = project_for(ctx, args, args.services)
    found = ex.containers(services=args.services)
    if states:
        found = [c for c in found if c.get("State") in states]
    order = project.order()
    found.sort(key=lambda c: order.index(c["Labels"][model.SERVICE])
               if c["Labels"][model.SERVICE] in order else -1,
               reverse=verb in ("Stopping", "Killing", "Restarting", "Pausing"))
    for c in found:
        name = c["Names"][0].lstrip("/")
        service = c["Labels"].get(model.SERVICE, "")
        ex.print(f" Container {name}  {verb}")
        if action in ("stop", "restart") and c.get("State") == "running":
            hooks.pre_stop(ex, c["Id"], service)  # as Compose: before the stop signal
        try:
            ex.api.post(f"/containers/{c['Id']}/{action}", params)
        except errors.NotModified:
            pass
        if action == "restart" or (action == "start" and c.get("State") != "running"):
            hooks.post_start(ex, c["Id"], service)
    return 0


def configure_start(p: argparse.ArgumentParser) -> None:
    _services(p)


def do_start(ctx: Context, args: argparse.Namespace) -> int:
    return _each(ctx, args, "Starting", "start")


def configure_stop(p: argparse.ArgumentParser) -> None:
    p.add_argument("-t", "--timeout", type=int)
    _services(p)


def do_stop(ctx: Context, args: argparse.Namespace) -> int:
    return _each(ctx, args, "Stopping", "stop",
                 {"t": args.timeout} if args.timeout is not None else None, ("running",))


def do_restart(ctx: Context, args: argparse.Namespace) -> int:
    return _each(ctx, args, "Restarting", "restart",
                 {"t": args.timeout} if args.timeout is not None else None)


def configure_kill(p: argparse.ArgumentParser) -> None:
    p.add_argument("-s", "--signal", default="SIGKILL")
    p.add_argument("--remove-orphans", action="store_true")
    _services(p)


def do_kill(ctx: Context, args: argparse.Namespace) -> int:
    return _each(ctx, args, "Killing", "kill", {"signal": args.signal}, ("running",))


def do_pause(ctx: Context, args: argparse.Namespace) -> int:
    return _each(ctx, args, "Pausing", "pause", None, ("running",))


def do_unpause(ctx: Context, args: argparse.Namespace) -> int:
    return _each(ctx, args, "Unpausing", "unpause", None, ("paused",))


def configure_rm(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("-s", "--stop", action="store_true")
    p.add_argument("-v", "--volumes", action="store_true")
    _services(p)


def do_rm(ctx: Context, args: argparse.Namespace) -> int:
    _, ex = project_for(ctx, args, args.services)
    found = ex.containers(services=args.services)
    if args.stop:
        for c in found:
            if c.get("State") == "running":
                ex.api.post(f"/containers/{c['Id']}/stop")
        found = ex.containers(services=args.services)
    doomed = [c for c in found if c.get("State") not in ("running", "paused", "restarting")]
    if not doomed:
        ex.print("No stopped containers")
        return 0
    for c in doomed:
        name = c["Names"][0].lstrip("/")
        ex.print(f" Container {name}  Removing")
        ex.remove(c["Id"], force=True, volumes=args.volumes)
        ex.print(f" Container {name}  Removed")
    return 0


def configure_logs(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--follow", action="store_true")
    p.add_argument("-n", "--tail", default="all")
    p.add_argument("-t", "--timestamps", action="store_true")
    p.add_argument("--since")
    p.add_argument("--until")
    p.add_argument("--no-color", action="store_true")
    p.add_argument("--no-log-prefix", action="store_true")
    _services(p)


def do_logs(ctx: Context, args: argparse.Namespace) -> int:
    _, ex = project_for(ctx, args, args.services)
    from . import attach as attach_mod  # threads and colours: only for logs

    return attach_mod.logs(ctx, ex, args.services, follow=args.follow, tail=args.tail,
                           timestamps=args.timestamps, since=args.since, until=args.until,
                           color=not args.no_color, prefix=not args.no_log_prefix)


def configure_exec(p: argparse.ArgumentParser) -> None:
    p.add_argument("-d", "--detach", action="store_true")
    p.add_argument("-e", "--env", action="append", default=[])
    p.add_argument("--index", type=int, default=1)
    p.add_argument("--privileged", action="store_true")
    p.add_argument("-T", "--no-TTY", dest="no_tty", action="store_true")
    p.add_argument("-u", "--user")
    p.add_argument("-w", "--workdir")
    p.add_argument("service")
    p.add_argument("command", nargs=argparse.REMAINDER)


def do_exec(ctx: Context, args: argparse.Namespace) -> int:
    _, ex = project_for(ctx, args, [args.service])
    target = None
    for c in ex.containers(services=[args.service]):
        if c["Labels"].get(model.NUMBER) == str(args.index) and c.get("State") == "running":
            target = c
    if target is None:
        raise CLIError(f"service \"{args.service}\" is not running", 1)
    argv = ["-i"] if not args.detach else ["-d"]
    if not args.no_tty and not args.detach and sys.stdin.isatty():
        argv.append("-t")
    for env in args.env:
        argv += ["-e", env]
    if args.user:
        argv += ["-u", args.user]
    if args.workdir:
        argv += ["-w", args.workdir]
    if args.privileged:
        argv.append("--privileged")
    if not args.command:
        raise CLIError("exec requires a command", 1)
    return _verb(ctx, "exec", "execute", [*argv, target["Id"], *args.command])


def _verb(ctx: Context, name: str, module: str, argv: list[str]) -> int:
    from minke.cli.commands import VERBS
    from minke.cli.main import _run_verb

    verb = VERBS[name]
    return _run_verb(ctx, name, module, f"minke {name}", verb.usage, verb.summary, argv, {})


def configure_run(p: argparse.ArgumentParser) -> None:
    p.add_argument("-d", "--detach", action="store_true")
    p.add_argument("--rm", action="store_true")
    p.add_argument("-e", "--env", action="append", default=[])
    p.add_argument("-l", "--label", action="append", default=[])
    p.add_argument("--name")
    p.add_argument("--entrypoint")
    p.add_argument("--no-deps", action="store_true")
    p.add_argument("-T", "--no-TTY", dest="no_tty", action="store_true")
    p.add_argument("-u", "--user")
    p.add_argument("-w", "--workdir")
    p.add_argument("-p", "--publish", action="append", default=[])
    p.add_argument("--service-ports", action="store_true")
    p.add_argument("--build", action="store_true")
    p.add_argument("service")
    p.add_argument("command", nargs=argparse.REMAINDER)


def do_run(ctx: Context, args: argparse.Namespace) -> int:
    from minke.cli.verbs.run import attached_start
    from minke.detachkeys import DEFAULT_DETACH_KEYS, parse_detach_keys

    project, ex = project_for(ctx, args, [args.service])
    deps = [d for d in project.with_dependencies([args.service]) if d != args.service]
    if deps and not args.no_deps:
        ex.up(UpOptions(services=deps, build=args.build))
    else:
        nets, vols = ex.resources_for([args.service])
        ex.ensure_networks(nets)
        ex.ensure_volumes(vols)
    from ..imaging import Images

    image_id = Images(ex).ensure([args.service], build=args.build)[args.service]
    svc = project.services[args.service]
    tty = not args.no_tty and not args.detach and sys.stdin.isatty()
    env = [f"{k}={v}" for k, v in (svc.get("environment") or {}).items() if v is not None]
    overrides: dict[str, Any] = {"Env": env + args.env, "Tty": tty,
                                 "OpenStdin": not args.detach, "AttachStdin": not args.detach,
                                 "StdinOnce": not args.detach}
    if args.command:
        overrides["Cmd"] = args.command
    if args.entrypoint is not None:
        overrides["Entrypoint"] = [args.entrypoint] if args.entrypoint else []
    if args.user:
        overrides["User"] = args.user
    if args.workdir:
        overrides["WorkingDir"] = args.workdir
    import secrets

    name = args.name or f"{project.name}-{args.service}-run-{secrets.token_hex(6)}"
    labels = dict(item.partition("=")[::2] for item in args.label)
    # One-off containers publish the service's ports only with --service-ports, as Compose.
    cid = ex.create(args.service, 1, project.image_name(args.service), image_id, name=name,
                    oneoff=True, overrides=overrides, labels=labels,
                    publish=args.service_ports)
    if args.detach:
        ctx.client.post(f"/containers/{cid}/start")
        ctx.stdout.write(name + "\n")
        return 0
    try:
        return attached_start(ctx, cid, tty=tty, stdin=True, stdout=True, stderr=True,
                              detach_keys=parse_detach_keys(DEFAULT_DETACH_KEYS),
                              raw_keys=None, wait_condition="next-exit", sig_proxy=True,
                              prog="minke compose run")
    finally:
        if args.rm:
            ex.remove(cid, force=True, volumes=True)


def configure_build(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-cache", action="store_true")
    p.add_argument("--pull", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")
    _services(p)


def do_build(ctx: Context, args: argparse.Namespace) -> int:
    from ..imaging import Images

    project, ex = project_for(ctx, args, args.services)
    images = Images(ex)
    for name in args.services or list(project.services):
        if project.services[name].get("build"):
            images.build(name)
    return 0


def do_pull(ctx: Context, args: argparse.Namespace) -> int:
    from ..imaging import Images

    project, ex = project_for(ctx, args, args.services)
    images = Images(ex)
    for name in args.services or list(project.services):
        svc = project.services[name]
        if svc.get("image"):
            images.pull(svc["image"], name)
    return 0


def do_push(ctx: Context, args: argparse.Namespace) -> int:
    project, ex = project_for(ctx, args, args.services)
    for name in args.services or list(project.services):
        svc = project.services[name]
        if not svc.get("build") or not svc.get("image"):
            continue
        ref = svc["image"]
        repo, _, tag = ref.rpartition(":") if ":" in ref.rsplit("/", 1)[-1] else (ref, "", "")
        ex.print(f" {name} Pushing")
        with ex.api.stream("POST", f"/images/{quote_name(repo or ref)}/push",
                           params={"tag": tag or "latest"},
                           headers={"X-Registry-Auth": "e30="}) as stream:
            for message in stream.json_messages():
                if message.get("error"):
                    raise CLIError(message["error"], 1)
        ex.print(f" {name} Pushed")
    return 0


def configure_wait(p: argparse.ArgumentParser) -> None:
    p.add_argument("--down-project", action="store_true")
    p.add_argument("services", nargs="+")


def do_wait(ctx: Context, args: argparse.Namespace) -> int:
    _, ex = project_for(ctx, args, args.services)
    code = 0
    for c in ex.containers(services=args.services):
        code = ex.api.post(f"/containers/{c['Id']}/wait").get("StatusCode", 0)
        ctx.stdout.write(f"{code}\n")
    if args.down_project:
        ex.down()
    return code


def configure_scale(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-deps", action="store_true")
    p.add_argument("scale", nargs="+", metavar="SERVICE=REPLICAS")


def do_scale(ctx: Context, args: argparse.Namespace) -> int:
    from .commands import _scale

    scale = _scale(args.scale)
    _, ex = project_for(ctx, args, list(scale))
    ex.up(UpOptions(services=list(scale), scale=scale, no_deps=args.no_deps))
    return 0


def configure_events(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true")
    _services(p)


def do_events(ctx: Context, args: argparse.Namespace) -> int:
    project, _ = project_for(ctx, args, args.services)
    filters = {"label": [f"{model.PROJECT}={project.name}"], "type": ["container"]}
    with ctx.client.stream("GET", "/events", params={"filters": filters}) as stream:
        for event in stream.json_messages():
            attrs = (event.get("Actor") or {}).get("Attributes") or {}
            service = attrs.get(model.SERVICE, "")
            if args.services and service not in args.services:
                continue
            if args.json:
                out = {"time": event.get("time"), "type": "container",
                       "action": event.get("Action") or event.get("status"),
                       "id": (event.get("Actor") or {}).get("ID"), "service": service,
                       "attributes": attrs}
                ctx.stdout.write(json.dumps(out) + "\n")
            else:
                ctx.stdout.write(f"{event.get('time')} container {event.get('Action')} "
                                 f"{(event.get('Actor') or {}).get('ID')} "
                                 f"(name={attrs.get('name', '')})\n")
            ctx.stdout.flush()
    return 0


def _timeout_services(p: argparse.ArgumentParser) -> None:
    p.add_argument("-t", "--timeout", type=int)
    _services(p)


COMMANDS = {
    "start": ("Start services", configure_start, do_start),
    "stop": ("Stop services", configure_stop, do_stop),
    "restart": ("Restart service containers", _timeout_services, do_restart),
    "kill": ("Force stop service containers", configure_kill, do_kill),
    "pause": ("Pause services", _services, do_pause),
    "unpause": ("Unpause services", _services, do_unpause),
    "rm": ("Removes stopped service containers", configure_rm, do_rm),
    "logs": ("View output from containers", configure_logs, do_logs),
    "exec": ("Execute a command in a running container", configure_exec, do_exec),
    "run": ("Run a one-off command on a service", configure_run, do_run),
    "build": ("Build or rebuild services", configure_build, do_build),
    "pull": ("Pull service images", _services, do_pull),
    "push": ("Push service images", _services, do_push),
    "wait": ("Block until containers of all (or specified) services stop.",
             configure_wait, do_wait),
    "scale": ("Scale services", configure_scale, do_scale),
    "events": ("Receive real time events from containers", configure_events, do_events),
}
