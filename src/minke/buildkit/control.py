"""BuildKit's control API as minked serves it on ``POST /grpc``.

``moby.buildkit.v1.Control``: ``Solve`` runs a build and exports it, ``Status`` streams its
progress, ``ListWorkers``/``Info`` describe the one worker (this host's platform),
``DiskUsage``/``Prune`` cover the builder's caches. ``moby.buildkit.v1.frontend.LLBBridge``
is the gateway API that buildx (and so Compose v2) drives a build through: its ``Solve``
with ``Frontend: dockerfile.v0`` builds and answers a reference, and ``Return`` hands the
final reference back to the pending ``Control.Solve``, which exports it. Clients that send
the frontend in ``Control.Solve`` itself are served directly.

A build is a ``Job``, keyed by the client's ref; gateway calls name it in the
``buildkit-controlapi-buildid`` metadata. Exporting is naming: the image store already has
the image (exporters ``moby``/``image``, attribute ``name``); other exporters are refused.
LLB definitions are not run: minke's builder takes Dockerfiles only.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import any_pb2
from grpclib.const import Cardinality, Handler, Status
from grpclib.encoding.proto import ProtoStatusDetailsCodec
from grpclib.exceptions import GRPCError
from grpclib.server import Server, Stream

from minke.buildkit import frontend as fe
from minke.buildkit.pb import (
    caps_pb2,
    control_pb2,
    errdefs_pb2,
    gateway_pb2,
    ops_pb2,
    worker_pb2,
)
from minke.buildkit.progress import StatusFeed
from minke.buildkit.session import SessionManager, stream_errors
from minke.engine.images.reference import parse as parse_ref
from minke.errors import InvalidParameter, MinkeError, NotSupported

log = logging.getLogger(__name__)

BUILDKIT_VERSION = "v0.25.1"  # the API level (protos) minked implements
BUILD_ID_KEY = "buildkit-controlapi-buildid"
KEEP_FINISHED = 30.0  # seconds a finished job's progress stays readable
GATEWAY_CAPS = ("solve.base", "return", "returnmap", "proto.refarray", "frontend.inputs",
                "gateway.warnings", "gateway.solve.evaluate")
IMAGE_EXPORTERS = ("moby", "image")


class _Details(ProtoStatusDetailsCodec):
    """Status details as given; an ``Any`` (forwarded from a client) is kept as it is."""

    def encode(self, status: Status, message: str | None, details: Any) -> bytes:
        from google.rpc import status_pb2

        proto = status_pb2.Status(code=status.value, message=message or "")
        for detail in details or []:
            if isinstance(detail, any_pb2.Any):
                proto.details.add().CopyFrom(detail)
            else:
                proto.details.add().Pack(detail)
        return proto.SerializeToString()


def _grpc_error(exc: BaseException) -> GRPCError:
    """A minke error as BuildKit reports it; a Dockerfile location becomes an
    ``errdefs.Source`` detail so that the client prints the lines around it."""
    if isinstance(exc, GRPCError):
        return exc
    if isinstance(exc, stream_errors()):
        return GRPCError(Status.UNAVAILABLE, f"the client's session went away: {exc}")
    message = getattr(exc, "message", "") or str(exc) or type(exc).__name__
    # Unknown, as BuildKit's own build errors: the Go client then shows the bare message
    # ("failed to solve: <message>") rather than "<Code>: <message>".
    status = Status.UNKNOWN
    details = []
    if isinstance(exc, fe.FrontendError) and exc.line:
        position = ops_pb2.Position(line=exc.line)
        details.append(errdefs_pb2.Source(
            info=ops_pb2.SourceInfo(filename=exc.filename, data=exc.data,
                                    language="Dockerfile"),
            ranges=[ops_pb2.Range(start=position, end=position)],
        ))
    return GRPCError(status, message, details or None)


@dataclass
class Job:
    ref: str
    feed: StatusFeed = field(default_factory=StatusFeed)
    session_id: str = ""
    configured: asyncio.Event = field(default_factory=asyncio.Event)
    results: dict[str, str] = field(default_factory=dict)  # gateway ref id → image id
    returned: asyncio.Future[gateway_pb2.ReturnRequest] | None = None


class Controller:
    """The jobs, sessions and the frontend; ``handlers`` are what ``/grpc`` serves."""

    def __init__(self, engine: Any, sessions: SessionManager | None = None) -> None:
        self.engine = engine
        self.sessions = sessions or SessionManager()
        self.frontend = fe.DockerfileFrontend(engine)
        self.jobs: dict[str, Job] = {}

    def server(self) -> Server:
        return Server([_Control(self), _Bridge(self)], status_details_codec=_Details())

    def job(self, ref: str) -> Job:
        job = self.jobs.get(ref)
        if job is None:
            job = self.jobs[ref] = Job(ref)
        return job

    def _forget(self, job: Job) -> None:
        def drop() -> None:
            if self.jobs.get(job.ref) is job:
                del self.jobs[job.ref]

        asyncio.get_running_loop().call_later(KEEP_FINISHED, drop)

    def worker(self) -> worker_pb2.WorkerRecord:
        from minke.engine.images.archive import host_arch

        return worker_pb2.WorkerRecord(
            ID="minke",
            Labels={"org.mobyproject.buildkit.worker.executor": "runc",
                    "org.mobyproject.buildkit.worker.moby.host-gateway-ip": ""},
            platforms=[ops_pb2.Platform(OS="linux", Architecture=host_arch())],
            BuildkitVersion=self.version(),
        )

    def version(self) -> worker_pb2.BuildkitVersion:
        from minke.version import MINKE_VERSION

        return worker_pb2.BuildkitVersion(package="github.com/moby/buildkit",
                                          version=BUILDKIT_VERSION,
                                          revision=f"minke-{MINKE_VERSION}")

    async def run_frontend(self, job: Job, frontend: str, attrs: dict[str, str]) -> str:
        fe.check_frontend(frontend, attrs)
        session = await self.sessions.get(job.session_id)
        return await self.frontend.build(session, attrs, job.feed)

    async def export(self, job: Job, request: control_pb2.SolveRequest,
                     image_id: str | None) -> dict[str, str]:
        exporters = [(e.Type, dict(e.Attrs)) for e in request.Exporters]
        if not exporters and request.ExporterDeprecated:
            exporters = [(request.ExporterDeprecated, dict(request.ExporterAttrsDeprecated))]
        response: dict[str, str] = {}
        for kind, attrs in exporters:
            if kind not in IMAGE_EXPORTERS:
                raise NotSupported(
                    f"exporter {kind!r} is not supported by minke: builds go to its image "
                    "store (--load, the default)"
                )
            if image_id is None:
                raise InvalidParameter("the build produced no image to export")
            if attrs.get("push", "").lower() in ("1", "true"):
                raise NotSupported("push from the build is not supported: use docker push")
            names = await self.name_image(job, image_id, attrs.get("name", "").split(","))
            response.update({"containerimage.config.digest": image_id,
                             "containerimage.digest": image_id})
            if names:
                response["image.name"] = ",".join(names)
        return response

    async def name_image(self, job: Job, image_id: str, names: list[str]) -> list[str]:
        """Tag the built image (the moby exporter's work: the image is in the store)."""
        refs = [parse_ref(n.strip()).tagged_or_latest() for n in names if n.strip()]
        async with job.feed.vertex("exporting to image") as vertex:
            for ref in refs:
                self.engine.images.tag(image_id, str(ref), None)
                job.feed.log(vertex, f"naming to {ref} done\n".encode())
        return [str(r) for r in refs]

    async def build_session(self, ref: str, session_id: str, attrs: dict[str, str],
                            names: list[str]) -> tuple[Job, asyncio.Task[str]]:
        """``POST /build?version=2``: a Dockerfile build whose files come through the
        session; the task answers the image id, the job's feed its progress."""
        job = self.job(ref)
        job.session_id = session_id
        job.configured.set()

        async def run() -> str:
            try:
                image_id = await self.run_frontend(job, fe.DOCKERFILE_FRONTEND, attrs)
                await self.name_image(job, image_id, names)
                return image_id
            finally:
                job.feed.close()
                self._forget(job)

        return job, asyncio.create_task(run())


def _method(func: Callable[[Stream[Any, Any]], Awaitable[None]], cardinality: Cardinality,
            request: Any, reply: Any) -> Handler:
    return Handler(func, cardinality, request, reply)


class _Control:
    def __init__(self, controller: Controller) -> None:
        self.c = controller

    def __mapping__(self) -> dict[str, Handler]:
        p = "/moby.buildkit.v1.Control/"
        unary, out_stream = Cardinality.UNARY_UNARY, Cardinality.UNARY_STREAM
        return {
            p + "Solve": _method(self.solve, unary, control_pb2.SolveRequest,
                                 control_pb2.SolveResponse),
            p + "Status": _method(self.status, out_stream, control_pb2.StatusRequest,
                                  control_pb2.StatusResponse),
            p + "ListWorkers": _method(self.list_workers, unary,
                                       control_pb2.ListWorkersRequest,
                                       control_pb2.ListWorkersResponse),
            p + "Info": _method(self.info, unary, control_pb2.InfoRequest,
                                control_pb2.InfoResponse),
            p + "DiskUsage": _method(self.disk_usage, unary, control_pb2.DiskUsageRequest,
                                     control_pb2.DiskUsageResponse),
            p + "Prune": _method(self.prune, out_stream, control_pb2.PruneRequest,
                                 control_pb2.UsageRecord),
            p + "ListenBuildHistory": _method(self.history, out_stream,
                                              control_pb2.BuildHistoryRequest,
                                              control_pb2.BuildHistoryEvent),
        }

    async def solve(self, stream: Stream[Any, Any]) -> None:
        request = await stream.recv_message()
        assert request is not None
        job = self.c.job(request.Ref or secrets.token_hex(12))
        job.session_id = request.Session
        job.returned = asyncio.get_running_loop().create_future()
        job.configured.set()
        try:
            if request.HasField("Definition") and len(getattr(request.Definition, "def")):
                raise NotSupported("minke's builder runs Dockerfiles (frontend dockerfile.v0); "
                                   "LLB definitions are not supported")
            image_id: str | None = None
            if request.Frontend:
                image_id = await self.c.run_frontend(job, request.Frontend,
                                                     dict(request.FrontendAttrs))
            else:
                returned = await job.returned
                if returned.HasField("error") and returned.error.code:
                    err = returned.error
                    raise GRPCError(Status(err.code), err.message, list(err.details) or None)
                image_id = _result_image(job, returned.result)
            response = await self.c.export(job, request, image_id)
            await stream.send_message(control_pb2.SolveResponse(ExporterResponse=response))
        except (MinkeError, GRPCError, *stream_errors()) as exc:
            raise _grpc_error(exc) from None
        finally:
            job.feed.close()
            self.c._forget(job)

    async def status(self, stream: Stream[Any, Any]) -> None:
        request = await stream.recv_message()
        assert request is not None
        job = self.c.job(request.Ref)
        try:
            async for item in job.feed.follow():
                await stream.send_message(item)
        finally:
            if not job.configured.is_set():  # a status request for a build never started
                self.c._forget(job)

    async def list_workers(self, stream: Stream[Any, Any]) -> None:
        await stream.recv_message()
        await stream.send_message(control_pb2.ListWorkersResponse(record=[self.c.worker()]))

    async def info(self, stream: Stream[Any, Any]) -> None:
        await stream.recv_message()
        await stream.send_message(control_pb2.InfoResponse(buildkitVersion=self.c.version()))

    async def disk_usage(self, stream: Stream[Any, Any]) -> None:
        await stream.recv_message()
        await stream.send_message(control_pb2.DiskUsageResponse())

    async def prune(self, stream: Stream[Any, Any]) -> None:
        await stream.recv_message()
        result = await asyncio.to_thread(self.c.engine.builder.prune)
        for name in result.get("CachesDeleted") or []:
            await stream.send_message(control_pb2.UsageRecord(ID=name, RecordType="regular"))

    async def history(self, stream: Stream[Any, Any]) -> None:
        await stream.recv_message()  # no build history is kept: the stream ends at once


def _result_image(job: Job, result: gateway_pb2.Result) -> str | None:
    kind = result.WhichOneof("result")
    if kind is None:
        return None
    if kind == "ref":
        ref_id = result.ref.id
    elif kind == "refDeprecated":
        ref_id = result.refDeprecated
    else:
        raise NotSupported("multi-platform results (a map of references) are not supported")
    if not ref_id:
        return None
    image_id = job.results.get(ref_id)
    if image_id is None:
        raise InvalidParameter(f"unknown result reference {ref_id}")
    return image_id


class _Bridge:
    def __init__(self, controller: Controller) -> None:
        self.c = controller

    def __mapping__(self) -> dict[str, Handler]:
        p = "/moby.buildkit.v1.frontend.LLBBridge/"
        unary = Cardinality.UNARY_UNARY
        g = gateway_pb2
        return {
            p + "Ping": _method(self.ping, unary, g.PingRequest, g.PongResponse),
            p + "Solve": _method(self.solve, unary, g.SolveRequest, g.SolveResponse),
            p + "Return": _method(self.return_, unary, g.ReturnRequest, g.ReturnResponse),
            p + "Inputs": _method(self.inputs, unary, g.InputsRequest, g.InputsResponse),
            p + "Warn": _method(self.warn, unary, g.WarnRequest, g.WarnResponse),
        }

    async def _job(self, stream: Stream[Any, Any]) -> Job:
        ref = stream.metadata.get(BUILD_ID_KEY) if stream.metadata else None
        if not ref:
            raise GRPCError(Status.INVALID_ARGUMENT, f"no {BUILD_ID_KEY} in the request")
        job = self.c.job(str(ref))
        try:
            async with asyncio.timeout(10):
                await job.configured.wait()
        except TimeoutError:
            raise GRPCError(Status.NOT_FOUND, f"no build {ref}") from None
        return job

    async def ping(self, stream: Stream[Any, Any]) -> None:
        await stream.recv_message()
        caps = [caps_pb2.APICap(ID=cap, Enabled=True) for cap in GATEWAY_CAPS]
        await stream.send_message(gateway_pb2.PongResponse(
            FrontendAPICaps=caps, Workers=[self.c.worker()]))

    async def solve(self, stream: Stream[Any, Any]) -> None:
        request = await stream.recv_message()
        assert request is not None
        job = await self._job(stream)
        try:
            if request.FrontendInputs:
                raise NotSupported("frontend inputs (named contexts from other builds) are "
                                   "not supported by minke's builder")
            if not request.Frontend:
                raise NotSupported("minke's builder runs Dockerfiles (frontend dockerfile.v0); "
                                   "LLB definitions are not supported")
            image_id = await self.c.run_frontend(job, request.Frontend,
                                                 dict(request.FrontendOpt))
        except (MinkeError, *stream_errors()) as exc:
            raise _grpc_error(exc) from None
        ref_id = "minke-" + secrets.token_hex(12)
        job.results[ref_id] = image_id
        result = gateway_pb2.Result(ref=gateway_pb2.Ref(id=ref_id))
        await stream.send_message(gateway_pb2.SolveResponse(result=result))

    async def return_(self, stream: Stream[Any, Any]) -> None:
        request = await stream.recv_message()
        assert request is not None
        job = await self._job(stream)
        if job.returned is not None and not job.returned.done():
            job.returned.set_result(request)
        await stream.send_message(gateway_pb2.ReturnResponse())

    async def inputs(self, stream: Stream[Any, Any]) -> None:
        await stream.recv_message()
        await stream.send_message(gateway_pb2.InputsResponse())

    async def warn(self, stream: Stream[Any, Any]) -> None:
        request = await stream.recv_message()
        assert request is not None
        job = await self._job(stream)
        vertex = job.feed.start("[internal] frontend warning")
        job.feed.warning(vertex, request.short.decode(errors="replace"))
        job.feed.complete(vertex)
        await stream.send_message(gateway_pb2.WarnResponse())
