"""Node-to-node calls: gRPC (grpclib) over mutual TLS with the certificates the cluster's
root CA issues. ``tls`` makes the SSL contexts and reads a peer's identity, ``codec`` is the
wire format, ``server`` serves methods with per-method role checks, ``client`` calls them."""

from minke.swarm.rpc.client import ManagerConnection
from minke.swarm.rpc.codec import JSONCodec
from minke.swarm.rpc.server import ANYONE, MANAGER, NODE, Call, Method, RPCServer
from minke.swarm.rpc.tls import Identity, NodeCredentials

__all__ = [
    "ANYONE",
    "MANAGER",
    "NODE",
    "Call",
    "Identity",
    "JSONCodec",
    "ManagerConnection",
    "Method",
    "NodeCredentials",
    "RPCServer",
]
