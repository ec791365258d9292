"""``minke service create|ls|ps|inspect|scale|update|rollback|rm``: docker's flags (the
ones users reach for), tables and texts; ``minke service lb`` (minke's: load balancing).
``create``, ``update``, ``scale`` and ``rollback`` wait, as docker's do without ``-d``, until
the service has converged."""

from __future__ import annotations

import argparse
import time

from minke.client import quote_name

from ..context import CLIError, Context
from ..filters import add_filter_option, filters_param, key_values
from ..formatting import Row, render_inspect, render_list

# typing is imported only by type checkers: it costs milliseconds of CLI start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

LS_FORMAT = "table {{.ID}}\t{{.Name}}\t{{.Mode}}\t{{.Replicas}}\t{{.Image}}\t{{.Ports}}"
LS_TITLES = {"ID": "ID", "Name": "NAME", "Mode": "MODE", "Replicas": "REPLICAS",
             "Image": "IMAGE", "Ports": "PORTS"}
PS_FORMAT = ("table {{.ID}}\t{{.Name}}\t{{.Image}}\t{{.Node}}\t{{.DesiredState}}\t"
             "{{.CurrentState}}\t{{.Error}}\t{{.Ports}}")
PS_TITLES = {"ID": "ID", "Name": "NAME", "Image": "IMAGE", "Node": "NODE",
             "DesiredState": "DESIRED STATE", "CurrentState": "CURRENT STATE",
             "Error": "ERROR", "Ports": "PORTS"}
PS_ERROR_WIDTH = 30  # docker truncates a task's error to this, "…" included
SECOND = 1_000_000_000


def _duration(text: str, flag: str) -> int:
    from minke.units import parse_go_duration

    value = parse_go_duration(text)
    if value is None:
        raise CLIError(f'invalid argument "{text}" for "{flag}" flag: time: invalid duration '
                       f'"{text}"', 125)
    return value


def _nano_cpus(text: str, flag: str) -> int:
    try:
        return int(round(float(text) * SECOND))
    except ValueError:
        raise CLIError(f'invalid argument "{text}" for "{flag}" flag: failed to parse '
                       f'{text} as a rational number', 125) from None


def _bytes(text: str, flag: str) -> int:
    from minke.units import ram_in_bytes

    value = ram_in_bytes(text)
    if value is None:
        raise CLIError(f'invalid argument "{text}" for "{flag}" flag: invalid size: '
                       f"'{text}'", 125)
    return value


def _add_spec_options(p: argparse.ArgumentParser, *, create: bool) -> None:
    """Flags ``create`` and ``update`` share (``update`` names list changes -add/-rm)."""
    p.add_argument("-d", "--detach", action="store_true",
                   help="Exit immediately instead of waiting for the service to converge")
    p.add_argument("-q", "--quiet", action="store_true", help="Suppress progress output")
    p.add_argument("--replicas", metavar="uint", type=int, help="Number of tasks")
    p.add_argument("--replicas-max-per-node", metavar="uint", type=int,
                   help="Maximum number of tasks per node (default 0 = unlimited)")
    p.add_argument("--hostname", metavar="string", help="Container hostname")
    p.add_argument("--stop-grace-period", metavar="duration",
                   help="Time to wait before force killing a container")
    for kind in ("limit", "reserve"):
        p.add_argument(f"--{kind}-cpu", metavar="decimal", help="CPUs")
        p.add_argument(f"--{kind}-memory", metavar="bytes", help="Memory")
    p.add_argument("--lb-strategy", metavar="string",
                   help="Load-balancing strategy (round-robin, random, least-connections, "
                   "cpu, network, source-hash): the label com.minke.lb.strategy")
    p.add_argument("--restart-condition", metavar="string",
                   help='Restart when condition is met ("none", "on-failure", "any")')
    p.add_argument("--restart-delay", metavar="duration", help="Delay between restart attempts")
    p.add_argument("--restart-max-attempts", metavar="uint", type=int,
                   help="Maximum number of restarts before giving up")
    p.add_argument("--restart-window", metavar="duration",
                   help="Window used to evaluate the restart policy")
    for kind in ("update", "rollback"):
        p.add_argument(f"--{kind}-parallelism", metavar="uint", type=int,
                       help="Maximum number of tasks updated simultaneously")
        p.add_argument(f"--{kind}-delay", metavar="duration", help="Delay between updates")
        p.add_argument(f"--{kind}-failure-action", metavar="string",
                       help='Action on failure ("pause", "continue", "rollback")')
        p.add_argument(f"--{kind}-monitor", metavar="duration",
                       help="Duration after each task update to monitor for failure")
        p.add_argument(f"--{kind}-order", metavar="string",
                       help='Order of operations ("start-first", "stop-first")')
    if create:
        p.add_argument("--name", metavar="string", help="Service name")
        p.add_argument("--mode", metavar="string", default="replicated",
                       help='Service mode ("replicated", "global", "replicated-job", '
                       '"global-job")')
        p.add_argument("--max-concurrent", metavar="uint", type=int,
                       help="Number of job tasks to run concurrently (default equal to "
                       "--replicas)")
        p.add_argument("-e", "--env", metavar="list", action="append", default=[],
                       help="Set environment variables")
        p.add_argument("-l", "--label", metavar="list", action="append", default=[],
                       help="Service labels")
        p.add_argument("--container-label", metavar="list", action="append", default=[],
                       help="Container labels")
        p.add_argument("--constraint", metavar="list", action="append", default=[],
                       help="Placement constraints")
        p.add_argument("--mount", metavar="mount", action="append", default=[],
                       help="Attach a filesystem mount to the service")
        p.add_argument("--placement-pref", metavar="pref", action="append", default=[],
                       help="Add a placement preference")
        p.add_argument("--generic-resource", metavar="list", action="append", default=[],
                       help="User defined resources (e.g. gpu=1), reserved by each task")
        p.add_argument("image", metavar="IMAGE")
        p.add_argument("command", metavar="COMMAND", nargs=argparse.REMAINDER)
    else:
        p.add_argument("--image", metavar="string", help="Service image tag")
        p.add_argument("--env-add", metavar="list", action="append", default=[],
                       help="Add or update an environment variable")
        p.add_argument("--env-rm", metavar="list", action="append", default=[],
                       help="Remove an environment variable")
        p.add_argument("--label-add", metavar="list", action="append", default=[],
                       help="Add or update a service label")
        p.add_argument("--label-rm", metavar="list", action="append", default=[],
                       help="Remove a label by its key")
        p.add_argument("--constraint-add", metavar="list", action="append", default=[],
                       help="Add or update a placement constraint")
        p.add_argument("--constraint-rm", metavar="list", action="append", default=[],
                       help="Remove a constraint")
        p.add_argument("--args", metavar="command", help="Service command args")
        p.add_argument("--generic-resource-add", metavar="list", action="append", default=[],
                       help="Add a Generic resource")
        p.add_argument("--generic-resource-rm", metavar="list", action="append", default=[],
                       help="Remove a Generic resource")
        p.add_argument("--force", action="store_true",
                       help="Force update even if no changes require it")
        p.add_argument("service", metavar="SERVICE")


def _apply(spec: dict[str, Any], args: argparse.Namespace) -> None:
    """Lay the flags given over ``spec`` (a ``ServiceSpec``)."""
    if args.lb_strategy:
        spec["Labels"] = {**(spec.get("Labels") or {}),
                          "com.minke.lb.strategy": args.lb_strategy}
    template = spec.setdefault("TaskTemplate", {})
    container = template.setdefault("ContainerSpec", {})
    if args.replicas is not None:
        if "ReplicatedJob" in spec.get("Mode", {}):
            spec["Mode"]["ReplicatedJob"]["TotalCompletions"] = args.replicas
        elif "Replicated" not in spec.get("Mode", {}):
            raise CLIError("replicas can only be used with replicated or replicated-job mode")
        else:
            spec["Mode"]["Replicated"]["Replicas"] = args.replicas
    if args.replicas_max_per_node is not None:
        template.setdefault("Placement", {})["MaxReplicas"] = args.replicas_max_per_node
    if args.hostname is not None:
        container["Hostname"] = args.hostname
    if args.stop_grace_period:
        container["StopGracePeriod"] = _duration(args.stop_grace_period,
                                                 "--stop-grace-period")
    for kind, key in (("limit", "Limits"), ("reserve", "Reservations")):
        cpu, memory = getattr(args, f"{kind}_cpu"), getattr(args, f"{kind}_memory")
        resources = template.setdefault("Resources", {}).setdefault(key, {})
        if cpu:
            resources["NanoCPUs"] = _nano_cpus(cpu, f"--{kind}-cpu")
        if memory:
            resources["MemoryBytes"] = _bytes(memory, f"--{kind}-memory")
    restart = template.get("RestartPolicy") or {}
    if args.restart_condition:
        restart["Condition"] = args.restart_condition
    if args.restart_delay:
        restart["Delay"] = _duration(args.restart_delay, "--restart-delay")
    if args.restart_max_attempts is not None:
        restart["MaxAttempts"] = args.restart_max_attempts
    if args.restart_window:
        restart["Window"] = _duration(args.restart_window, "--restart-window")
    if restart:
        template["RestartPolicy"] = restart
    for kind, key in (("update", "UpdateConfig"), ("rollback", "RollbackConfig")):
        config = spec.get(key) or {}
        if getattr(args, f"{kind}_parallelism") is not None:
            config["Parallelism"] = getattr(args, f"{kind}_parallelism")
        for flag, field in (("delay", "Delay"), ("monitor", "Monitor")):
            if getattr(args, f"{kind}_{flag}"):
                config[field] = _duration(getattr(args, f"{kind}_{flag}"), f"--{kind}-{flag}")
        for flag, field in (("failure_action", "FailureAction"), ("order", "Order")):
            if getattr(args, f"{kind}_{flag}"):
                config[field] = getattr(args, f"{kind}_{flag}")
        if config:
            spec[key] = config


def generic_resources(values: list[str]) -> list[dict[str, Any]]:
    """``--generic-resource gpu=1`` as the ``GenericResources`` a task reserves: counts
    only, as docker's CLI refuses named ones for a service."""
    out = []
    for value in values:
        kind, sep, count = value.partition("=")
        if not sep or not kind or not count.strip().isdigit():
            raise CLIError(f'invalid argument "{value}" for "--generic-resource" flag: '
                           "invalid generic resource specification: expected KIND=COUNT "
                           "(Named Generic Resources are not supported for service create "
                           "or update)", 125)
        out.append({"DiscreteResourceSpec": {"Kind": kind.strip(), "Value": int(count)}})
    return out


def _env_list(env: list[str]) -> list[str]:
    import os

    return [e if "=" in e or e not in os.environ else f"{e}={os.environ[e]}" for e in env]


def configure_service_create(p: argparse.ArgumentParser) -> None:
    _add_spec_options(p, create=True)


def do_service_create(ctx: Context, args: argparse.Namespace) -> int:
    from ..runopts import parse_mount

    modes = {"replicated": "Replicated", "global": "Global", "replicated-job": "ReplicatedJob",
             "global-job": "GlobalJob"}
    if args.mode not in modes:
        raise CLIError(f'invalid argument "{args.mode}" for "--mode" flag: invalid mode '
                       f'"{args.mode}"', 125)
    if args.mode.startswith("global") and args.replicas is not None:
        raise CLIError("replicas can only be used with replicated or replicated-job mode")
    if args.max_concurrent is not None and args.mode != "replicated-job":
        raise CLIError("max-concurrent can only be used with replicated-job mode")
    mode: dict[str, Any] = {modes[args.mode]: {}}
    if args.mode == "replicated":
        mode["Replicated"]["Replicas"] = 1
    elif args.mode == "replicated-job":
        # As docker's CLI: without --replicas the daemon completes MaxConcurrent tasks.
        mode["ReplicatedJob"] = {"MaxConcurrent": args.max_concurrent or args.replicas or 1}
        if args.replicas is not None:
            mode["ReplicatedJob"]["TotalCompletions"] = args.replicas
    container: dict[str, Any] = {"Image": args.image}
    if args.command:
        container["Args"] = args.command
    if args.env:
        container["Env"] = _env_list(args.env)
    if args.container_label:
        container["Labels"] = key_values(args.container_label, "--container-label",
                                         need_value=False)
    if args.mount:
        container["Mounts"] = [parse_mount(m) for m in args.mount]
    spec: dict[str, Any] = {
        "Name": args.name or "", "Labels": key_values(args.label, "--label", need_value=False),
        "Mode": mode,
        "TaskTemplate": {"ContainerSpec": container},
    }
    if args.constraint:
        spec["TaskTemplate"]["Placement"] = {"Constraints": args.constraint}
    for pref in args.placement_pref:
        strategy, _, descriptor = pref.partition("=")
        if strategy.lower() != "spread" or not descriptor:
            raise CLIError(f'invalid argument "{pref}" for "--placement-pref" flag: '
                           f"unsupported placement preference {strategy} (only spread is "
                           "supported)" if strategy.lower() != "spread" else
                           f'invalid argument "{pref}" for "--placement-pref" flag: '
                           "placement preference must be of the format "
                           '"<strategy>=<arg>"', 125)
        spec["TaskTemplate"].setdefault("Placement", {}).setdefault("Preferences", []).append(
            {"Spread": {"SpreadDescriptor": descriptor}})
    _apply(spec, args)
    if args.generic_resource:
        spec["TaskTemplate"].setdefault("Resources", {}).setdefault("Reservations", {})[
            "GenericResources"] = generic_resources(args.generic_resource)
    created = ctx.client.post("/services/create", body=spec)
    for warning in created.get("Warnings") or []:
        ctx.stderr.write(warning + "\n")
    ctx.stdout.write(created["ID"] + "\n")
    if not args.detach:
        _wait(ctx, created["ID"], quiet=args.quiet)
    return 0


def _wait(ctx: Context, service_id: str, *, quiet: bool) -> None:
    mode = ctx.client.get(f"/services/{service_id}")["Spec"]["Mode"]
    if "ReplicatedJob" in mode or "GlobalJob" in mode:  # a job converges by completing
        from ..jobprogress import wait_job

        wait_job(ctx, service_id, quiet=quiet)
        return
    from ..serviceprogress import wait

    wait(ctx, service_id, quiet=quiet)


def configure_service_ls(p: argparse.ArgumentParser) -> None:
    add_filter_option(p)
    p.add_argument("--format", metavar="string", help="Format output using a custom template")
    p.add_argument("-q", "--quiet", action="store_true", help="Only display IDs")


def _image(spec: dict[str, Any]) -> str:
    return spec["TaskTemplate"]["ContainerSpec"]["Image"].split("@", 1)[0]


def do_service_ls(ctx: Context, args: argparse.Namespace) -> int:
    params: dict[str, Any] = {"status": True}
    filters = filters_param(args.filter)
    if filters:
        params["filters"] = filters
    services = sorted(ctx.client.get("/services", params), key=lambda s: s["Spec"]["Name"])
    rows = []
    for service in services:
        spec, status = service["Spec"], service.get("ServiceStatus") or {}
        replicas = f"{status.get('RunningTasks', 0)}/{status.get('DesiredTasks', 0)}"
        max_per_node = (spec["TaskTemplate"].get("Placement") or {}).get("MaxReplicas")
        if max_per_node and "Replicated" in spec["Mode"]:
            replicas += f" (max {max_per_node} per node)"
        job = spec["Mode"].get("ReplicatedJob")
        if job is not None or "GlobalJob" in spec["Mode"]:  # docker's "1/1 (2/3 completed)"
            done = status.get("CompletedTasks", 0)
            total = job["TotalCompletions"] if job else status.get("DesiredTasks", 0) + done
            replicas += f" ({done}/{total} completed)"
        mode = next(iter(spec["Mode"]))
        rows.append(Row({"ID": service["ID"][:12], "Name": spec["Name"],
                         "Mode": {"ReplicatedJob": "replicated job", "GlobalJob": "global job",
                                  "Global": "global"}.get(mode, "replicated"),
                         "Replicas": replicas, "Image": _image(spec), "Ports": ""}))
    render_list(ctx.stdout, rows, args.format, default=LS_FORMAT, titles=LS_TITLES,
                quiet=args.quiet)
    return 0


def configure_service_ps(p: argparse.ArgumentParser) -> None:
    add_filter_option(p)
    p.add_argument("--format", metavar="string", help="Pretty-print tasks using a template")
    p.add_argument("--no-trunc", action="store_true", help="Do not truncate output")
    p.add_argument("-q", "--quiet", action="store_true", help="Only display task IDs")
    p.add_argument("services", metavar="SERVICE", nargs="+")


def do_service_ps(ctx: Context, args: argparse.Namespace) -> int:
    from minke.units import human_duration, parse_rfc3339

    filters = filters_param(args.filter) or {}
    rows = []
    nodes = {n["ID"]: n.get("Description", {}).get("Hostname", "")
             for n in ctx.client.get("/nodes")}
    named = []
    for ref in args.services:
        service = ctx.client.get(f"/services/{quote_name(ref)}")
        for task in ctx.client.get("/tasks", {"filters": {
                **filters, "service": {service["ID"]: True}}}):
            slot = task["Slot"] if task.get("Slot") else task.get("NodeID", "")
            named.append((f"{service['Spec']['Name']}.{slot}", task))
    # docker's order: task names in natural order, the newest first within one slot
    named.sort(key=lambda x: parse_rfc3339(x[1]["CreatedAt"]), reverse=True)
    named.sort(key=lambda x: _natural(x[0]))
    previous = None
    for task_name, task in named:
        shown = task_name if task_name != previous else f" \\_ {task_name}"
        previous = task_name
        status = task["Status"]
        ago = human_duration(time.time() - parse_rfc3339(status["Timestamp"]))
        err = status.get("Err", "")
        if err and not args.no_trunc and len(err) > PS_ERROR_WIDTH:
            err = err[:PS_ERROR_WIDTH - 1] + "…"
        image = task["Spec"]["ContainerSpec"]["Image"]
        ports = ",".join(f"*:{p.get('PublishedPort', 0)}->{p.get('TargetPort', 0)}/"
                         f"{p.get('Protocol', 'tcp')}"
                         for p in (status.get("PortStatus") or {}).get("Ports") or [])
        rows.append(Row({
            "ID": task["ID"] if args.no_trunc else task["ID"][:12], "Name": shown,
            "Image": image if args.no_trunc else image.split("@", 1)[0],
            "Node": nodes.get(task.get("NodeID", ""), ""),
            "DesiredState": task["DesiredState"].title(),
            "CurrentState": f"{status['State'].title()} {ago.lower()} ago",
            "Error": f'"{err}"' if err else "", "Ports": ports}))
    render_list(ctx.stdout, rows, args.format, default=PS_FORMAT, titles=PS_TITLES,
                quiet=args.quiet)
    return 0


def _natural(text: str) -> list[tuple[int, int | str]]:
    """A sort key ordering runs of digits by value ("web.2" before "web.10")."""
    import re

    return [(0, int(part)) if part.isdigit() else (1, part)
            for part in re.split(r"(\d+)", text) if part]


def configure_service_inspect(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--format", metavar="string", help="Format output using a template")
    p.add_argument("services", metavar="SERVICE", nargs="+")


def do_service_inspect(ctx: Context, args: argparse.Namespace) -> int:
    from ..context import describe

    found, failures = [], []
    for ref in args.services:
        try:
            found.append(ctx.client.get(f"/services/{quote_name(ref)}",
                                        {"insertDefaults": True}))
        except Exception as exc:  # reported as docker does, after the others
            failures.append(describe(exc))
    render_inspect(ctx.stdout, args.format, found)
    if failures:
        raise CLIError("\n".join(failures))
    return 0


LB_FORMAT = ("table {{.Task}}\t{{.Address}}\t{{.State}}\t{{.Weight}}\t{{.Connections}}\t"
             "{{.CPU}}\t{{.Bytes}}\t{{.Connects}}\t{{.Failures}}")
LB_TITLES = {"Task": "TASK", "Address": "ADDRESS", "State": "STATE", "Weight": "WEIGHT",
             "Connections": "CONNECTIONS", "CPU": "CPU", "Bytes": "BYTES/S",
             "Connects": "CONNECTS", "Failures": "FAILURES"}


def configure_service_lb(p: argparse.ArgumentParser) -> None:
    p.add_argument("-w", "--watch", action="store_true",
                   help="Show it again every second until interrupted")
    p.add_argument("--format", metavar="string", help="Format output using a template")
    p.add_argument("service", metavar="SERVICE")


def do_service_lb(ctx: Context, args: argparse.Namespace) -> int:
    """The ``LoadBalancer`` of ``service inspect``, as a table: per backend its weight,
    live connections, CPU (cores), bytes/s and circuit-breaker state on this node."""
    while True:
        service = ctx.client.get(f"/services/{quote_name(args.service)}")
        balancing = service.get("LoadBalancer")
        if balancing is None:
            raise CLIError(f"service {args.service} is not balanced on this node (no VIP "
                           "or published port, or no swarm networking here)")
        if not args.format:
            ctx.stdout.write(f"strategy {balancing['Strategy']}, period "
                             f"{balancing['Period']:g}s, circuit breaker "
                             f"{balancing['Breaker']}\n")
        rows = []
        for backend in balancing["Backends"]:
            state = backend["State"]
            if backend.get("EjectedUntil"):
                state += f" until {backend['EjectedUntil'][11:19]}"
            rows.append(Row({"Task": backend["TaskID"][:12],
                             "Address": ",".join(backend["Addresses"]), "State": state,
                             "Weight": f"{backend['Weight'] * 100:.1f}%",
                             "Connections": backend["Connections"],
                             "CPU": f"{backend['CPU']:.2f}",
                             "Bytes": backend["BytesPerSecond"],
                             "Connects": backend["ConnectSuccesses"],
                             "Failures": backend["ConnectFailures"]}))
        render_list(ctx.stdout, rows, args.format, default=LB_FORMAT, titles=LB_TITLES)
        if not args.watch:
            return 0
        ctx.stdout.flush()
        time.sleep(1)


def _update(ctx: Context, ref: str, change: Any, *, rollback: bool = False) -> str:
    service = ctx.client.get(f"/services/{quote_name(ref)}")
    spec = service["Spec"]
    change(spec)
    params: dict[str, Any] = {"version": service["Version"]["Index"]}
    if rollback:
        params["rollback"] = "previous"
    answer = ctx.client.post(f"/services/{service['ID']}/update", params=params, body=spec)
    for warning in (answer or {}).get("Warnings") or []:
        ctx.stderr.write(warning + "\n")
    return service["ID"]


def configure_service_update(p: argparse.ArgumentParser) -> None:
    _add_spec_options(p, create=False)


def do_service_update(ctx: Context, args: argparse.Namespace) -> int:
    def change(spec: dict[str, Any]) -> None:
        template = spec.setdefault("TaskTemplate", {})
        container = template.setdefault("ContainerSpec", {})
        if args.image:
            container["Image"] = args.image
        if args.args is not None:
            import shlex

            container["Args"] = shlex.split(args.args)
        if args.env_add or args.env_rm:
            env = [e for e in container.get("Env") or []
                   if e.split("=", 1)[0] not in args.env_rm]
            for item in _env_list(args.env_add):
                key = item.split("=", 1)[0]
                env = [e for e in env if e.split("=", 1)[0] != key] + [item]
            container["Env"] = env
        labels = spec.get("Labels") or {}
        labels.update(key_values(args.label_add, "--label-add", need_value=False))
        for key in args.label_rm:
            labels.pop(key, None)
        spec["Labels"] = labels
        if args.constraint_add or args.constraint_rm:
            placement = template.setdefault("Placement", {})
            kept = [c for c in placement.get("Constraints") or []
                    if c not in args.constraint_rm]
            placement["Constraints"] = kept + args.constraint_add
        if args.generic_resource_add or args.generic_resource_rm:
            reserved = template.setdefault("Resources", {}).setdefault("Reservations", {})
            added = generic_resources(args.generic_resource_add)
            gone = {k.partition("=")[0] for k in args.generic_resource_rm} | {
                g["DiscreteResourceSpec"]["Kind"] for g in added}
            reserved["GenericResources"] = [
                g for g in reserved.get("GenericResources") or []
                if (g.get("DiscreteResourceSpec") or g.get("NamedResourceSpec") or {}).get(
                    "Kind") not in gone] + added
        if args.force:
            template["ForceUpdate"] = (template.get("ForceUpdate") or 0) + 1
        _apply(spec, args)
    service_id = _update(ctx, args.service, change)
    ctx.stdout.write(args.service + "\n")
    if not args.detach:
        _wait(ctx, service_id, quiet=args.quiet)
    return 0


def configure_service_rollback(p: argparse.ArgumentParser) -> None:
    p.add_argument("-d", "--detach", action="store_true",
                   help="Exit immediately instead of waiting for the service to converge")
    p.add_argument("-q", "--quiet", action="store_true", help="Suppress progress output")
    p.add_argument("service", metavar="SERVICE")


def do_service_rollback(ctx: Context, args: argparse.Namespace) -> int:
    service_id = _update(ctx, args.service, lambda spec: None, rollback=True)
    ctx.stdout.write(args.service + "\n")
    if not args.detach:
        _wait(ctx, service_id, quiet=args.quiet)
    return 0


def configure_service_scale(p: argparse.ArgumentParser) -> None:
    p.add_argument("-d", "--detach", action="store_true",
                   help="Exit immediately instead of waiting for the service to converge")
    p.add_argument("scales", metavar="SERVICE=REPLICAS", nargs="+")


def do_service_scale(ctx: Context, args: argparse.Namespace) -> int:
    failed = False
    scaled = []
    for item in args.scales:
        name, sep, count = item.partition("=")
        if not sep or not count.isdigit():
            raise CLIError(f"Invalid scale specifier '{item}'.\nSee 'minke service scale "
                           "--help'.\n\nUsage:  minke service scale SERVICE=REPLICAS "
                           "[SERVICE=REPLICAS...]\n\nScale one or multiple replicated "
                           "services")

        def change(spec: dict[str, Any], replicas: int = int(count)) -> None:
            if "Replicated" not in spec["Mode"]:
                raise CLIError("scale can only be used with replicated or replicated-job mode")
            spec["Mode"]["Replicated"]["Replicas"] = replicas
        try:
            scaled.append(_update(ctx, name, change))
            ctx.stdout.write(f"{name} scaled to {count}\n")
        except CLIError as exc:
            ctx.stderr.write(f"{name}: {exc.message}\n")
            failed = True
    if not args.detach:
        for service_id in scaled:
            _wait(ctx, service_id, quiet=False)
    return 1 if failed else 0


def configure_service_rm(p: argparse.ArgumentParser) -> None:
    p.add_argument("services", metavar="SERVICE", nargs="+")


def do_service_rm(ctx: Context, args: argparse.Namespace) -> int:
    from ..context import describe

    failures = []
    for ref in args.services:
        try:
            ctx.client.call("DELETE", f"/services/{quote_name(ref)}").json()
            ctx.stdout.write(ref + "\n")
        except Exception as exc:
            failures.append(describe(exc))
    if failures:
        raise CLIError("\n".join(failures))
    return 0


def configure_service_logs(p: argparse.ArgumentParser) -> None:
    p.add_argument("--details", action="store_true", help="Show extra details provided to logs")
    p.add_argument("-f", "--follow", action="store_true", help="Follow log output")
    p.add_argument("--no-task-ids", action="store_true", help="Do not include task IDs in output")
    p.add_argument("--no-trunc", action="store_true", help="Do not truncate output")
    p.add_argument("--raw", action="store_true", help="Do not neatly format logs")
    p.add_argument("--since", metavar="string", help="Show logs since timestamp or relative")
    p.add_argument("-n", "--tail", metavar="string", default="all",
                   help='Number of lines to show from the end of the logs (default "all")')
    p.add_argument("-t", "--timestamps", action="store_true", help="Show timestamps")
    p.add_argument("target", metavar="SERVICE|TASK")


def do_service_logs(ctx: Context, args: argparse.Namespace) -> int:
    """docker's ``service logs``: each line prefixed ``name.slot.task@node |`` from the
    details the daemon sends (``--raw``: as they come)."""
    import sys
    from urllib.parse import unquote_plus

    from minke.client.framing import demux

    from ..units import api_time

    try:
        service = ctx.client.get(f"/services/{quote_name(args.target)}")
        path, tty = f"/services/{service['ID']}/logs", False
        tty = bool(service["Spec"]["TaskTemplate"]["ContainerSpec"].get("TTY"))
    except Exception:  # not a service: a task, as docker tries next
        task = ctx.client.get(f"/tasks/{quote_name(args.target)}")
        service = ctx.client.get(f"/services/{task['ServiceID']}")
        path, tty = f"/tasks/{task['ID']}/logs", bool(task["Spec"]["ContainerSpec"].get("TTY"))
    nodes = {n["ID"]: n.get("Description", {}).get("Hostname", "")
             for n in ctx.client.get("/nodes")}
    tasks = {t["ID"]: t for t in ctx.client.get(
        "/tasks", {"filters": {"service": {service["ID"]: True}}})}
    params = {"details": True, "follow": True if args.follow else None, "stdout": True,
              "stderr": True, "tail": args.tail,
              "timestamps": True if args.timestamps else None,
              "since": api_time(args.since) if args.since else None}
    out = {1: sys.stdout.buffer, 2: sys.stderr.buffer}

    def prefix(context: dict[str, str]) -> bytes:
        task = tasks.get(context.get(TASK_KEY, ""))
        if task is None:
            return b""
        slot = task["Slot"] if task.get("Slot") else task.get("NodeID", "")
        task_id = task["ID"] if args.no_trunc else task["ID"][:12]
        name = f"{service['Spec']['Name']}.{slot}" + ("" if args.no_task_ids else f".{task_id}")
        return f"{name}@{nodes.get(task.get('NodeID', ''), '')}    | ".encode()

    with ctx.client.stream("GET", path, params=params) as stream:
        frames = ((1, c) for c in stream.chunks()) if tty else demux(stream.chunks())
        for kind, data in frames:
            for line in data.splitlines(keepends=True):
                stamp = b""
                if args.timestamps:
                    stamp, _, line = line.partition(b" ")
                    stamp += b" "
                raw_context, _, message = line.partition(b" ")
                context = {unquote_plus(k): unquote_plus(v) for k, _, v in (
                    item.partition("=") for item in raw_context.decode().split(","))}
                # --details: the log driver's own details, which minke's have none of
                shown = (stamp + message) if args.raw else \
                    stamp + prefix(context) + (b" " if args.details else b"") + message
                out[kind].write(shown)
                out[kind].flush()
    return 0


TASK_KEY = "com.docker.swarm.task.id"
