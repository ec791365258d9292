"""What clients see of container records: list summaries, status text, list filters."""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from typing import Any

from minke.errors import InvalidParameter, MinkeError
from minke.units import human_duration
from minke.units import parse_rfc3339 as parse_time

LIST_FILTERS = {
    "id", "name", "label", "status", "exited", "ancestor", "before", "since", "volume",
    "network", "health", "isolation", "is-task", "publish", "expose",
}
STATUSES = {"created", "restarting", "running", "removing", "paused", "exited", "dead"}


def status_text(state: dict[str, Any], now: float | None = None) -> str:
    now = time.time() if now is None else now
    status = state["Status"]
    if status == "running":
        text = "Up " + human_duration(now - parse_time(state["StartedAt"]))
        health = (state.get("Health") or {}).get("Status")
        if health:
            text += " (health: starting)" if health == "starting" else f" ({health})"
        return text
    if status == "paused":
        return "Up " + human_duration(now - parse_time(state["StartedAt"])) + " (Paused)"
    if status == "restarting":
        return f"Restarting ({state['ExitCode']}) " + human_duration(
            now - parse_time(state["FinishedAt"])) + " ago"
    if status == "removing":
        return "Removal In Progress"
    if status == "dead":
        return "Dead"
    if status == "exited":
        if parse_time(state["FinishedAt"]) == 0:
            return ""
        return f"Exited ({state['ExitCode']}) " + human_duration(
            now - parse_time(state["FinishedAt"])) + " ago"
    return "Created"


def summary(record: dict[str, Any], image_name: str | None = None) -> dict[str, Any]:
    """Docker's ContainerSummary for ``GET /containers/json``."""
    argv = [record["Path"], *record["Args"]]
    host = record["HostConfig"]
    return {
        "Id": record["Id"],
        "Names": [record["Name"]],
        "Image": image_name or record["Config"]["Image"],
        "ImageID": record["Image"],
        "Command": " ".join(shlex.quote(a) if " " in a else a for a in argv),
        "Created": int(parse_time(record["Created"])),
        "Ports": _ports(record),
        "Labels": record["Config"].get("Labels") or {},
        "State": record["State"]["Status"],
        "Status": status_text(record["State"]),
        "HostConfig": {"NetworkMode": host.get("NetworkMode", "default")},
        "NetworkSettings": {"Networks": record["NetworkSettings"].get("Networks") or {}},
        "Mounts": record.get("Mounts") or [],
    }


def shown_image(record: dict[str, Any], resolve: Callable[[str], str]) -> str:
    """The summary's ``Image``: the reference the container was made from while it still
    names the container's image, else that image's ID (the tag moved to another image or
    is gone), as moby's ``refreshImage``; ``resolve`` is the image store's lookup."""
    ref, image_id = record["Config"]["Image"], record["Image"]
    if ref == image_id:
        return ref
    try:
        return ref if resolve(ref) == image_id else image_id
    except MinkeError:
        return image_id


def _ports(record: dict[str, Any]) -> list[dict[str, Any]]:
    """Docker's summary ``Ports`` from ``NetworkSettings.Ports`` (set by the network
    service while the container runs): published ones with their host side."""
    out: list[dict[str, Any]] = []
    for key, bindings in (record["NetworkSettings"].get("Ports") or {}).items():
        port, _, proto = key.partition("/")
        if not bindings:
            out.append({"PrivatePort": int(port), "Type": proto})
        for b in bindings or []:
            out.append({"IP": b["HostIp"], "PrivatePort": int(port),
                        "PublicPort": int(b["HostPort"]), "Type": proto})
    return out


def check_filters(filters: dict[str, list[str]]) -> None:
    for key, values in filters.items():
        if key not in LIST_FILTERS:
            raise InvalidParameter(f"invalid filter '{key}'")
        if key == "status":
            for v in values:
                if v not in STATUSES:
                    raise InvalidParameter(
                        f"invalid filter 'status={v}'"
                    )
        if key == "health":
            for v in values:
                if v not in ("starting", "healthy", "unhealthy", "none"):
                    raise InvalidParameter(f"Unrecognised filter value for health: {v}")
        if key == "exited":
            for v in values:
                try:
                    int(v)
                except ValueError:
                    raise InvalidParameter(f"invalid filter 'exited={v}'") from None


def _label_ok(labels: dict[str, str], expr: str) -> bool:
    if "=" in expr:
        k, v = expr.split("=", 1)
        return labels.get(k) == v
    return expr in labels


def matches(
    record: dict[str, Any], filters: dict[str, list[str]], *,
    ancestors: set[str] | None = None, created_before: float | None = None,
    created_after: float | None = None,
) -> bool:
    """Docker's list filters: values of one key ORed, keys ANDed. ``ancestors`` is the set of
    image ids the ``ancestor`` values resolved to; before/since are creation times."""
    name = record["Name"].lstrip("/")
    state = record["State"]
    for key, values in filters.items():
        if not values:
            continue
        if key == "id":
            ok = any(record["Id"].startswith(v) for v in values)
        elif key == "name":
            ok = any(v.lstrip("/") in name for v in values)
        elif key == "label":
            ok = all(_label_ok(record["Config"].get("Labels") or {}, v) for v in values)
        elif key == "status":
            ok = state["Status"] in values
        elif key == "exited":
            ok = state["Status"] == "exited" and str(state["ExitCode"]) in values
        elif key == "ancestor":
            ok = ancestors is not None and record["Image"] in ancestors
        elif key == "before":
            ok = created_before is not None and parse_time(record["Created"]) < created_before
        elif key == "since":
            ok = created_after is not None and parse_time(record["Created"]) > created_after
        elif key == "health":
            ok = (state.get("Health") or {}).get("Status", "none") in values
        elif key == "is-task":
            ok = values[0] in ("false", "0")
        elif key == "network":
            ok = any(v in (record["NetworkSettings"].get("Networks") or {}) or
                     v == record["HostConfig"].get("NetworkMode") for v in values)
        else:
            ok = True
        if not ok:
            return False
    return True
