"""Docker's JSON shapes for networks: the stored record, ``GET /networks/{id}`` (with
``Containers``), and the filters of list and prune. Pure functions; no I/O."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from minke.engine.network.driver import Endpoint
from minke.errors import InvalidParameter

Record = dict[str, Any]
LIST_FILTERS = {"driver", "id", "label", "name", "scope", "type", "dangling"}
PRUNE_FILTERS = {"label", "label!", "until"}


def new_network(name: str, driver: str, *, ipam_config: list[dict[str, Any]], created: str,
                network_id: str | None = None, options: dict[str, str] | None = None,
                internal: bool = False, attachable: bool = False, ipv6: bool = False,
                labels: dict[str, str] | None = None,
                ipam_options: dict[str, str] | None = None) -> Record:
    """The stored record: Docker's NetworkResource without ``Containers``. Keys starting
    with ``_`` are minke's own (the host interface) and never shown."""
    return {
        "Name": name, "Id": network_id or os.urandom(32).hex(), "Created": created,
        "Scope": "local", "Driver": driver, "EnableIPv6": ipv6,
        "IPAM": {"Driver": "default", "Options": ipam_options or {}, "Config": ipam_config},
        "Internal": internal, "Attachable": attachable, "Ingress": False,
        "ConfigFrom": {"Network": ""}, "ConfigOnly": False,
        "Options": options or {}, "Labels": labels or {}, "_Interface": "",
    }


def endpoint_view(endpoint: Endpoint, name: str) -> dict[str, str]:
    return {"Name": name, "EndpointID": endpoint.id, "MacAddress": endpoint.mac,
            "IPv4Address": endpoint.ipv4, "IPv6Address": endpoint.ipv6}


def resource(doc: Record, endpoints: list[Endpoint], name_of: Callable[[str], str],
             with_containers: bool = True) -> Record:
    """``GET /networks/{id}``; the list leaves ``Containers`` empty, as Docker does."""
    out = {k: v for k, v in doc.items() if not k.startswith("_")}
    out["Containers"] = {
        e.container_id: endpoint_view(e, name_of(e.container_id)) for e in endpoints
    } if with_containers else {}
    return out


def _labels_match(labels: dict[str, str], wanted: list[str]) -> bool:
    for item in wanted:
        key, eq, value = item.partition("=")
        if key not in labels or (eq and labels[key] != value):
            return False
    return True


def check_list_filters(filters: dict[str, list[str]]) -> None:
    for key, values in filters.items():
        if key not in LIST_FILTERS:
            raise InvalidParameter(f"Invalid filter '{key}'")
        if key == "type":
            for v in values:
                if v not in ("custom", "builtin"):
                    raise InvalidParameter(f"Invalid filter: 'type'='{v}'")


def list_match(doc: Record, filters: dict[str, list[str]], service: Any) -> bool:
    builtin = doc["Name"] in ("bridge", "host", "none")
    for key, values in filters.items():
        if not values:
            continue
        if key == "driver" and doc["Driver"] not in values:
            return False
        if key == "id" and not any(doc["Id"].startswith(v) for v in values):
            return False
        if key == "name" and not any(v in doc["Name"] for v in values):
            return False
        if key == "label" and not _labels_match(doc.get("Labels") or {}, values):
            return False
        if key == "scope" and "local" not in values:
            return False
        if key == "type" and ("builtin" if builtin else "custom") not in values:
            return False
        if key == "dangling":
            dangling = not builtin and not service.endpoints_of(network_id=doc["Id"])
            if (values[0].lower() in ("true", "1")) != dangling:
                return False
    return True


def check_prune_filters(filters: dict[str, list[str]]) -> None:
    for key in filters:
        if key not in PRUNE_FILTERS:
            raise InvalidParameter(f"Invalid filter '{key}'")


def prune_match(doc: Record, filters: dict[str, list[str]]) -> bool:
    from minke.engine.containers.views import parse_time

    labels = doc.get("Labels") or {}
    if filters.get("label") and not _labels_match(labels, filters["label"]):
        return False
    if filters.get("label!") and any(_labels_match(labels, [v]) for v in filters["label!"]):
        return False
    for until in filters.get("until") or []:
        limit = float(until) if until.replace(".", "", 1).isdigit() else parse_time(until)
        if parse_time(doc["Created"]) > limit:
            return False
    return True
