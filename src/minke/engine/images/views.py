"""Docker's image documents built from minke's records: ``ImageSummary``, ``ImageInspect``
and history rows, and the matching of ``docker images`` / ``image prune`` filters.

Pure functions of their inputs; the service gathers the records and calls them.
"""

from __future__ import annotations

import time
from fnmatch import fnmatchcase
from typing import Any

from minke.engine.images.changes import empty_config
from minke.engine.images.reference import Reference
from minke.errors import InvalidParameter
from minke.units import ZERO_TIME, parse_go_duration, parse_rfc3339


def parse_time(text: str) -> float:
    """Unix seconds of an image's ``created``; 0 when it is missing or malformed, as an
    image config's ``created`` is optional."""
    try:
        return parse_rfc3339(text or "")
    except ValueError:
        return 0.0


def parse_until(text: str, now: float | None = None) -> float:
    """Docker's ``until``/``since`` filter value: Unix seconds, RFC 3339, or a Go duration
    (``10m``, ``1h30m``) counted back from now."""
    now = time.time() if now is None else now
    try:
        return float(text)
    except ValueError:
        pass
    ns = parse_go_duration(text)
    if ns is not None:
        return now - ns / 1e9
    stamp = parse_time(text)
    if stamp == 0.0:
        raise InvalidParameter(f"invalid value for until: {text!r}")
    return stamp


def labels_match(labels: dict[str, str], filters: list[str], *, negate: bool = False) -> bool:
    """``label=k`` / ``label=k=v``: every one must match; with ``negate`` (``label!=``), none."""
    for expr in filters:
        key, sep, value = expr.partition("=")
        hit = key in labels and (not sep or labels[key] == value)
        if hit == negate:
            return False
    return True


def reference_matches(pattern: str, ref: Reference) -> bool:
    """Docker's ``FamiliarMatch``: a glob on ``name:tag`` or on the name, ``*`` not
    crossing ``/`` (Go's ``path.Match``)."""

    def glob(text: str) -> bool:
        return fnmatchcase(text, pattern) and text.count("/") == pattern.count("/")

    return glob(ref.familiar()) or glob(ref.familiar_name)


def summary(
    doc: dict[str, Any], config: dict[str, Any], tags: list[str], digests: list[str]
) -> dict[str, Any]:
    return {
        "Containers": -1,
        "Created": int(parse_time(config.get("created", ""))),
        "Id": doc["id"],
        "Labels": (config.get("config") or {}).get("Labels") or {},
        "ParentId": doc.get("parent", ""),
        "RepoDigests": digests,
        "RepoTags": tags,
        "SharedSize": -1,
        "Size": doc["size"],
        "VirtualSize": doc["size"],
    }


def inspect(
    doc: dict[str, Any],
    config: dict[str, Any],
    tags: list[str],
    digests: list[str],
    graph: dict[str, str],
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "Id": doc["id"],
        "RepoTags": tags,
        "RepoDigests": digests,
        "Parent": doc.get("parent", ""),
        "Comment": config.get("comment", ""),
        "Created": config.get("created", ZERO_TIME),
        "Container": config.get("container", ""),
        "ContainerConfig": config.get("container_config") or empty_config(),
        "DockerVersion": config.get("docker_version", ""),
        "Author": config.get("author", ""),
        "Config": config.get("config") or empty_config(),
        "Architecture": config.get("architecture", ""),
        "Os": config.get("os", ""),
        "Size": doc["size"],
        "VirtualSize": doc["size"],
        "GraphDriver": {"Name": "overlay2", "Data": graph},
        "RootFS": {"Type": "layers", "Layers": list(doc["diff_ids"])},
        "Metadata": {"LastTagTime": doc.get("last_tag_time") or ZERO_TIME},
    }
    if config.get("variant"):
        out["Variant"] = config["variant"]
    if config.get("os.version"):
        out["OsVersion"] = config["os.version"]
    return out


def history(
    doc: dict[str, Any], config: dict[str, Any], layer_sizes: list[int], tags: list[str]
) -> list[dict[str, Any]]:
    """Rows newest first; the top one carries the image id and tags, the rest
    ``<missing>`` (their intermediate images are not stored), as dockerd answers."""
    rows: list[dict[str, Any]] = []
    layer = 0
    for entry in config.get("history") or []:
        size = 0
        if not entry.get("empty_layer"):
            if layer >= len(layer_sizes):
                raise InvalidParameter("too many non-empty layers in History section")
            size = layer_sizes[layer]
            layer += 1
        rows.insert(
            0,
            {
                "Comment": entry.get("comment", ""),
                "Created": int(parse_time(entry.get("created", ""))),
                "CreatedBy": entry.get("created_by", ""),
                "Id": "<missing>",
                "Size": size,
                "Tags": None,
            },
        )
    if rows:
        rows[0]["Id"] = doc["id"]
        rows[0]["Tags"] = tags
    return rows
