"""The restart supervisor's decisions, shared by the service and job orchestrators
(SwarmKit's ``restart.Supervisor``): a service's effective restart policy, whether an ended
task is replaced (condition, attempts within the window), and the delay a replacement
waits at DesiredState READY before it may run.

Bookkeeping on tasks (never shown by the API): ``_restarts``, the times of the restarts
that led to a task, and ``_start_at``, when a delayed replacement may start.
"""

from __future__ import annotations

from typing import Any

from minke.swarm.manager import tasks as t
from minke.swarm.manager.tasks import restart_defaults
from minke.swarm.store import Obj

SECOND = 1e9


def policy(service: Obj) -> dict[str, Any]:
    """The service's RestartPolicy over the defaults for its mode."""
    spec = service["Spec"]
    return {**restart_defaults(spec),
            **(spec.get("TaskTemplate", {}).get("RestartPolicy") or {})}


def release_due(task: Obj, now: float, wake: list[float], desired: str) -> bool:
    """Whether ``task``, a delayed replacement, became due and now wants ``desired`` (the
    caller saves it); a task still waiting adds its wait to ``wake``."""
    start_at = task.get("_start_at")
    if task["DesiredState"] != t.READY or start_at is None:
        return False
    if start_at > now:
        wake.append(start_at - now)
        return False
    task["DesiredState"] = desired
    task.pop("_start_at")
    return True


def history(task: Obj, policy: dict[str, Any], now: float) -> list[float] | None:
    """The restart history the replacement of ``task`` carries, or None when the policy
    says not to restart it (SwarmKit's ``shouldRestart``)."""
    condition = policy.get("Condition") or "any"
    if condition == "none" or (condition == "on-failure"
                               and task["Status"]["State"] == t.COMPLETE):
        return None
    window = (policy.get("Window") or 0) / SECOND
    kept = [x for x in task.get("_restarts", []) if not window or x >= now - window]
    attempts = policy.get("MaxAttempts") or 0
    if attempts and len(kept) >= attempts:
        return None
    return kept + [now]


def delay(new: Obj, policy: dict[str, Any], restarts: list[float], now: float,
          wake: list[float]) -> None:
    """Mark ``new`` as the replacement carrying ``restarts``, held at READY for the
    policy's delay."""
    new["_restarts"] = restarts
    seconds = (policy.get("Delay") or 0) / SECOND
    if seconds > 0:
        new["DesiredState"], new["_start_at"] = t.READY, now + seconds
        wake.append(seconds)
