"""Exec instances: ``docker exec`` processes started in a running container.

Owns the exec records (kept in memory, as dockerd keeps them) and turns an exec config
into an OCI process run through the container's monitor.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from minke.engine.containers import naming
from minke.engine.containers.rootfs import resolve_user
from minke.engine.containers.service import ContainerService
from minke.engine.containers.spec import process, process_env
from minke.engine.events import EventBus
from minke.engine.runtime import ExecSession
from minke.errors import Conflict, InvalidParameter, NoSuchExec


@dataclass
class ExecRecord:
    id: str
    container_id: str
    config: dict[str, Any]
    running: bool = False
    exit_code: int | None = None
    pid: int = 0
    session: ExecSession | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def inspect(self) -> dict[str, Any]:
        cmd = self.config.get("Cmd") or []
        return {
            "ID": self.id,
            "Running": self.running,
            "ExitCode": self.exit_code,
            "ProcessConfig": {
                "tty": bool(self.config.get("Tty")),
                "entrypoint": cmd[0] if cmd else "",
                "arguments": cmd[1:],
                "privileged": bool(self.config.get("Privileged")),
                "user": self.config.get("User") or "",
            },
            "OpenStdin": bool(self.config.get("AttachStdin")),
            "OpenStderr": bool(self.config.get("AttachStderr")),
            "OpenStdout": bool(self.config.get("AttachStdout")),
            "CanRemove": False,
            "ContainerID": self.container_id,
            "DetachKeys": self.config.get("DetachKeys") or "",
            "Pid": self.pid,
        }


class ExecService:
    def __init__(self, *, containers: ContainerService, events: EventBus) -> None:
        self._containers = containers
        self._events = events
        self._execs: dict[str, ExecRecord] = {}

    def create(self, ref: str, config: dict[str, Any]) -> str:
        record = self._containers.get(ref)
        if not record["State"]["Running"]:
            raise Conflict(f"Container {record['Id']} is not running")
        if record["State"]["Paused"]:
            raise Conflict(f"Container {record['Id']} is paused, unpause the container before exec")
        cmd = config.get("Cmd")
        if isinstance(cmd, str):
            cmd = [cmd]
        if not cmd:
            raise InvalidParameter("No exec command specified")
        config = {**config, "Cmd": cmd}
        exec_id = naming.new_id()
        self._execs[exec_id] = ExecRecord(exec_id, record["Id"], config)
        record["ExecIDs"] = [*(record.get("ExecIDs") or []), exec_id]
        self._events.publish("container", f"exec_create: {' '.join(cmd)}", record["Id"],
                             {"name": record["Name"].lstrip("/"), "execID": exec_id})
        return exec_id

    def get(self, exec_id: str) -> ExecRecord:
        found = self._execs.get(exec_id)
        if found is None:
            matches = [e for e in self._execs.values() if exec_id and e.id.startswith(exec_id)]
            if len(matches) != 1:
                raise NoSuchExec(exec_id)
            found = matches[0]
        return found

    async def start(self, exec_id: str, *, detach: bool, tty: bool | None = None) -> ExecRecord:
        """Start the process. The caller pumps ``record.session.stream`` (unless detached)
        and then awaits ``finish(record)``."""
        ex = self.get(exec_id)
        if ex.running or ex.exit_code is not None:
            raise Conflict(f"Error: Exec command {ex.id} has already run")
        record = self._containers.get(ex.container_id)
        if not record["State"]["Running"]:
            raise Conflict(f"Container {record['Id']} is not running")
        config = ex.config
        use_tty = bool(config.get("Tty") if tty is None else tty)
        paths = self._containers.paths(record["Id"])
        user = resolve_user(paths["rootfs"], config.get("User") or record["Config"].get("User")
                            or "", record["HostConfig"].get("GroupAdd"))
        host_config = record["HostConfig"]
        if config.get("Privileged"):
            host_config = {**host_config, "Privileged": True}
        proc = process(
            {**record, "HostConfig": host_config}, user,
            args=config["Cmd"], env=process_env(record, config.get("Env") or [], tty=use_tty),
            cwd=config.get("WorkingDir") or record["Config"].get("WorkingDir") or "/",
            tty=use_tty,
        )
        ex.running = True
        try:
            ex.session = await self._containers.monitor.exec(
                container_id=record["Id"], exec_id=ex.id, bundle=paths["bundle"], process=proc,
                tty=use_tty, stdin=bool(config.get("AttachStdin")), detach=detach,
            )
        except BaseException:
            ex.running = False
            ex.exit_code = 126
            ex.done.set()
            raise
        ex.pid = ex.session.pid
        self._events.publish("container", f"exec_start: {' '.join(config['Cmd'])}", record["Id"],
                             {"name": record["Name"].lstrip("/"), "execID": ex.id})
        if detach:
            asyncio.create_task(self.finish(ex))
        return ex

    async def finish(self, ex: ExecRecord) -> int:
        assert ex.session is not None
        code = await ex.session.wait()
        ex.exit_code = code
        ex.running = False
        ex.done.set()
        record = self._containers.find(ex.container_id)
        if record is not None:
            self._events.publish("container", "exec_die", record["Id"],
                                 {"name": record["Name"].lstrip("/"), "execID": ex.id,
                                  "exitCode": str(code)})
        return code

    def resize(self, exec_id: str, height: int, width: int) -> None:
        ex = self.get(exec_id)
        if ex.session is None:
            raise Conflict(f"Exec {exec_id} is not running")
        ex.session.resize(height, width)
