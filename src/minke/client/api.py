"""The Docker Engine API client: version negotiation, requests, error mapping.

Owns URL building (``/v1.41/...`` after negotiating with ``HEAD /_ping`` like the docker CLI),
query encoding, JSON bodies, turning ``{"message": ...}`` failures into ``minke.errors`` via
``httperrors.from_status``, and handing out the three kinds of response body: a complete
one, a chunked stream (``StreamResponse``) and a hijacked socket (``HijackedConnection``).
Endpoint knowledge stays with the callers; this class only knows how to talk.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from urllib.parse import quote, urlencode

from minke import httperrors

from . import framing
from .hijack import HijackedConnection, hijack
from .http11 import ProtocolError
from .http11 import Response as RawResponse
from .transport import ConnectionFailed, Host, HostConnection, connection_failed, error_message

# typing is imported only by type checkers: it costs milliseconds of CLI start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, Any

API_VERSION = "1.41"  # the newest version this client speaks
READ_SIZE = 32 * 1024

Params = Mapping[str, object]


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def negotiate(ours: str, theirs: str | None) -> str:
    """The lower of the two versions, as the docker CLI picks; ours if the daemon said none."""
    if not theirs:
        return ours
    try:
        return min(ours, theirs, key=_version_tuple)
    except ValueError:
        return ours


def encode_query(params: Params | None) -> str:
    """Docker's query conventions: booleans as 1/0, maps and lists as JSON, None omitted."""
    if not params:
        return ""
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            pairs.append((key, "1" if value else "0"))
        elif isinstance(value, dict | list):
            pairs.append((key, json.dumps(value, separators=(",", ":"))))
        elif isinstance(value, tuple):
            pairs.extend((key, str(v)) for v in value)  # a repeated parameter
        else:
            pairs.append((key, str(value)))
    return "?" + urlencode(pairs) if pairs else ""


def quote_name(name: str) -> str:
    """A container or image name as one path segment (image names hold "/" and ":")."""
    return quote(name, safe="")


class Response:
    """A complete response."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body) if self.body.strip() else None


class StreamResponse:
    """A response read as it arrives (chunked JSON lines, frames or raw tty bytes)."""

    def __init__(self, conn: HostConnection, response: RawResponse) -> None:
        self._conn = conn
        self.response = response
        self.status = response.status
        self.headers = {k.lower(): v for k, v in response.getheaders()}

    def chunks(self) -> Iterator[bytes]:
        while True:
            try:
                data = self.response.read1(READ_SIZE)
            except ConnectionError:
                return  # the daemon went away mid-stream; the caller sees the end
            if not data:
                return
            yield data

    def json_messages(self) -> Iterator[Any]:
        return framing.json_messages(self.chunks())

    def read(self) -> bytes:
        return self.response.read()

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> StreamResponse:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class APIClient:
    """A synchronous client for one daemon. Not thread-safe except ``stream``/``hijack``,
    which use a connection of their own per call."""

    def __init__(self, host: Host, version: str | None = None) -> None:
        self.host = host
        self._version = version
        self._conn: HostConnection | None = None

    # --- version -------------------------------------------------------------------------

    @property
    def version(self) -> str:
        if self._version is None:
            self._version = negotiate(API_VERSION, self.ping().get("api-version"))
        return self._version

    def ping(self) -> dict[str, str]:
        """``HEAD /_ping``: the daemon's headers (``api-version``, ``ostype``...)."""
        conn = HostConnection(self.host)
        try:
            conn.request("HEAD", "/_ping", headers={"User-Agent": "minke-cli"})
            response = conn.getresponse()
            response.read()
            return {k.lower(): v for k, v in response.getheaders()}
        except ConnectionFailed:
            raise
        except (OSError, ProtocolError) as exc:
            raise connection_failed(self.host, exc) from exc
        finally:
            conn.close()

    def url(self, path: str, params: Params | None = None) -> str:
        return f"/v{self.version}{path}{encode_query(params)}"

    # --- requests ------------------------------------------------------------------------

    def _request(
        self,
        conn: HostConnection,
        method: str,
        path: str,
        params: Params | None,
        body: Any,
        data: bytes | IO[bytes] | None,
        headers: Mapping[str, str] | None,
    ) -> None:
        """Send a request without waiting for the answer."""
        hdrs = {"User-Agent": "minke-cli", **(headers or {})}
        payload: bytes | IO[bytes] | None = data
        if body is not None:
            payload = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        elif method in ("POST", "PUT") and data is None:
            payload = b""
        try:
            conn.request(method, self.url(path, params), body=payload, headers=hdrs)
        except ConnectionFailed:
            raise
        except (OSError, ProtocolError) as exc:
            conn.close()
            raise connection_failed(self.host, exc) from exc

    def _response(self, conn: HostConnection) -> RawResponse:
        """The answer to the request sent on ``conn``; failures raised as minke errors."""
        try:
            response = conn.getresponse()
        except (OSError, ProtocolError) as exc:
            conn.close()
            raise connection_failed(self.host, exc) from exc
        if response.status >= 400:
            raw = response.read()
            raise httperrors.from_status(response.status, error_message(raw, response.status))
        return response

    def _send(
        self,
        conn: HostConnection,
        method: str,
        path: str,
        params: Params | None,
        body: Any,
        data: bytes | IO[bytes] | None,
        headers: Mapping[str, str] | None,
    ) -> RawResponse:
        self._request(conn, method, path, params, body, data, headers)
        return self._response(conn)

    def call(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        body: Any = None,
        data: bytes | IO[bytes] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """One request on the shared keep-alive connection, body read completely."""
        self.version  # noqa: B018 - negotiate before taking the shared connection
        if self._conn is None:
            self._conn = HostConnection(self.host)
        try:
            response = self._send(self._conn, method, path, params, body, data, headers)
            raw = response.read()
        except BaseException:
            # The connection state is unknown after a failure: start afresh next time.
            self._conn.close()
            self._conn = None
            raise
        return Response(response.status, {k.lower(): v for k, v in response.getheaders()}, raw)

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.call(method, path, **kwargs).json()

    def get(self, path: str, params: Params | None = None) -> Any:
        return self.json("GET", path, params=params)

    def post(self, path: str, params: Params | None = None, body: Any = None) -> Any:
        return self.json("POST", path, params=params, body=body)

    def stream(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        body: Any = None,
        data: bytes | IO[bytes] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> StreamResponse:
        """A request on a connection of its own whose body the caller reads as it comes."""
        self.version  # noqa: B018 - negotiate first; the property caches the result
        conn = HostConnection(self.host)
        try:
            response = self._send(conn, method, path, params, body, data, headers)
        except BaseException:
            conn.close()
            raise
        return StreamResponse(conn, response)

    def hijack(
        self,

        method: str,
        path: str,
        *,
        params: Params | None = None,
        body: Any = None,
        content_type: str = "text/plain",
    ) -> HijackedConnection:
        """An upgraded connection (attach, exec start)."""
        raw = b"" if body is None else json.dumps(body).encode()
        if body is not None:
            content_type = "application/json"
        return hijack(self.host, method, self.url(path, params), body=raw,
                      content_type=content_type)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class WaitHandle:
    """``POST /containers/{id}/wait`` sent now, its answer read later.

    docker sends the wait before ``start`` so that a short-lived container cannot exit (or
    be auto-removed) before anyone waits for it; the daemon answers when it exits.
    """

    def __init__(self, client: APIClient, container: str, condition: str | None) -> None:
        params = {"condition": condition} if condition else None
        # Like docker's ContainerWait, return once the response head has arrived: the
        # daemon then has registered the wait, so start cannot race past it. The body (the
        # exit status) follows when the container exits.
        self._stream = client.stream("POST", f"/containers/{quote_name(container)}/wait",
                                     params=params)

    def result(self) -> int:
        """The exit code; raises if the daemon reports an error instead."""
        with self._stream as stream:
            doc = json.loads(stream.read() or b"{}")
        error = doc.get("Error") or {}
        if error.get("Message"):
            raise httperrors.from_status(500, error["Message"])
        return int(doc.get("StatusCode", 0))

    def close(self) -> None:
        self._stream.close()
