"""``minke job run``: a batch job on the swarm in one command, waited for like ``docker run``.

It creates a replicated-job service (``--completions`` tasks must exit 0, at most
``--parallelism`` at a time) whose tasks reserve ``--cpus``/``--memory`` (and
``--generic-resource``) so the scheduler places them only where that much is free; the
same amounts are the containers' limits. It shows a progress bar, waits, and exits with
the job's status: 0 when every completion succeeded, else the exit code of a task the
restart policy gave up on (``--max-attempts`` retries per completion, on failure).

The service is removed when the job succeeded (``--keep`` keeps it) and kept when it
failed, so that ``minke service ps``/``logs`` can tell why; ``-d`` only creates it.
"""

from __future__ import annotations

import argparse

from ..context import CLIError, Context
from ..filters import key_values

SECOND = 1_000_000_000


def configure_job_run(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name", metavar="string", help="Job (service) name")
    p.add_argument("--completions", metavar="uint", type=int, default=1,
                   help="Number of tasks that must complete successfully (default 1)")
    p.add_argument("--parallelism", metavar="uint", type=int,
                   help="Tasks run at a time (default: --completions)")
    p.add_argument("--cpus", metavar="decimal",
                   help="CPUs each task reserves (placement) and may use (limit)")
    p.add_argument("-m", "--memory", metavar="bytes",
                   help="Memory each task reserves (placement) and may use (limit)")
    p.add_argument("--generic-resource", metavar="list", action="append", default=[],
                   help="A generic resource each task reserves (e.g. gpu=1)")
    p.add_argument("--max-attempts", metavar="uint", type=int, default=3,
                   help="Retries of a failed task before the job fails (default 3)")
    p.add_argument("--constraint", metavar="list", action="append", default=[],
                   help="Placement constraints")
    p.add_argument("-e", "--env", metavar="list", action="append", default=[],
                   help="Set environment variables")
    p.add_argument("-l", "--label", metavar="list", action="append", default=[],
                   help="Service labels (com.minke.scheduler.strategy=binpack packs nodes)")
    p.add_argument("--keep", action="store_true",
                   help="Keep the service after the job succeeded (it is kept on failure)")
    p.add_argument("-d", "--detach", action="store_true",
                   help="Create the job and exit without waiting")
    p.add_argument("-q", "--quiet", action="store_true", help="Suppress progress output")
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("command", metavar="COMMAND", nargs=argparse.REMAINDER)


def job_spec(args: argparse.Namespace) -> dict[str, object]:
    """The ``ServiceSpec`` of the job (flags checked here as docker's CLI checks its own;
    the daemon refuses what it does not accept, naming the field)."""
    from .service import _bytes, _env_list, _nano_cpus, generic_resources

    if args.completions < 1:
        raise CLIError(f'invalid argument "{args.completions}" for "--completions" flag: '
                       "at least 1 is needed", 125)
    parallelism = args.completions if args.parallelism is None else args.parallelism
    if parallelism < 1:
        raise CLIError(f'invalid argument "{parallelism}" for "--parallelism" flag: at '
                       "least 1 is needed", 125)
    if args.max_attempts < 0:
        raise CLIError(f'invalid argument "{args.max_attempts}" for "--max-attempts" flag',
                       125)
    container: dict[str, object] = {"Image": args.image}
    if args.command:
        container["Args"] = args.command
    if args.env:
        container["Env"] = _env_list(args.env)
    amounts: dict[str, object] = {}
    if args.cpus:
        amounts["NanoCPUs"] = _nano_cpus(args.cpus, "--cpus")
    if args.memory:
        amounts["MemoryBytes"] = _bytes(args.memory, "--memory")
    reservations = dict(amounts)
    generic = generic_resources(args.generic_resource)
    if generic:
        reservations["GenericResources"] = generic
    template: dict[str, object] = {
        "ContainerSpec": container,
        "Resources": {"Limits": amounts, "Reservations": reservations},
        # A job retries a failed task at once: no 5 s wait between attempts.
        "RestartPolicy": {"Condition": "on-failure", "Delay": 0,
                          "MaxAttempts": args.max_attempts},
    }
    if args.constraint:
        template["Placement"] = {"Constraints": args.constraint}
    return {"Name": args.name or "", "Labels": key_values(args.label, "--label",
                                                          need_value=False),
            "Mode": {"ReplicatedJob": {"MaxConcurrent": min(parallelism, args.completions),
                                       "TotalCompletions": args.completions}},
            "TaskTemplate": template}


def do_job_run(ctx: Context, args: argparse.Namespace) -> int:
    from ..jobprogress import follow

    created = ctx.client.post("/services/create", body=job_spec(args))
    for warning in created.get("Warnings") or []:
        ctx.stderr.write(warning + "\n")
    service_id = created["ID"]
    if args.detach:
        ctx.stdout.write(service_id + "\n")
        return 0
    try:
        result = follow(ctx, service_id, quiet=args.quiet, bars=True)
    except KeyboardInterrupt:
        ctx.stderr.write(f"job {service_id} left running: 'minke service ps {service_id}' "
                         "follows it, 'minke service rm' stops it\n")
        return 130
    code = result.exit_code()
    if code:
        name = ctx.client.get(f"/services/{service_id}")["Spec"]["Name"]
        ctx.stderr.write(f"job {name} failed: {len(result.failed)} of {result.total} "
                         f"completions given up (exit code {code}); the service is kept: "
                         f"'minke service ps {name}', 'minke service logs {name}'\n")
    elif not args.keep:
        ctx.client.call("DELETE", f"/services/{service_id}").json()
    return code
