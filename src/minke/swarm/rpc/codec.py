"""The wire format of minke's node-to-node gRPC: JSON messages (``application/grpc+json``).

JSON rather than protobuf on purpose: what nodes exchange is the store's own objects, already
Docker API-shaped JSON documents (tasks, nodes, networks...), so a schema would only restate
the swagger and have to be kept in step with it; gRPC's framing, deadlines, status codes and
HTTP/2 streams are what we want from it. The cost is size and no wire compatibility with
SwarmKit, which no Docker node could use here anyway (its Raft and CA protocols are not
spoken).
"""

from __future__ import annotations

import json
from typing import Any

from grpclib.encoding.base import CodecBase


class JSONCodec(CodecBase):
    __content_subtype__ = "json"

    def encode(self, message: Any, message_type: Any) -> bytes:
        return json.dumps(message, separators=(",", ":")).encode()

    def decode(self, data: bytes, message_type: Any) -> Any:
        return json.loads(data) if data else {}
