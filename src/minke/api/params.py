"""Query-string and body parsing with Docker's conventions, raising InvalidParameter.

The one reader of a request's JSON (``json_body``, ``decode_json``) and of its URL
(``check_url``): bytes that are not UTF-8, text that is not JSON, nesting too deep, a body
of the wrong type for its ``shapes`` entry, or a NUL byte in the path or the query are a
400 naming the problem before any handler code runs.

Booleans accept ``1/0``, ``true/false`` and Python's ``True/False`` (compose sends those);
filters accept both the map-of-bools shape (docker CLI) and the list shape (docker-py).
"""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web

from minke.api.shapes import Shape, check
from minke.errors import InvalidParameter

_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
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
        value = int(raw)
    except ValueError:
        raise InvalidParameter(
            f"invalid value for query parameter {name!r}: {raw!r} is not an integer"
        ) from None
    if not _INT64_MIN <= value <= _INT64_MAX:  # as Go's strconv.Atoi refuses it
        raise InvalidParameter(
            f"invalid value for query parameter {name!r}: {raw!r} is out of range")
    return value


def qstr(request: web.Request, name: str, default: str | None = None) -> str | None:
    return request.query.get(name, default)


def qfilters(request: web.Request) -> dict[str, list[str]]:
    """Docker's ``filters`` parameter, normalised to ``{key: [values]}``."""
    raw = request.query.get("filters")
    if not raw:
        return {}
    return parse_filters(raw)


def parse_filters(raw: str) -> dict[str, list[str]]:
    data = decode_json(raw, "invalid filter")
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


def check_url(request: web.Request) -> None:
    """Refuse a NUL byte anywhere in the decoded path or query: no name, id or path of
    Docker's has one, and the OS would refuse it deep inside the engine."""
    if "\x00" in request.path:
        raise InvalidParameter("invalid request path: it contains a NUL byte")
    if "\x00" in request.query_string:
        for key, value in request.query.items():
            if "\x00" in key or "\x00" in value:
                raise InvalidParameter(
                    f"invalid value for query parameter {key!r}: it contains a NUL byte")
        raise InvalidParameter("invalid query string: it contains a NUL byte")


# A \uD800-\uDFFF escape: Python keeps a lone one as an unencodable character.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def decode_json(raw: bytes | str, what: str = "invalid JSON in request body") -> Any:
    """JSON text (``raw`` must be UTF-8) decoded as Go's encoding/json would accept it; any
    failure is an ``InvalidParameter`` starting with ``what``."""
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidParameter(
                f"{what}: it is not UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start})"
            ) from None
    else:
        text = raw
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise InvalidParameter(
            f"{what}: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise InvalidParameter(f"{what}: nested too deeply") from None
    except ValueError as exc:  # NaN or Infinity, an integer of too many digits
        raise InvalidParameter(f"{what}: {exc}") from None
    if _SURROGATE_ESCAPE.search(text):
        data = _replace_lone_surrogates(data)
    return data


def _replace_lone_surrogates(value: Any) -> Any:
    """Lone UTF-16 surrogates become U+FFFD, as Go decodes them: Python would keep them,
    and they could not be encoded (to a file name, to SQLite) later."""
    if isinstance(value, str):
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(value, list):
        return [_replace_lone_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {_replace_lone_surrogates(k): _replace_lone_surrogates(v)
                for k, v in value.items()}
    return value


async def json_body(request: web.Request, shape: Shape | None = None, *,
                    required: bool = True) -> dict[str, Any]:
    """The request's JSON object body, checked against ``shape``; an empty body is ``{}``
    unless ``required``."""
    raw = await request.read()
    if not raw.strip():
        if required:
            raise InvalidParameter("request body is empty: a JSON object is expected")
        return {}
    data = decode_json(raw)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidParameter("invalid JSON in request body: expected an object")
    if shape is not None:
        check(shape, data)
    return data
