"""Health checks: the image's HEALTHCHECK and ``--health-*``, run as Docker runs them.

A container extension: at ``created`` it merges the request's ``Config.Healthcheck`` over
the image's field by field and validates it; at ``started`` it sets ``State.Health`` to
``starting`` and runs a probe every ``Interval``; at ``stopped`` the probes end and the
status becomes ``unhealthy`` (moby ``CloseMonitorChannel``: "unhealthy when the monitor has
stopped"). Each probe is a process in the container, started through the container's
monitor as ``docker exec`` starts one (``Conmon.exec``); its exec id is not listed in the
container's ``ExecIDs`` (it is not a user exec) but, as dockerd does, it publishes
``exec_create``/``exec_start``/``exec_die`` events. The result goes into ``State.Health``:
the last 5 runs (Start, End, ExitCode, Output of at most 4096 bytes), the failing streak
and the status, and a status change publishes ``health_status: <status>``.

Docker's defaults: interval 30 s, timeout 30 s, 3 retries, start period 0; forms
``["CMD", args...]``, ``["CMD-SHELL", command]`` (run by ``Config.Shell`` or
``/bin/sh -c``), ``["NONE"]`` (disabled).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import time
from typing import TYPE_CHECKING, Any

from minke import units
from minke.engine.containers import naming
from minke.engine.containers.config import rfc3339
from minke.engine.containers.extensions import ContainerExtension, Record
from minke.engine.containers.rootfs import resolve_user
from minke.engine.containers.spec import process, process_env
from minke.engine.containers.views import parse_time
from minke.engine.events import EventBus
from minke.errors import InvalidParameter, MinkeError

if TYPE_CHECKING:
    from minke.engine.containers.service import ContainerService

log = logging.getLogger(__name__)

NS = 1_000_000_000
DEFAULT_INTERVAL = 30.0  # s
DEFAULT_TIMEOUT = 30.0  # s
DEFAULT_RETRIES = 3
DEFAULT_START_PERIOD = 0.0  # s
MINIMUM_DURATION_NS = 1_000_000  # 1 ms: Docker refuses shorter intervals, timeouts, periods
MAX_LOG_ENTRIES = 5
MAX_OUTPUT = 4096  # bytes of a probe's output kept
EXIT_HEALTHY, EXIT_UNHEALTHY, EXIT_PROBE_ERROR = 0, 1, -1
STARTING, HEALTHY, UNHEALTHY = "starting", "healthy", "unhealthy"
_FIELDS = ("Interval", "Timeout", "StartPeriod", "Retries")


def merge(user: dict[str, Any] | None, image: dict[str, Any] | None) -> dict[str, Any] | None:
    """Docker's merge of a create request's health check over the image's: fields the
    request leaves at zero come from the image."""
    if user is None:
        return image
    merged = dict(user)
    if image:
        if not merged.get("Test"):
            merged["Test"] = image.get("Test")
        for key in _FIELDS:
            if not merged.get(key) and image.get(key):
                merged[key] = image[key]
    return merged


def validate(check: dict[str, Any] | None) -> None:
    """Docker's create-time checks, with its messages."""
    if not check:
        return
    for key in ("Interval", "Timeout", "StartPeriod"):
        value = int(check.get(key) or 0)
        if value != 0 and value < MINIMUM_DURATION_NS:
            raise InvalidParameter(f"{key} in Healthcheck cannot be less than 1ms")
    if int(check.get("Retries") or 0) < 0:
        raise InvalidParameter("Retries in Healthcheck cannot be negative")
    test = check.get("Test") or []
    if test and test[0] not in ("NONE", "CMD", "CMD-SHELL"):
        raise InvalidParameter(
            f"Healthcheck.Test: unknown type {test[0]!r} (expected NONE, CMD or CMD-SHELL)"
        )


def probe_argv(config: dict[str, Any]) -> list[str] | None:
    """The probe's command line, or None when the container has no health check."""
    test = (config.get("Healthcheck") or {}).get("Test") or []
    if not test or test[0] == "NONE" or len(test) < 2:
        return None
    if test[0] == "CMD-SHELL":
        return [*(config.get("Shell") or ["/bin/sh", "-c"]), *test[1:]]
    return list(test[1:])


def _seconds(check: dict[str, Any], key: str, default: float) -> float:
    value = int(check.get(key) or 0)
    return value / NS if value > 0 else default


def go_duration(seconds: float) -> str:
    """Go's ``time.Duration.String()`` of a health check's duration, given in seconds."""
    return units.go_duration(round(seconds * NS))


def apply_result(
    health: dict[str, Any], result: dict[str, Any], *, retries: int, start_period: float,
    started_at: float, probe_start: float,
) -> None:
    """Record one probe result in ``State.Health`` (moby ``handleProbeResult``): exit 0 is
    healthy; any other failure adds to the streak, except while still ``starting`` within
    the start period; ``retries`` failures in a row make it unhealthy."""
    health["Log"] = [*(health.get("Log") or []), result][-MAX_LOG_ENTRIES:]
    if result["ExitCode"] == EXIT_HEALTHY:
        health["FailingStreak"] = 0
        health["Status"] = HEALTHY
        return
    if health.get("Status") == STARTING and probe_start - started_at < start_period:
        return
    health["FailingStreak"] = int(health.get("FailingStreak") or 0) + 1
    if health["FailingStreak"] >= retries:
        health["Status"] = UNHEALTHY


class HealthChecks(ContainerExtension):
    """See the module docstring. ``bind`` gives it the service whose containers it probes."""

    def __init__(self, *, images: Any, events: EventBus) -> None:
        self._images = images
        self._events = events
        self._containers: ContainerService | None = None
        self._monitors: dict[str, asyncio.Task[None]] = {}

    def bind(self, containers: ContainerService) -> None:
        self._containers = containers

    @property
    def containers(self) -> ContainerService:
        assert self._containers is not None, "HealthChecks.bind() was not called"
        return self._containers

    # -- hooks ----------------------------------------------------------------------------

    async def created(self, record: Record) -> None:
        config = record["Config"]
        image_check = (self._images.config(record["Image"]).get("config") or {}).get(
            "Healthcheck")
        check = merge(config.get("Healthcheck"), image_check)
        validate(check)
        if check is not None:
            config["Healthcheck"] = check

    async def started(self, record: Record) -> None:
        if probe_argv(record["Config"]) is None:
            return
        health = record["State"].get("Health") or {"Log": []}
        health.update(Status=STARTING, FailingStreak=0)
        record["State"]["Health"] = health
        self.containers.save(record)
        self._monitor(record["Id"])

    async def restored(self, record: Record) -> None:
        if record["State"]["Running"] and probe_argv(record["Config"]) is not None:
            self._monitor(record["Id"])

    async def stopped(self, record: Record) -> None:
        self._cancel(record["Id"])
        health = record["State"].get("Health")
        if health is not None and health.get("Status") != UNHEALTHY:
            health["Status"] = UNHEALTHY
            self.containers.save(record)

    async def removed(self, record: Record, *, remove_volumes: bool = False) -> None:
        self._cancel(record["Id"])

    # -- the monitor ----------------------------------------------------------------------

    def _monitor(self, cid: str) -> None:
        self._cancel(cid)
        self._monitors[cid] = asyncio.create_task(self._run(cid), name=f"health {cid[:12]}")

    def _cancel(self, cid: str) -> None:
        task = self._monitors.pop(cid, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def _run(self, cid: str) -> None:
        while True:
            record = self.containers.find(cid)
            if record is None or not record["State"]["Running"]:
                return
            check = record["Config"].get("Healthcheck") or {}
            await asyncio.sleep(_seconds(check, "Interval", DEFAULT_INTERVAL))
            record = self.containers.find(cid)
            if record is None or not record["State"]["Running"]:
                return
            if record["State"]["Paused"]:
                continue  # a frozen container cannot run a probe; Docker skips it too
            try:
                await self.check_once(record)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - one broken probe must not end the monitor
                log.exception("health check of %s", cid[:12])

    async def check_once(self, record: Record) -> dict[str, Any]:
        """Run one probe now and record its result; returns the result."""
        check = record["Config"].get("Healthcheck") or {}
        argv = probe_argv(record["Config"])
        if argv is None:
            raise InvalidParameter(f"container {record['Id']} has no health check")
        probe_start = time.time()
        result = await self._probe(record, argv, _seconds(check, "Timeout", DEFAULT_TIMEOUT))
        if not record["State"]["Running"]:
            return result  # it exited during the probe: ``stopped`` has the last word
        health = record["State"].setdefault("Health", {"Status": STARTING, "FailingStreak": 0,
                                                       "Log": []})
        before = health.get("Status")
        retries = int(check.get("Retries") or 0) or DEFAULT_RETRIES
        apply_result(
            health, result, retries=retries,
            start_period=_seconds(check, "StartPeriod", DEFAULT_START_PERIOD),
            started_at=parse_time(record["State"]["StartedAt"]), probe_start=probe_start,
        )
        self.containers.save(record)
        if health["Status"] != before:
            self._event(record, f"health_status: {health['Status']}")
        return result

    async def _probe(self, record: Record, argv: list[str], timeout: float) -> dict[str, Any]:
        cid = record["Id"]
        start = rfc3339()
        exec_id = naming.new_id()
        paths = self.containers.paths(cid)
        command = " ".join(argv)
        self._event(record, f"exec_create: {command}", execID=exec_id)
        try:
            config = record["Config"]
            user = resolve_user(paths["rootfs"], config.get("User") or "",
                                record["HostConfig"].get("GroupAdd"))
            proc = process(record, user, args=argv, env=process_env(record, tty=False),
                           cwd=config.get("WorkingDir") or "/", tty=False)
            session = await self.containers.monitor.exec(
                container_id=cid, exec_id=exec_id, bundle=paths["bundle"], process=proc,
                tty=False, stdin=False, detach=False,
            )
        except MinkeError as exc:
            shutil.rmtree(paths["bundle"] / "exec" / exec_id, ignore_errors=True)
            return {"Start": start, "End": rfc3339(), "ExitCode": EXIT_PROBE_ERROR,
                    "Output": exc.message}
        self._event(record, f"exec_start: {command}", execID=exec_id)
        output = bytearray()
        try:
            try:
                async with asyncio.timeout(timeout):
                    code = await self._collect(session, output)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(session.pid, signal.SIGKILL)
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(5):
                        await session.wait()
                self._event(record, "exec_die", execID=exec_id, exitCode="137")
                return {"Start": start, "End": rfc3339(), "ExitCode": EXIT_PROBE_ERROR,
                        "Output": f"Health check exceeded timeout ({go_duration(timeout)})"}
        finally:
            if session.stream is not None:
                session.stream.close()
            session.close()
            shutil.rmtree(paths["bundle"] / "exec" / exec_id, ignore_errors=True)
        self._event(record, "exec_die", execID=exec_id, exitCode=str(code))
        return {"Start": start, "End": rfc3339(), "ExitCode": code,
                "Output": bytes(output[:MAX_OUTPUT]).decode("utf-8", "replace")}

    @staticmethod
    async def _collect(session: Any, output: bytearray) -> int:
        stream = session.stream
        if stream is not None:
            while (item := await stream.read()) is not None:
                if len(output) < MAX_OUTPUT:
                    output += item[1][: MAX_OUTPUT - len(output)]
        return int(await session.wait())

    def _event(self, record: Record, action: str, **extra: str) -> None:
        attrs = {
            "image": record["Config"]["Image"],
            "name": record["Name"].lstrip("/"),
            **(record["Config"].get("Labels") or {}),
            **extra,
        }
        self._events.publish("container", action, record["Id"], attrs)
