"""Query-string and body parsing with Docker's conventions, raising InvalidParameter.

Booleans accept ``1/0``, ``true/false`` and Python's ``True/False`` (compose sends those);
filters accept both the map-of-bools shape (docker CLI) and the list shape (docker-py).
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from minke.errors import InvalidParameter

_TRUE = {"1", "true", "True", "TRUE", "yes"}
_FALSE = {"0", "false", "False", "FALSE", "no", ""}


def qbool(request: web.Request, name: str, default: bool = False) -> bool:
    raw = request.query.get(name)
    if raw is None:
        return default
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise InvalidParameter(f"invalid boolean value for query parameter {name!r}: {raw!r}")


def qint(request: web.Request, name: str, default: int | None = None) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidParameter(
            f"invalid value for query parameter {name!r}: {raw!r} is not an integer"
        ) from None


def qstr(request: web.Request, name: str, default: str | None = None) -> str | None:
    return request.query.get(name, default)


def qfilters(request: web.Request) -> dict[str, list[str]]:
    """Docker's ``filters`` parameter, normalised to ``{key: [values]}``."""
    raw = request.query.get("filters")
    if not raw:
        return {}
    return parse_filters(raw)


def parse_filters(raw: str) -> dict[str, list[str]]:
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidParameter(f"invalid filter: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidParameter("invalid filter: must be a JSON object")
    out: dict[str, list[str]] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out[key] = [k for k, v in value.items() if v]
        elif isinstance(value, list):
            out[key] = [str(v) for v in value]
        elif isinstance(value, str):
            out[key] = [value]
        else:
            raise InvalidParameter(f"invalid filter {key!r}: expected a list or a map of values")
    return out


def check_filters(filters: dict[str, list[str]], allowed: set[str]) -> None:
    for key in filters:
        if key not in allowed:
            raise InvalidParameter(f"invalid filter '{key}'")


async def json_body(request: web.Request, *, required: bool = True) -> dict[str, Any]:
    """The request's JSON object body; an empty body is ``{}`` unless ``required``."""
    raw = await request.read()
    if not raw.strip():
        if required:
            raise InvalidParameter("request body is empty: a JSON object is expected")
        return {}
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidParameter(
            f"invalid JSON in request body: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidParameter("invalid JSON in request body: expected an object")
    return data
