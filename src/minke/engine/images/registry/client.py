"""The Distribution API v2 client for one repository: manifests, blobs and uploads, on
aiohttp, with authentication and error translation.

``RepositoryClient`` opens one HTTP session, pings ``/v2/`` to learn the scheme (HTTPS,
or HTTP for an insecure registry that does not speak TLS) and the auth challenge, then
sends each request with the ``Authorization`` header of its scope. Registry errors become
minke errors with the registry's words: 401 → ``Unauthorized``, 404 of a manifest →
``NotFound`` ("manifest unknown"), network failures → ``Unavailable`` naming the URL as
dockerd does (``Get "https://registry-1.docker.io/v2/": …``).
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from minke.engine.images.registry.auth import Authorizer, registry_message
from minke.engine.images.registry.endpoint import Endpoint
from minke.engine.images.registry.manifest import ACCEPT, MAX_MANIFEST
from minke.errors import InvalidParameter, MinkeError, NotFound, Unauthorized, Unavailable
from minke.version import DOCKER_COMPAT_VERSION

USER_AGENT = f"minke/{DOCKER_COMPAT_VERSION}"
CONNECT_TIMEOUT = 15  # s
READ_TIMEOUT = 60  # s without a byte from the registry
READ_BUFSIZE = 1 << 20  # bytes buffered per response before the socket is paused




def _translate(exc: BaseException, method: str, url: str) -> MinkeError:
    if isinstance(exc, aiohttp.ClientConnectorError):
        return Unavailable(f"{method.title()} \"{url}\": dial tcp {exc.host}:{exc.port}: "
                           f"{exc.os_error or exc}")
    return Unavailable(f"{method.title()} \"{url}\": {exc}")


class RepositoryClient:
    """Requests to one repository (``path``, like ``library/busybox``) of one registry.
    Use as an async context manager; ``actions`` are the token scope (``pull``, ``push``)."""

    def __init__(self, endpoint: Endpoint, path: str, authorizer: Authorizer,
                 actions: tuple[str, ...] = ("pull",)) -> None:
        self.endpoint = endpoint
        self.path = path
        self.auth = authorizer
        self.scopes = [f"repository:{path}:{','.join(actions)}"]
        self.base = ""
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> RepositoryClient:
        context: ssl.SSLContext | bool = self.endpoint.tls or True
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=context, limit=16),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT,
                                          sock_read=READ_TIMEOUT),
            headers={"User-Agent": USER_AGENT},
            auto_decompress=False,  # blobs are verified by the digest of their exact bytes
            # aiohttp's default (64 KiB) pauses the socket every 128 KiB and hands a blob
            # over in that many pieces, each a hop to the extraction thread.
            read_bufsize=READ_BUFSIZE,
        )
        try:
            await self._ping()
        except BaseException:
            await self._session.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None, "use RepositoryClient as a context manager"
        return self._session

    async def _ping(self) -> None:
        last: BaseException | None = None
        for base in self.endpoint.urls():
            url = f"{base}/v2/"
            try:
                async with self.session.get(url) as response:
                    await response.read()
                    if response.status == 401:
                        self.auth.challenged(response.headers.get("WWW-Authenticate", ""))
                    elif response.status >= 400 and response.status != 404:
                        raise Unavailable(f"Get \"{url}\": unexpected status {response.status}")
            except (aiohttp.ClientError, ssl.SSLError, OSError) as exc:
                last = _translate(exc, "GET", url)
                continue
            self.base = base
            return
        assert last is not None
        raise last

    # -- requests ---------------------------------------------------------------------

    async def request(self, method: str, path: str, *, headers: dict[str, str] | None = None,
                      data: Any = None, scopes: list[str] | None = None,
                      replayable: bool = True) -> aiohttp.ClientResponse:
        """Send one request (``path`` relative to the registry, or an absolute URL); on a
        401 with a new challenge, authorize and send it again if ``replayable``. The caller
        reads and releases the response; statuses >= 400 other than 401 are left to it."""
        url = path if path.startswith(("http://", "https://")) else self.base + path
        scopes = scopes or self.scopes
        for attempt in range(2):
            hdrs = dict(headers or {})
            authorization = await self.auth.header(self.session, scopes)
            if authorization:
                hdrs["Authorization"] = authorization
            try:
                response = await self.session.request(method, url, headers=hdrs, data=data)
            except (aiohttp.ClientError, ssl.SSLError, OSError) as exc:
                raise _translate(exc, method, url) from exc
            if response.status != 401:
                return response
            body = await response.read()
            response.release()
            message = registry_message(body, 401, response.reason or "")
            retry = (attempt == 0 and replayable
                     and self.auth.challenged(response.headers.get("WWW-Authenticate", "")))
            if retry and authorization:
                self.auth.forget_tokens()  # a token that was refused will not do again
                retry = authorization.startswith("Bearer")
            if not retry:
                raise Unauthorized(message)
        raise Unauthorized("unauthorized: authentication required")

    async def fail(self, response: aiohttp.ClientResponse, what: str) -> MinkeError:
        """The error for a failed ``response`` (read and released here)."""
        body = await response.read()
        response.release()
        message = registry_message(body, response.status, response.reason or "")
        if response.status == 404:
            return NotFound(f"{what}: {message}")
        if response.status in (400, 405, 409, 413, 416):
            return InvalidParameter(f"{what}: {message}")
        if response.status == 403:
            return Unauthorized(f"{what}: denied: {message}")
        return Unavailable(f"{what}: {message}")

    # -- manifests --------------------------------------------------------------------

    async def get_manifest(self, reference: str) -> tuple[bytes, str, str | None]:
        """The bytes of manifest ``reference`` (tag or digest), their media type and the
        registry's ``Docker-Content-Digest``. Larger than 4 MiB is refused unread."""
        response = await self.request(
            "GET", f"/v2/{self.path}/manifests/{reference}", headers={"Accept": ACCEPT})
        try:
            if response.status >= 400:
                raise await self.fail(response, "manifest")
            length = response.content_length
            if length is not None and length > MAX_MANIFEST:
                raise InvalidParameter(f"manifest too large: {length} bytes, the limit is "
                                       f"{MAX_MANIFEST} bytes")
            raw = bytearray()
            async for chunk in response.content.iter_any():
                raw += chunk
                if len(raw) > MAX_MANIFEST:
                    raise InvalidParameter(f"manifest too large: more than {MAX_MANIFEST} "
                                           "bytes")
            return (bytes(raw), response.headers.get("Content-Type", ""),
                    response.headers.get("Docker-Content-Digest"))
        finally:
            response.release()

    async def put_manifest(self, reference: str, raw: bytes, media_type: str) -> str | None:
        response = await self.request(
            "PUT", f"/v2/{self.path}/manifests/{reference}",
            headers={"Content-Type": media_type}, data=raw)
        try:
            if response.status >= 400:
                raise await self.fail(response, f"put manifest {reference}")
            return response.headers.get("Docker-Content-Digest")
        finally:
            response.release()

    # -- blobs ------------------------------------------------------------------------

    async def blob_size(self, digest: str, path: str | None = None) -> int | None:
        """The size of blob ``digest`` if the repository has it, else None."""
        response = await self.request("HEAD", f"/v2/{path or self.path}/blobs/{digest}")
        try:
            if response.status == 404:
                return None
            if response.status >= 400:
                raise await self.fail(response, f"blob {digest}")
            return response.content_length or 0
        finally:
            response.release()

    async def open_blob(self, digest: str, offset: int = 0) -> aiohttp.ClientResponse:
        """The response carrying blob ``digest`` from ``offset``: status 206 when the
        registry honoured the range, 200 when it sends the whole blob again."""
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        response = await self.request("GET", f"/v2/{self.path}/blobs/{digest}", headers=headers)
        if response.status >= 400:
            raise await self.fail(response, f"blob {digest}")
        return response

    async def read_blob(self, digest: str, limit: int) -> bytes:
        """A small blob (a config) read whole; refused past ``limit`` bytes."""
        response = await self.open_blob(digest)
        try:
            raw = bytearray()
            async for chunk in response.content.iter_any():
                raw += chunk
                if len(raw) > limit:
                    raise InvalidParameter(f"blob {digest} is larger than {limit} bytes")
            return bytes(raw)
        finally:
            response.release()

    # -- uploads ----------------------------------------------------------------------

    async def mount_blob(self, digest: str, source: str) -> bool:
        """Cross-repository mount of ``digest`` from repository ``source``; False when the
        registry started an ordinary upload instead (it is cancelled)."""
        scopes = [*self.scopes, f"repository:{source}:pull"]
        response = await self.request(
            "POST", f"/v2/{self.path}/blobs/uploads/?mount={digest}&from={source}",
            scopes=scopes)
        try:
            if response.status == 201:
                return True
            if response.status == 202:
                location = response.headers.get("Location")
                if location:
                    cancel = await self.request("DELETE", self._url(location))
                    cancel.release()
                return False
            raise await self.fail(response, f"mount {digest}")
        finally:
            response.release()

    def _url(self, location: str) -> str:
        return location if location.startswith(("http://", "https://")) else self.base + location

    async def start_upload(self) -> str:
        response = await self.request("POST", f"/v2/{self.path}/blobs/uploads/")
        try:
            if response.status != 202:
                raise await self.fail(response, "start upload")
            location = response.headers.get("Location")
            if not location:
                raise Unavailable("start upload: the registry sent no Location")
            return self._url(location)
        finally:
            response.release()

    async def upload_monolithic(self, digest: str, data: bytes) -> None:
        """POST then one PUT carrying the whole blob (configs and other small blobs)."""
        location = await self.start_upload()
        await self._finish(location, digest, data)

    async def upload_chunk(self, location: str, chunks: AsyncIterator[bytes] | bytes,
                           offset: int, length: int | None) -> str:
        """One PATCH of the upload at ``location``; returns the next location. With
        ``length`` the chunk carries ``Content-Range`` (a chunked upload); without, the
        body is streamed with chunked transfer encoding (a streamed upload)."""
        headers = {"Content-Type": "application/octet-stream"}
        if length is not None:
            headers["Content-Range"] = f"{offset}-{offset + length - 1}"
            headers["Content-Length"] = str(length)
        response = await self.request("PATCH", location, headers=headers, data=chunks,
                                      replayable=False)
        try:
            if response.status != 202:
                raise await self.fail(response, "upload")
            return self._url(response.headers.get("Location") or location)
        finally:
            response.release()

    async def _finish(self, location: str, digest: str, data: bytes = b"") -> None:
        separator = "&" if "?" in location else "?"
        response = await self.request("PUT", f"{location}{separator}digest={digest}",
                                      headers={"Content-Type": "application/octet-stream"},
                                      data=data)
        try:
            if response.status != 201:
                raise await self.fail(response, f"upload {digest}")
        finally:
            response.release()

    async def finish_upload(self, location: str, digest: str) -> None:
        await self._finish(location, digest)
