"""Lifecycle hooks, as Docker Compose v2 runs them.

``post_start``: after a container starts, each hook is exec'd in it (command, user,
privileged, working_dir, environment), in order; a non-zero exit fails the ``up`` with
the tail of the hook's output. ``pre_stop``: the same, before a running container is
stopped (``down``, ``stop``, ``restart``, a recreate, a scale-down). ``pre_start`` (newer
spec): init containers run to completion before a service's containers start, when none
of its replicas runs yet: one ephemeral container per hook, in order, with the service's
image unless the hook names one, its environment plus the hook's, its volumes (through
``VolumesFrom`` the replica about to start) and its networks; a successful one is
removed, a failed one fails the ``up`` and is kept for inspection (labelled
``com.docker.compose.hook=pre_start``, removed by the next ``up`` of that service or by
``down``).
"""

from __future__ import annotations

from minke import errors
from minke.client import APIClient, quote_name
from minke.client.framing import demux

from . import model
from .errors import ComposeRunError

TYPE_CHECKING = False  # typing costs milliseconds of start-up: for type checkers only
if TYPE_CHECKING:
    from typing import Any

    from .executor import Executor

TAIL_LINES = 10
TAIL_BYTES = 2048
PRE_START = "pre_start"


def env_list(env: dict[str, Any] | None) -> list[str]:
    """``KEY=value`` entries; a variable left unset (null) is not passed at all."""
    return [f"{k}={v}" for k, v in (env or {}).items() if v is not None]


def tail(out: bytes, err: bytes) -> str:
    """The last lines of the hook's output, stderr preferred, as Compose reports them."""
    text = (err.strip() or out.strip()).decode(errors="replace")
    lines = [line.rsplit("\r", 1)[-1] for line in text.splitlines() if line.strip()]
    return "\n".join(lines[-TAIL_LINES:])[-TAIL_BYTES:]


def run_exec_hook(api: APIClient, cid: str, service: str, svc: dict[str, Any],
                  hook: dict[str, Any]) -> None:
    """Exec one ``post_start``/``pre_stop`` hook in container ``cid``; raise on failure."""
    tty = bool(svc.get("tty"))
    created = api.post(f"/containers/{quote_name(cid)}/exec", body={
        "User": hook.get("user") or "", "Privileged": bool(hook.get("privileged")),
        "Env": env_list(hook.get("environment")), "WorkingDir": hook.get("working_dir") or "",
        "Cmd": hook["command"], "AttachStdout": True, "AttachStderr": True, "Tty": tty})
    exec_id = created["Id"]
    out, err = bytearray(), bytearray()
    with api.hijack("POST", f"/exec/{exec_id}/start", body={"Detach": False, "Tty": tty}
                    ) as conn:
        if tty:
            for chunk in conn.chunks():
                out += chunk
        else:
            for stream, data in demux(conn.chunks()):
                (err if stream == 2 else out).extend(data)
    code = int(api.get(f"/exec/{exec_id}/json").get("ExitCode") or 0)
    if code != 0:
        text = tail(bytes(out), bytes(err))
        raise ComposeRunError(f"{service} hook exited with status {code}"
                              + (f": {text}" if text else ""))


def post_start(ex: Executor, cid: str, service: str) -> None:
    svc = ex.project.services[service]
    for hook in svc.get("post_start") or []:
        run_exec_hook(ex.api, cid, service, svc, hook)


def pre_stop(ex: Executor, cid: str, service: str) -> None:
    svc = ex.project.services.get(service) or {}
    for hook in svc.get("pre_stop") or []:
        run_exec_hook(ex.api, cid, service, svc, hook)


def remove_leftovers(ex: Executor, service: str) -> None:
    """Hook containers a failed earlier run kept for inspection."""
    found = ex.api.get("/containers/json", {"all": True, "filters": {"label": [
        f"{model.PROJECT}={ex.project.name}", f"{model.SERVICE}={service}",
        f"{model.HOOK}={PRE_START}"]}})
    for c in found:
        ex.remove(c["Id"], force=True, volumes=True)


def pre_start(ex: Executor, service: str, replica: str) -> None:
    """Run ``service``'s pre_start hooks; ``replica`` is the container about to start."""
    svc = ex.project.services[service]
    hooks = svc.get("pre_start") or []
    for i, hook in enumerate(hooks):
        if hook.get("per_replica"):
            raise ComposeRunError(f'service "{service}" pre_start[{i}]: per_replica is not yet '
                                  "supported; remove per_replica or set it to false")
    remove_leftovers(ex, service)
    for i, hook in enumerate(hooks):
        _run_init_container(ex, service, svc, i, hook, replica)


def _run_init_container(ex: Executor, service: str, svc: dict[str, Any], index: int,
                        hook: dict[str, Any], replica: str) -> None:
    from . import convert

    project = ex.project
    image = hook.get("image") or project.image_name(service)
    body: dict[str, Any] = {
        "Image": image, "User": hook.get("user") or "",
        "WorkingDir": hook.get("working_dir") or "",
        "Env": env_list(svc.get("environment")) + env_list(hook.get("environment")),
        "Labels": {model.PROJECT: project.name, model.SERVICE: service,
                   model.VERSION: model.COMPOSE_VERSION, model.HOOK: PRE_START},
        "HostConfig": {"Privileged": bool(hook.get("privileged")), "VolumesFrom": [replica]},
    }
    if hook.get("command") is not None:
        body["Cmd"] = hook["command"]
    networks = list((svc.get("networks") or {}).items())
    if svc.get("network_mode"):
        body["HostConfig"]["NetworkMode"] = ex.resolve_mode(svc["network_mode"])
    elif networks:
        key, spec = networks[0]
        net = convert.network_name(project, key)
        body["HostConfig"]["NetworkMode"] = net
        body["NetworkingConfig"] = {"EndpointsConfig": {net: convert.endpoint(service, "",
                                                                               spec)}}
    where = f'service "{service}" pre_start[{index}]'
    try:
        cid = ex.api.post("/containers/create", body=body)["Id"]
    except errors.MinkeError as exc:
        raise ComposeRunError(f"{where}: {exc}") from exc
    try:
        for key, spec in networks[1:]:
            ex.api.post(f"/networks/{quote_name(convert.network_name(project, key))}/connect",
                        body={"Container": cid,
                              "EndpointConfig": convert.endpoint(service, "", spec)})
        ex.api.post(f"/containers/{cid}/start")
    except errors.MinkeError as exc:
        ex.remove(cid, force=True, volumes=True)
        raise ComposeRunError(f"{where}: {exc}") from exc
    code = int(ex.api.post(f"/containers/{cid}/wait").get("StatusCode", 0))
    if code == 0:
        ex.remove(cid, force=True, volumes=True)
        return
    raw = ex.api.call("GET", f"/containers/{cid}/logs",
                      params={"stdout": True, "stderr": True, "tail": str(TAIL_LINES)})
    out, err = bytearray(), bytearray()
    for stream, data in demux([raw.body]):
        (err if stream == 2 else out).extend(data)
    text = tail(bytes(out), bytes(err))
    kept = f"hook container {cid[:12]} retained for inspection"
    raise ComposeRunError(f"{where} exited with code {code}"
                          + (f": {text} ({kept})" if text else f" ({kept})"))
