"""The progress view of ``service create|update|scale|rollback`` without ``-d`` (the docker
CLI's ``service/progress``): one bar per slot (per node for a global service) showing how
far its task got (``1/3: running [=====>]``), ``overall progress: N out of M tasks``, then
``verify:`` while the tasks must stay up for the update's monitor period (5 s unless the
service sets one), and ``verify: Service ID converged``.

On a terminal the block is redrawn in place; elsewhere it is plain lines, as docker's
non-terminal display: the bars are left out and a line is written only when it changes.
"""

from __future__ import annotations

import math
import time

from .context import CLIError, Context

# typing is imported only by type checkers: it costs milliseconds of CLI start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

POLL = 0.1  # s between looks at the service and its tasks
DEFAULT_MONITOR = 5.0  # s, docker's when the service's UpdateConfig has none
BAR = 50
# a task's way to running, as the bars count it (SwarmKit's states up to running)
STATES = ("new", "allocated", "pending", "assigned", "accepted", "preparing", "ready",
          "starting", "running")
PAUSED = ("paused", "rollback_paused")
MOVING = ("updating", "rollback_started")


def bar(state: str) -> str:
    if state not in STATES:
        return ""
    done = BAR * (STATES.index(state) + 1) // len(STATES)
    return "[" + "=" * done + ">" + " " * (BAR - done) + "]"


class View:
    """The lines shown, redrawn on a terminal, written when changed elsewhere."""

    def __init__(self, ctx: Context) -> None:
        self.out = ctx.stdout
        isatty = getattr(self.out, "isatty", None)
        self.tty = bool(isatty and isatty())
        self.shown: dict[str, str] = {}  # line key → what it says
        self.drawn = 0  # lines of the block on screen (terminal)

    def show(self, lines: list[tuple[str, str, str]]) -> None:
        """``lines``: (key, text, bar) in display order."""
        if self.tty:
            if self.drawn:
                self.out.write(f"\x1b[{self.drawn}A")
            for key, text, progress in lines:
                self.out.write(f"\x1b[2K{key}: {text:<10}{progress}\n")
            self.drawn = len(lines)
        else:
            for key, text, _ in lines:
                if self.shown.get(key) != text:
                    self.out.write(f"{key}: {text}\n")
            self.shown = {key: text for key, text, _ in lines}
        self.out.flush()


    def done(self, line: str) -> None:
        """The last line, over the block's old ``verify`` line on a terminal."""
        self.out.write(("\x1b[2K" if self.tty else "") + line + "\n")
        self.out.flush()


def _monitor(service: dict[str, Any]) -> float:
    rollback = (service.get("UpdateStatus") or {}).get("State", "").startswith("rollback")
    config = service["Spec"].get("RollbackConfig" if rollback else "UpdateConfig") or {}
    return config["Monitor"] / 1e9 if config.get("Monitor") else DEFAULT_MONITOR


def wait(ctx: Context, service_id: str, *, quiet: bool) -> None:
    """Until every task wanted runs the service's current spec and kept running for the
    monitor period; the progress shown unless ``quiet``. A paused update is an error."""
    view = None if quiet else View(ctx)
    converged_at = None
    while True:
        service = ctx.client.get(f"/services/{service_id}")
        update = service.get("UpdateStatus") or {}
        if update.get("State") in PAUSED:
            raise CLIError(f"service update paused: {update.get('Message', '')}")
        tasks = ctx.client.get("/tasks", {"filters": {
            "service": {service_id: True}, "_up-to-date": {"true": True},
            "desired-state": {"running": True}}})
        slots = _slots(service, tasks)
        running = sum(1 for state in slots.values() if state == "running")
        converged = running == len(slots) and update.get("State") not in MOVING
        now = time.monotonic()
        converged_at = (converged_at or now) if converged else None
        left = converged_at + _monitor(service) - now if converged_at is not None else None
        if view is not None:
            lines = [(key, state, bar(state)) for key, state in slots.items()]
            lines.append(("overall progress", f"{running} out of {len(slots)} tasks", ""))
            if left is not None and left > 0:
                lines.append(("verify", f"Waiting {math.ceil(left)} seconds to verify that "
                              "tasks are stable...", ""))
            view.show(lines)
        if left is not None and left <= 0:
            break
        time.sleep(POLL)
    if view is not None:
        view.done(f"verify: Service {service_id} converged")


def _slots(service: dict[str, Any], tasks: list[dict[str, Any]]) -> dict[str, str]:
    """Slot (or node) label → the state of its newest up-to-date task, for the slots the
    service wants."""
    mode = service["Spec"]["Mode"]
    newest: dict[Any, dict[str, Any]] = {}
    for task in tasks:
        key = task.get("Slot") or task.get("NodeID", "")
        if key not in newest or task["Version"]["Index"] >= \
                newest[key]["Version"]["Index"]:
            newest[key] = task
    if "Replicated" in mode:
        replicas = mode["Replicated"]["Replicas"]
        return {f"{slot}/{replicas}": newest[slot]["Status"]["State"] if slot in newest
                else "" for slot in range(1, replicas + 1)}
    return {str(node)[:12]: task["Status"]["State"] for node, task in sorted(newest.items())}
