"""Waiting for a job (``service create --mode replicated-job|global-job`` without ``-d``), as
the docker CLI's job progress does: the tasks of the job's current iteration are followed
until as many COMPLETEd as the job needs (``TotalCompletions``; a global job: one per node
it started on), showing ``job progress: N out of M complete``."""

from __future__ import annotations

import time

from .context import Context

POLL = 0.1  # s between looks at the job's tasks


def wait_job(ctx: Context, service_id: str, *, quiet: bool) -> None:
    shown = ""
    while True:
        service = ctx.client.get(f"/services/{service_id}")
        iteration = ((service.get("JobStatus") or {}).get("JobIteration") or {}).get("Index")
        tasks = [t for t in ctx.client.get("/tasks", {"filters": {
            "service": {service_id: True}}})
            if (t.get("JobIteration") or {}).get("Index") == iteration]
        done = sum(1 for t in tasks if t["Status"]["State"] == "complete")
        job = service["Spec"]["Mode"].get("ReplicatedJob")
        total = job["TotalCompletions"] if job else len({t.get("NodeID") for t in tasks})
        line = f"job progress: {done} out of {total} complete\n"
        if not quiet and line != shown:
            ctx.stdout.write(line)
            ctx.stdout.flush()
            shown = line
        if total and done >= total:
            return
        time.sleep(POLL)
