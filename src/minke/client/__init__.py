"""A small synchronous Docker Engine API client on the standard library.

``transport`` finds and connects to the daemon, ``framing`` decodes multiplexed frames and
JSON-lines streams, ``hijack`` upgrades a request into a two-way socket, ``api`` negotiates
the version and maps errors. Nothing here imports beyond the standard library and
``minke.errors``, so the CLI stays quick to start.
"""

from .api import APIClient, Response, StreamResponse, WaitHandle, quote_name
from .framing import STDERR, STDIN, STDOUT, FrameDecoder, JSONLinesDecoder
from .hijack import HijackedConnection
from .transport import ConnectionFailed, Host, resolve_host

__all__ = [
    "STDERR",
    "STDIN",
    "STDOUT",
    "APIClient",
    "ConnectionFailed",
    "FrameDecoder",
    "HijackedConnection",
    "Host",
    "JSONLinesDecoder",
    "Response",
    "StreamResponse",
    "WaitHandle",
    "quote_name",
    "resolve_host",
]
