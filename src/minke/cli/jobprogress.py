"""Waiting for a job (``service create --mode replicated-job|global-job`` without ``-d``, and
``minke job run``), as the docker CLI's job progress does: the tasks of the job's current
iteration are followed until as many COMPLETEd as the job needs (``TotalCompletions``; a
global job: one per node it started on), showing ``job progress: N out of M complete``.

``follow`` also sees a job that can no longer complete: a slot whose tasks all ended
without completing and that has none left to run (the restart policy gave up on it).
"""

from __future__ import annotations

import time

from .context import Context

# typing is imported only by type checkers: it costs milliseconds of CLI start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

POLL = 0.1  # s between looks at the job's tasks at first
SLOW_POLL = 1.0  # s between looks once the job has run a while: each look lists the tasks
SLOW_AFTER = 10.0  # s
BAR = 40


class Outcome:
    """Where a job stands: ``done`` of ``total`` completed, ``running`` now, and the
    ended tasks of the slots given up on (``failed``)."""

    __slots__ = ("done", "total", "running", "failed")

    def __init__(self, done: int, total: int, running: int, failed: list[dict[str, Any]]
                 ) -> None:
        self.done, self.total, self.running, self.failed = done, total, running, failed

    @property
    def finished(self) -> bool:
        return bool(self.total) and (self.done >= self.total or bool(self.failed))

    def exit_code(self) -> int:
        """0 when complete, else the exit code of a failed task (1 if it has none)."""
        if not self.failed:
            return 0
        status = self.failed[0]["Status"].get("ContainerStatus") or {}
        return int(status.get("ExitCode") or 1)


def outcome(service: dict[str, Any], tasks: list[dict[str, Any]]) -> Outcome:
    iteration = ((service.get("JobStatus") or {}).get("JobIteration") or {}).get("Index")
    current = [t for t in tasks if (t.get("JobIteration") or {}).get("Index") == iteration]
    job = service["Spec"]["Mode"].get("ReplicatedJob")
    key = "Slot" if job else "NodeID"
    by_slot: dict[Any, list[dict[str, Any]]] = {}
    for task in current:
        by_slot.setdefault(task.get(key), []).append(task)
    done = running = 0
    failed = []
    for slot_tasks in by_slot.values():
        states = [t["Status"]["State"] for t in slot_tasks]
        if "complete" in states:
            done += 1
            continue
        running += sum(1 for s in states if s == "running")
        # Every task of the slot ended, and none is meant to run again: given up on.
        if all(t["DesiredState"] in ("shutdown", "remove") and
               t["Status"]["State"] in ("failed", "rejected", "shutdown", "orphaned")
               for t in slot_tasks):
            failed.append(max(slot_tasks, key=lambda t: t["Status"].get("Timestamp", "")))
    total = job["TotalCompletions"] if job else len(by_slot)
    return Outcome(done, total, running, failed)


def bar(done: int, total: int) -> str:
    filled = BAR * done // total if total else 0
    return "[" + "=" * filled + (">" if filled < BAR else "") + " " * (BAR - filled - 1) + "]"


def follow(ctx: Context, service_id: str, *, quiet: bool, bars: bool = False) -> Outcome:
    """Until the job completed or can no longer; ``bars``: draw a progress bar (on a
    terminal, redrawn in place)."""
    from .serviceprogress import View

    view = None if quiet else View(ctx)
    started = time.monotonic()
    while True:
        service = ctx.client.get(f"/services/{service_id}")
        tasks = ctx.client.get("/tasks", {"filters": {"service": {service_id: True}}})
        state = outcome(service, tasks)
        if view is not None:
            lines = [("job progress", f"{state.done} out of {state.total} complete",
                      bar(state.done, state.total) if bars else "")]
            if bars:
                lines.append(("active tasks", f"{state.running} running, "
                              f"{len(state.failed)} failed", ""))
            view.show(lines)
        if state.finished:
            return state
        time.sleep(POLL if time.monotonic() - started < SLOW_AFTER else SLOW_POLL)


def wait_job(ctx: Context, service_id: str, *, quiet: bool) -> None:
    follow(ctx, service_id, quiet=quiet)
