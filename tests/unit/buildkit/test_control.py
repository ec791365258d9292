"""The control and gateway APIs as a Go client calls them (here grpclib, on a unix socket):
the worker and version, the gateway's capabilities, the Solve/Return hand-over buildx uses
(an internal build with no result and no exporter), and refusals that say why."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from grpclib.client import Channel
from grpclib.const import Cardinality, Status
from grpclib.exceptions import GRPCError

from minke.buildkit.control import BUILD_ID_KEY, Controller
from minke.buildkit.pb import control_pb2, gateway_pb2, ops_pb2
from minke.engine.images.archive import host_arch

CONTROL = "/moby.buildkit.v1.Control/"
BRIDGE = "/moby.buildkit.v1.frontend.LLBBridge/"


@asynccontextmanager
async def served() -> AsyncIterator[Channel]:
    server = Controller(None).server()
    with tempfile.TemporaryDirectory() as tmp:
        sock = str(Path(tmp) / "grpc.sock")
        await server.start(path=sock)
        channel = Channel(path=sock)
        try:
            yield channel
        finally:
            channel.close()
            server.close()
            await server.wait_closed()


async def unary(channel: Channel, path: str, request: Any, reply: type, *,
                metadata: Any = None) -> Any:
    async with channel.request(path, Cardinality.UNARY_UNARY, type(request), reply,
                               metadata=metadata) as stream:
        await stream.send_message(request, end=True)
        return await stream.recv_message()


async def test_worker_version_and_caps() -> None:
    async with served() as channel:
        workers = await unary(channel, CONTROL + "ListWorkers",
                              control_pb2.ListWorkersRequest(),
                              control_pb2.ListWorkersResponse)
        (worker,) = workers.record
        assert [(p.OS, p.Architecture) for p in worker.platforms] == [("linux", host_arch())]
        # no containerd-snapshotter label: buildx then exports with the "moby" exporter
        assert "org.mobyproject.buildkit.worker.snapshotter" not in worker.Labels
        info = await unary(channel, CONTROL + "Info", control_pb2.InfoRequest(),
                           control_pb2.InfoResponse)
        assert info.buildkitVersion.version.startswith("v0.")
        pong = await unary(channel, BRIDGE + "Ping", gateway_pb2.PingRequest(),
                           gateway_pb2.PongResponse)
        caps = {c.ID for c in pong.FrontendAPICaps if c.Enabled}
        assert {"solve.base", "return", "proto.refarray"} <= caps


async def test_gateway_hand_over_of_an_internal_build() -> None:
    import asyncio

    async with served() as channel:
        solve = asyncio.ensure_future(unary(
            channel, CONTROL + "Solve", control_pb2.SolveRequest(Ref="b1", Session="s1",
                                                                Internal=True),
            control_pb2.SolveResponse))
        await asyncio.sleep(0.05)
        assert not solve.done()  # waits for the gateway client's Return
        await unary(channel, BRIDGE + "Return", gateway_pb2.ReturnRequest(
            result=gateway_pb2.Result()), gateway_pb2.ReturnResponse,
            metadata=[(BUILD_ID_KEY, "b1")])
        response = await asyncio.wait_for(solve, 5)
        assert dict(response.ExporterResponse) == {}


async def test_returned_error_reaches_the_solve() -> None:
    import asyncio

    from google.rpc import status_pb2

    async with served() as channel:
        solve = asyncio.ensure_future(unary(
            channel, CONTROL + "Solve", control_pb2.SolveRequest(Ref="b2", Session="s1"),
            control_pb2.SolveResponse))
        await asyncio.sleep(0.05)
        await unary(channel, BRIDGE + "Return", gateway_pb2.ReturnRequest(
            error=status_pb2.Status(code=2, message="frontend said no")),
            gateway_pb2.ReturnResponse, metadata=[(BUILD_ID_KEY, "b2")])
        with pytest.raises(GRPCError, match="frontend said no"):
            await asyncio.wait_for(solve, 5)


async def test_refusals_say_why() -> None:
    async with served() as channel:
        definition = ops_pb2.Definition(**{"def": [b"\x00"]})
        with pytest.raises(GRPCError) as caught:
            await unary(channel, CONTROL + "Solve", control_pb2.SolveRequest(
                Ref="b3", Definition=definition), control_pb2.SolveResponse)
        assert "LLB definitions are not supported" in str(caught.value.message)
        with pytest.raises(GRPCError) as caught:
            await unary(channel, CONTROL + "Solve", control_pb2.SolveRequest(
                Ref="b4", Frontend="gateway.v0", FrontendAttrs={"source": "me/frontend"}),
                control_pb2.SolveResponse)
        assert "unsupported frontend gateway.v0 (source me/frontend)" in caught.value.message
        with pytest.raises(GRPCError) as caught:
            await unary(channel, BRIDGE + "Solve", gateway_pb2.SolveRequest(
                Frontend="dockerfile.v0"), gateway_pb2.SolveResponse)
        assert caught.value.status == Status.INVALID_ARGUMENT  # no build id
