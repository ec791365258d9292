"""Restart policies (``--restart no|always|unless-stopped|on-failure[:N]``), as Docker's
restart manager applies them: a container extension that decides after each exit whether
the container runs again, and when.

Docker's rules, kept here:

- Backoff: the first restart waits 100 ms, each further one twice as long, up to 1 min; a
  run of 10 s or more resets it (moby ``restartmanager``).
- ``on-failure`` restarts on a non-zero exit code only, at most ``N`` times when ``N > 0``
  (counted by ``RestartCount``, which persists and which a user ``start`` resets to 0).
- The user wins: ``docker stop``, ``docker kill`` with the stop signal or SIGKILL, and
  ``rm -f`` cancel the next restart; any user kill marks the container *manually stopped*
  (kept on disk), so that ``unless-stopped`` stays down across daemon restarts. A user
  ``start`` clears the mark.
- Daemon start: ``always`` containers come back whatever stopped them, ``unless-stopped``
  ones unless the user stopped them, ``on-failure`` ones after a failure (moby
  ``daemon.restore`` → ``ShouldRestart``). Containers that died with the host (their
  monitor gone, no exit file) reach this extension as exits through ``stopped``.

While it waits for its restart a container is ``Status: "restarting"``, ``Restarting:
true``; the restart itself is a ``start`` (events ``die`` then ``start``, as Docker's).
Knows nothing of runc: it calls ``ContainerService.start``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal as signals
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from minke.engine.containers.extensions import ContainerExtension, Record
from minke.engine.containers.service import parse_signal
from minke.engine.containers.views import parse_time
from minke.errors import MinkeError, NotModified

if TYPE_CHECKING:
    from minke.engine.containers.service import ContainerService

log = logging.getLogger(__name__)

BACKOFF_START = 0.1  # s, moby restartmanager defaultTimeout
BACKOFF_MAX = 60.0  # s, maxRestartTimeout
BACKOFF_FACTOR = 2  # backoffMultiplier
RESET_AFTER = 10.0  # s of running that reset the backoff
MANUAL_STOP_FILE = "manually-stopped"  # in the container's directory; its presence is the mark


def next_delay(previous: float, ran_for: float) -> float:
    """The wait before the next restart, given the previous one (0 if none yet) and how
    long the container ran this time."""
    if ran_for >= RESET_AFTER:
        previous = 0.0
    if previous <= 0:
        return BACKOFF_START
    return min(previous * BACKOFF_FACTOR, BACKOFF_MAX)


def should_restart(
    policy: dict[str, Any], exit_code: int, restart_count: int, manually_stopped: bool
) -> bool:
    """Docker's ``ShouldRestart`` for one exit (a cancelled restart is decided before)."""
    name = policy.get("Name") or "no"
    if name == "always":
        return True
    if name == "unless-stopped":
        return not manually_stopped
    if name == "on-failure":
        maximum = int(policy.get("MaximumRetryCount") or 0)
        return exit_code != 0 and (maximum == 0 or restart_count < maximum)
    return False


@dataclass
class _Tracker:
    """What one container's restart manager remembers between exits (in memory)."""

    delay: float = 0.0  # the last backoff used; 0 until the first restart
    cancelled: bool = False  # the user stopped it: the next exit is final
    task: asyncio.Task[None] | None = None
    starting: bool = False  # the task is past its wait and inside ContainerService.start


class RestartPolicies(ContainerExtension):
    """See the module docstring. ``bind`` gives it the service it restarts through."""

    def __init__(self) -> None:
        self._containers: ContainerService | None = None
        self._trackers: dict[str, _Tracker] = {}
        self._policy_starts: set[str] = set()

    def bind(self, containers: ContainerService) -> None:
        self._containers = containers

    @property
    def containers(self) -> ContainerService:
        assert self._containers is not None, "RestartPolicies.bind() was not called"
        return self._containers

    def _tracker(self, cid: str) -> _Tracker:
        return self._trackers.setdefault(cid, _Tracker())

    def _mark_path(self, cid: str) -> Path:
        return self.containers.paths(cid)["dir"] / MANUAL_STOP_FILE

    def manually_stopped(self, cid: str) -> bool:
        return self._mark_path(cid).exists()

    # -- hooks ----------------------------------------------------------------------------

    async def prepare(self, record: Record, spec: dict[str, Any], rootfs: Path) -> None:
        cid = record["Id"]
        if cid in self._policy_starts:
            return
        # A start by the user (or by the daemon's start-up) resets the restart manager,
        # the count and the manual-stop mark, as Docker's ``containerStart(reset=true)``.
        tracker = self._tracker(cid)
        if tracker.task is not None and not tracker.starting:
            tracker.task.cancel()
            tracker.task = None
        tracker.delay = 0.0
        tracker.cancelled = False
        record["RestartCount"] = 0
        self._mark_path(cid).unlink(missing_ok=True)

    async def stopping(self, record: Record, signal: int) -> None:
        cid = record["Id"]
        self._mark_path(cid).touch()
        stop_signal = _stop_signal(record)
        if signal not in (stop_signal, signals.SIGKILL):
            return  # Docker: other signals leave the policy in force
        tracker = self._tracker(cid)
        tracker.cancelled = True
        task = tracker.task
        if task is None:
            return
        if tracker.starting:
            # Past its wait: let the start finish; the caller then stops a running container.
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.shield(task)
            return
        task.cancel()
        tracker.task = None
        record["State"].update(Status="exited", Restarting=False)

    async def stopped(self, record: Record) -> None:
        cid = record["Id"]
        state = record["State"]
        tracker = self._tracker(cid)
        ran_for = max(0.0, parse_time(state["FinishedAt"]) - parse_time(state["StartedAt"]))
        delay = next_delay(tracker.delay, ran_for)
        if tracker.cancelled or record["HostConfig"].get("AutoRemove"):
            return
        policy = record["HostConfig"].get("RestartPolicy") or {}
        if not should_restart(policy, int(state["ExitCode"]), int(record.get("RestartCount") or 0),
                              self.manually_stopped(cid)):
            return
        tracker.delay = delay
        record["RestartCount"] = int(record.get("RestartCount") or 0) + 1
        state.update(Status="restarting", Restarting=True)
        self.containers.save(record)
        log.info("restarting %s in %.1fs (policy %s, exit %s)", cid[:12], delay,
                 policy.get("Name"), state["ExitCode"])
        self._schedule(cid, delay, policy_start=True)

    async def restored(self, record: Record) -> None:
        cid = record["Id"]
        state = record["State"]
        tracker = self._trackers.get(cid)
        if state["Running"] or (tracker is not None and tracker.task is not None):
            return
        if state["Status"] not in ("exited", "restarting") or not parse_time(state["StartedAt"]):
            return  # never started: nothing to bring back
        policy = record["HostConfig"].get("RestartPolicy") or {}
        if state["Status"] == "restarting" or should_restart(
            policy, int(state["ExitCode"]), int(record.get("RestartCount") or 0),
            self.manually_stopped(cid),
        ):
            # As dockerd's restore: started at once, as a fresh start (count reset).
            self._schedule(cid, 0.0, policy_start=False)

    async def removed(self, record: Record, *, remove_volumes: bool = False) -> None:
        tracker = self._trackers.pop(record["Id"], None)
        if tracker is not None and tracker.task is not None and not tracker.starting:
            tracker.task.cancel()

    # -- restarting -----------------------------------------------------------------------

    def _schedule(self, cid: str, delay: float, *, policy_start: bool) -> None:
        tracker = self._tracker(cid)
        tracker.task = asyncio.create_task(
            self._restart_later(cid, delay, policy_start), name=f"restart {cid[:12]}"
        )

    async def _restart_later(self, cid: str, delay: float, policy_start: bool) -> None:
        tracker = self._tracker(cid)
        started = time.monotonic()
        await asyncio.sleep(delay)
        tracker.starting = True
        if policy_start:
            self._policy_starts.add(cid)
        try:
            await self.containers.start(cid)
        except NotModified:
            pass  # the user started it meanwhile
        except MinkeError as exc:
            # Docker gives up after a failed restart: the container stays exited.
            log.warning("restart of %s failed: %s", cid[:12], exc)
            record = self.containers.find(cid)
            if record is not None and record["State"]["Restarting"]:
                record["State"].update(Status="exited", Restarting=False)
                self.containers.save(record)
        finally:
            self._policy_starts.discard(cid)
            tracker.starting = False
            if tracker.task is asyncio.current_task():
                tracker.task = None
        log.debug("restarted %s after %.3fs", cid[:12], time.monotonic() - started)


def _stop_signal(record: Record) -> int:
    try:
        return parse_signal(record["Config"].get("StopSignal"), default=signals.SIGTERM)
    except MinkeError:
        return signals.SIGTERM
