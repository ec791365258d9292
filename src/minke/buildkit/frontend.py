"""The ``dockerfile.v0`` frontend on minke's own builder.

BuildKit clients send a Dockerfile build as frontend attributes (``filename``, ``target``,
``build-arg:NAME``, ``label:NAME``, ``platform``, ``no-cache``, ``image-resolve-mode``,
``force-network-mode``) and serve the files from their session: the Dockerfile from the
local directory named ``dockerfile``, the context from ``context`` (its ``.dockerignore``
first, then the rest with those patterns as excludes, so excluded files never travel).
The build itself is the classic builder's (same parser, steps and cache), reporting
through ``StatusOutput``; secrets for ``RUN --mount=type=secret`` come from the session.

A ``# syntax=`` line (or the ``BUILDKIT_SYNTAX`` build arg) naming the built-in frontend
(``docker/dockerfile:1`` and its versions) is accepted; any other frontend image is an
error, since minke does not run frontend images.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import secrets
import shutil
from pathlib import Path
from typing import Any

from minke.buildkit import filesync
from minke.buildkit.progress import StatusFeed, StatusOutput
from minke.buildkit.session import Session
from minke.engine.build import instructions as ins
from minke.engine.build.builder import BuildOptions
from minke.engine.build.context import BuildContext
from minke.engine.build.dockerignore import read_patterns
from minke.engine.build.parser import ParseError, parse
from minke.errors import InvalidParameter, MinkeError, NotSupported

DOCKERFILE_FRONTEND = "dockerfile.v0"
GATEWAY_FRONTEND = "gateway.v0"
_BUILTIN_SYNTAX = re.compile(
    r"^(?:docker\.io/)?docker/dockerfile(?:-upstream)?"
    r"(?::(?:\d+(?:\.\d+){0,2}(?:-labs)?|labs|latest))?(?:@sha256:[0-9a-f]{64})?$"
)
FILESYSTEM_STEPS = ("RUN", "COPY", "ADD", "WORKDIR")
_LINE = re.compile(r"\(Dockerfile line (\d+)\)")
_FAILED = re.compile(r"^The command '(.*)' returned a non-zero code: (\d+)$", re.S)


class FrontendError(InvalidParameter):
    """A build error with where it is in the Dockerfile, for BuildKit's error details
    (the client prints the lines around it)."""

    def __init__(self, message: str, filename: str = "", data: bytes = b"",
                 line: int = 0) -> None:
        super().__init__(message)
        self.filename = filename
        self.data = data
        self.line = line


def is_builtin_syntax(name: str) -> bool:
    return bool(_BUILTIN_SYNTAX.match(name.strip()))


def check_frontend(frontend: str, attrs: dict[str, str]) -> None:
    """Refuse frontends minke cannot run, naming them."""
    if frontend == DOCKERFILE_FRONTEND:
        return
    if frontend == GATEWAY_FRONTEND and is_builtin_syntax(attrs.get("source", "")):
        return
    source = attrs.get("source", "")
    name = f"{frontend} (source {source})" if source else frontend
    raise NotSupported(
        f"unsupported frontend {name}: minke runs only the built-in {DOCKERFILE_FRONTEND} "
        "frontend"
    )


def options_from(attrs: dict[str, str], filename: str, data: bytes) -> BuildOptions:
    build_args = {k.removeprefix("build-arg:"): v for k, v in attrs.items()
                  if k.startswith("build-arg:")}
    labels = {k.removeprefix("label:"): v for k, v in attrs.items() if k.startswith("label:")}
    if attrs.get("context:") or any(k.startswith("context:") for k in attrs):
        raise NotSupported("named build contexts (--build-context) are not supported by "
                           "minke's builder")
    return BuildOptions(
        dockerfile=filename,
        dockerfile_data=data,
        build_args=build_args,
        target=attrs.get("target", ""),
        no_cache="no-cache" in attrs and attrs["no-cache"] == "",
        pull=attrs.get("image-resolve-mode") == "pull",
        labels=labels,
        network=attrs.get("force-network-mode", "") or "default",
        platform=attrs.get("platform", "").split(",")[0],
    )


def parse_error(exc: ParseError, filename: str, data: bytes) -> FrontendError:
    """A Dockerfile error as BuildKit words it (``dockerfile parse error on line N: ...``)."""
    if not exc.line:
        return FrontendError(exc.reason, filename, data)
    return FrontendError(f"dockerfile parse error on line {exc.line}: {exc.reason}",
                         filename, data, exc.line)


def attrs_from(options: BuildOptions) -> dict[str, str]:
    """The frontend attributes of a ``POST /build?version=2`` request's options."""
    attrs = {"filename": options.dockerfile or "Dockerfile"}
    if options.target:
        attrs["target"] = options.target
    if options.no_cache:
        attrs["no-cache"] = ""
    if options.pull:
        attrs["image-resolve-mode"] = "pull"
    if options.network not in ("", "default"):
        attrs["force-network-mode"] = options.network
    if options.platform:
        attrs["platform"] = options.platform
    attrs.update({f"build-arg:{k}": v for k, v in options.build_args.items() if v is not None})
    attrs.update({f"label:{k}": v for k, v in options.labels.items()})
    return attrs


def _check_syntax(filename: str, data: bytes, attrs: dict[str, str]) -> list[str | None]:
    override = attrs.get("build-arg:BUILDKIT_SYNTAX", "")
    try:
        dockerfile = parse(data)
    except ParseError as exc:
        raise parse_error(exc, filename, data) from None
    try:
        plan = ins.plan(dockerfile)
        stages = ins.select(plan, attrs.get("target", ""))
    except ParseError as exc:
        raise parse_error(exc, filename, data) from None
    syntax = override or dockerfile.directives.get("syntax", "")
    if syntax and not is_builtin_syntax(syntax):
        line = 0
        for number, text in enumerate(data.decode(errors="replace").splitlines(), 1):
            if "syntax" in text and syntax in text:
                line = number
                break
        raise FrontendError(
            f"unsupported frontend image {syntax!r} in the syntax directive: minke builds "
            "Dockerfiles with its built-in frontend (docker/dockerfile:1) and does not run "
            "frontend images; remove the line or name docker/dockerfile:1",
            filename, data, line,
        )
    return step_names(plan, stages)


def step_names(plan: ins.Plan, stages: list[ins.Stage]) -> list[str | None]:
    """The vertex name of each step the builder numbers (global ARGs, then each stage's
    FROM and instructions), as BuildKit names them: ``[2/3] COPY . /srv``, numbered within
    the stage, the stage named when there are several; metadata-only steps (ENV, LABEL,
    CMD...) are no vertexes. A label step the builder may append is past the end: None."""
    names: list[str | None] = [None] * len(plan.global_args)
    for stage in stages:
        shown = [stage.from_instruction,
                 *(i for i in stage.instructions if i.cmd in FILESYSTEM_STEPS)]
        prefix = (stage.name or f"stage-{stage.index}") + " " if len(stages) > 1 else ""
        for inst in [stage.from_instruction, *stage.instructions]:
            if inst in shown:
                number = shown.index(inst) + 1
                names.append(f"[{prefix}{number}/{len(shown)}] {inst.original}")
            else:
                names.append(None)
    return names


class DockerfileFrontend:
    """Runs Dockerfile builds for the control API."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self._locks: dict[Path, asyncio.Lock] = {}

    @property
    def builder(self) -> Any:
        return self.engine.builder

    def _sync_dir(self, session: Session, name: str) -> Path:
        key = session.shared_key or session.id
        digest = hashlib.sha256(f"{key}\0{name}".encode()).hexdigest()[:32]
        return self.builder.root / "cache" / f"context-{digest}"

    async def build(self, session: Session, attrs: dict[str, str], feed: StatusFeed) -> str:
        """Build; returns the image id (untagged: the exporter names it)."""
        filename = attrs.get("filename", "") or "Dockerfile"
        scratch = self.builder.root / "tmp" / f"bk-{secrets.token_hex(8)}"
        try:
            async with feed.vertex(f"[internal] load build definition from "
                                   f"{os.path.basename(filename)}") as vertex:
                size = await filesync.receive(session.channel, "dockerfile",
                                              scratch / "dockerfile", includes=[filename])
                path = scratch / "dockerfile" / filename
                if not path.is_file():
                    raise InvalidParameter(
                        f"failed to read dockerfile: open {filename}: no such file or directory"
                    )
                data = path.read_bytes()
                feed.log(vertex, f"transferring dockerfile: {size}B done\n".encode())
                names = _check_syntax(filename, data, attrs)
            options = options_from(attrs, filename, data)
            options.secrets = session.secret
            options.ssh = session.ssh
            async with feed.vertex("[internal] load .dockerignore") as vertex:
                await filesync.receive(session.channel, "context", scratch / "ignore",
                                       includes=[".dockerignore"])
                ignore = scratch / "ignore" / ".dockerignore"
                patterns = (read_patterns(ignore.read_text(errors="replace"))
                            if ignore.is_file() else [])
                feed.log(vertex, b"transferring context: done\n")
            sync = self._sync_dir(session, "context")

            async def receive(workdir: Path) -> BuildContext:
                lock = self._locks.setdefault(sync, asyncio.Lock())
                async with lock, feed.vertex("[internal] load build context") as vertex:
                    size = await filesync.receive(session.channel, "context", sync,
                                                  excludes=patterns)
                    feed.log(vertex, f"transferring context: {size}B done\n".encode())
                    # A snapshot of hard links: the next sync replaces a changed file by a
                    # new one, so this build keeps reading what it was given.
                    snapshot = workdir / "context"
                    await asyncio.to_thread(shutil.copytree, sync, snapshot, symlinks=True,
                                            copy_function=os.link)
                return BuildContext.from_directory(snapshot)

            out = StatusOutput(feed, names)
            try:
                return await self.builder.build_with(receive, options, out)
            except FrontendError:
                raise
            except MinkeError as exc:
                message = exc.message
                failed = _FAILED.match(message)
                if failed:  # BuildKit's words for a RUN that failed
                    message = (f'process "{failed.group(1)}" did not complete successfully: '
                               f"exit code: {failed.group(2)}")
                await out.error(message)
                line = _LINE.search(exc.message)
                if isinstance(exc, ParseError) and exc.line:  # found while building
                    raise FrontendError(f"{exc.reason} (Dockerfile line {exc.line})",
                                        filename, data, exc.line) from None
                raise FrontendError(message, filename, data,
                                    int(line.group(1)) if line else 0) from None
        finally:
            await asyncio.to_thread(shutil.rmtree, scratch, True)

