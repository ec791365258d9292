"""The classic builder: a Dockerfile and its context in, an image (and its tags) out.

Owns the order of a build: receive the context, read and check the Dockerfile (errors before
any output become the API's status), build the stages up to ``--target`` one instruction
(one step, one image) at a time, consult the cache before each step, then tag the last
image. Each step is done by ``steps.py``; RUN containers by ``runstep.py``; files written
by COPY/ADD by ``fscopy.py``. Tags move only after the whole build succeeded, so a failed
build leaves the previous image under its tag untouched; every container, snapshot and
mount a step made is removed whether it succeeded or not.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from minke.engine.build import instructions as ins
from minke.engine.build.cache import BuildCache
from minke.engine.build.context import BuildContext, fetch_remote
from minke.engine.build.expand import process_word
from minke.engine.build.output import BuildOutput
from minke.engine.build.parser import ParseError, node_from_line, parse
from minke.engine.build.steps import StepError
from minke.engine.containers.config import DEFAULT_PATH
from minke.engine.images._streams import AsyncSource
from minke.engine.images.changes import empty_config
from minke.engine.images.reference import parse as parse_ref
from minke.errors import InvalidParameter, MinkeError, NoSuchImage

log = logging.getLogger(__name__)

SecretSource = Callable[[str], Awaitable[bytes | None]]
# (agent id, unix socket path, uid, gid, mode) → a closer, or None: the client has no such agent
SshSource = Callable[[str, Path, int, int, int], Awaitable[Callable[[], Awaitable[None]] | None]]

PROXY_ARGS = (
    "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
    "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy",
)


@dataclass
class BuildOptions:
    """``POST /build``'s parameters, as the engine takes them."""

    dockerfile: str = "Dockerfile"
    tags: list[str] = field(default_factory=list)
    build_args: dict[str, str | None] = field(default_factory=dict)
    target: str = ""
    no_cache: bool = False
    pull: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    quiet: bool = False
    network: str = "default"
    platform: str = ""
    # BuildKit's API: the Dockerfile comes apart from the context, secrets and ssh agents
    # from the client's session (``RUN --mount=type=secret|ssh``); the classic API has none.
    dockerfile_data: bytes | None = None
    secrets: SecretSource | None = None
    ssh: SshSource | None = None


@dataclass
class StageState:
    """The image a stage has reached and what later steps of it see."""

    index: int
    name: str
    image_id: str | None  # None: FROM scratch with no step yet
    config: dict[str, Any]
    args: dict[str, str | None] = field(default_factory=dict)  # declared in this stage
    author: str = ""
    cmd_set: bool = False

    def env(self) -> dict[str, str]:
        """What ``$NAME`` expands to: the stage's ARGs, then its ENV over them."""
        out = {k: v for k, v in self.args.items() if v is not None}
        for item in self.config.get("Env") or []:
            key, _, value = item.partition("=")
            out[key] = value
        return out


class Build:
    """One build; ``run`` does it. Created by ``Builder.build``."""

    def __init__(self, engine: Any, root: Path, ctx: BuildContext, options: BuildOptions,
                 out: BuildOutput, cache: BuildCache | None = None) -> None:
        from minke.engine.build.steps import Steps

        self.engine = engine
        self.images = engine.images
        self.root = root
        self.ctx = ctx
        self.options = options
        self.out = out
        self.cache = cache or BuildCache(self.images)
        self.stages: list[StageState] = []
        self.global_args: dict[str, str | None] = {}
        self.used_args: set[str] = set()
        self.escape = "\\"
        self.global_arg_steps: list[ins.Instruction] = []
        self.steps = Steps(self)

    # -- preparation (errors here come before any output) ---------------------------------

    def prepare(self) -> tuple[list[ins.Stage], int]:
        name = self.options.dockerfile or "Dockerfile"
        text = self.options.dockerfile_data
        if text is None:
            text = self.ctx.read(name)
        if text is None:
            raise InvalidParameter(f"Cannot locate specified Dockerfile: {name}")
        try:
            dockerfile = parse(text)
        except ParseError as exc:
            if exc.line is None:
                raise InvalidParameter(f"the Dockerfile ({name}) cannot be empty") from None
            raise
        self.escape = dockerfile.escape
        plan = ins.plan(dockerfile)
        stages = ins.select(plan, self.options.target)
        if self.options.labels:
            stages[-1].instructions.append(_label_instruction(self.options.labels))
        for tag in self.options.tags:
            parse_ref(tag)  # "invalid reference format" before anything runs
        if self.options.platform:
            self._check_platform(self.options.platform, stages[0])
        self.ctx.apply_dockerignore(name)
        for inst in plan.global_args:
            self._declare_args(inst, self.global_args, {}, is_global=True)
        self.global_arg_steps = plan.global_args
        total = len(plan.global_args) + sum(1 + len(s.instructions) for s in stages)
        return stages, total

    # -- the build ------------------------------------------------------------------------

    async def run(self) -> str:
        stages, total = self.prepare()
        number = 0
        for inst in self.global_arg_steps:
            # Counted and shown as steps, with no image: dockerd's classic builder does so.
            number += 1
            await self.out.step(number, total, inst.original)
        for stage in stages:
            number += 1
            await self.out.step(number, total, stage.from_instruction.original)
            state = await self._from(stage)
            self.stages.append(state)
            for inst in stage.instructions:
                number += 1
                await self.out.step(number, total, inst.original)
                await self.steps.dispatch(state, inst)
        final = self.stages[-1]
        if final.image_id is None:
            raise InvalidParameter("No image was generated. Is your Dockerfile empty?")
        unused = sorted(
            k for k in self.options.build_args
            if k not in self.used_args and k not in PROXY_ARGS
        )
        if unused:
            await self.out.warning(
                f"One or more build-args [{' '.join(unused)}] were not consumed"
            )
        tags = []
        for tag in self.options.tags:
            ref = parse_ref(tag).tagged_or_latest()
            self.images.tag(final.image_id, str(ref), None)
            tags.append(ref.familiar())
        await self.out.finished(final.image_id, tags)
        return final.image_id

    async def _from(self, stage: ins.Stage) -> StageState:
        env = {k: v for k, v in self.global_args.items() if v is not None}
        base = process_word(stage.base, env, self.escape)
        self.used_args |= {k for k in self.global_args if k in stage.base}
        if stage.platform:
            self._check_platform(process_word(stage.platform, env, self.escape), stage)
        try:
            image_id = await self.resolve_image(base, stage.from_instruction)
        except MinkeError as exc:
            raise StepError(f"FROM {base}: {exc.message} "
                            f"(Dockerfile line {stage.from_instruction.line})") from exc
        config = empty_config()
        if image_id is not None:
            config = copy.deepcopy(self.images.config(image_id).get("config") or config)
            await self.out.image(image_id)
        if not any(e.startswith("PATH=") for e in config.get("Env") or []):
            # As dockerd's beginStage: a stage without PATH gets the default one.
            config["Env"] = [*(config.get("Env") or []), DEFAULT_PATH]
        state = StageState(stage.index, stage.name, image_id, config)
        triggers = list(config.get("OnBuild") or [])
        config["OnBuild"] = None
        if triggers:
            await self.out.triggers(len(triggers))
            for trigger in triggers:
                line = stage.from_instruction.line
                node = node_from_line(trigger, self.escape, line, line)
                await self.steps.dispatch(state, ins.to_instruction(node))
        return state

    async def resolve_image(self, name: str, inst: ins.Instruction) -> str | None:
        """A FROM or ``--from`` name: an earlier stage, ``scratch``, or an image (pulled
        when missing or with ``--pull``, once the engine can pull)."""
        for state in self.stages:
            if state.name and state.name == name.lower():
                return state.image_id
        if name.isdigit() and inst.cmd != "FROM":
            index = int(name)
            if index < len(self.stages):
                return self.stages[index].image_id
        if name == "scratch":
            if inst.cmd != "FROM":
                raise InvalidParameter(f"invalid from flag value {name}: scratch is not an image")
            return None
        pull = getattr(self.images, "pull", None)
        if self.options.pull and pull is not None:
            await pull(name)
        try:
            return self.images.resolve(name)
        except NoSuchImage:
            if pull is None or self.options.pull:
                raise
        await pull(name)
        return self.images.resolve(name)

    def _check_platform(self, platform: str, stage: ins.Stage) -> None:
        from minke.engine.images.archive import host_arch

        os_, _, arch = platform.partition("/")
        arch = arch.split("/")[0]
        if os_ != "linux" or (arch and arch != host_arch()):
            raise stage.from_instruction.error(
                f"platform {platform} is not supported: this host builds linux/{host_arch()}"
            )

    def _declare_args(self, inst: ins.Instruction, scope: dict[str, str | None],
                      env: dict[str, str], *, is_global: bool = False) -> list[str]:
        """ARG name[=default]...: the value is the build arg if given, else the default,
        else (in a stage) the global ARG of that name."""
        shown = []
        for word in inst.args:
            name, sep, default = word.partition("=")
            name = process_word(name, env, self.escape)
            value: str | None = process_word(default, env, self.escape) if sep else None
            if not sep and not is_global and name in self.global_args:
                value = self.global_args[name]
            if name in self.options.build_args and self.options.build_args[name] is not None:
                value = self.options.build_args[name]
                self.used_args.add(name)
            elif name in self.options.build_args:
                self.used_args.add(name)
            scope[name] = value
            env = {**env, name: value} if value is not None else env
            shown.append(f"{name}={default}" if sep else name)
        return shown


def _label_instruction(labels: dict[str, str]) -> ins.Instruction:
    from minke.engine.build.parser import Node, go_quote

    args: list[str] = []
    for key, value in sorted(labels.items()):
        args += [go_quote(key), go_quote(value), "="]
    text = "LABEL " + " ".join(f"{go_quote(k)}={go_quote(v)}" for k, v in sorted(labels.items()))
    node = Node("label", text, 0, 0, args=args)
    return ins.Instruction("LABEL", node)


class Builder:
    """The engine's builder: ``build`` runs one build and streams its output."""

    def __init__(self, engine: Any, root: Path) -> None:
        self.engine = engine
        self.root = root
        self._cache: BuildCache | None = None
        self._sweep()
        shutil.rmtree(root / "tmp", ignore_errors=True)
        (root / "tmp").mkdir(parents=True, exist_ok=True)
        (root / "cache").mkdir(exist_ok=True)
        (root / "mnt").mkdir(exist_ok=True)

    def _sweep(self) -> None:
        """Undo what a build cut short by a crash left: its step snapshots (keys
        ``build-*``) and their mounts under ``mnt/``. Build containers are ordinary
        containers and are removed by the container manager's own recovery."""
        snapshots = self.engine.images.snapshots
        for key in snapshots.snapshots():
            if key.startswith("build-"):
                try:
                    snapshots.unmount(self.root / "mnt" / key)
                    snapshots.remove(key)
                except MinkeError as exc:
                    log.warning("cannot remove leftover build snapshot %s: %s", key, exc)
        mnt = self.root / "mnt"
        for entry in mnt.iterdir() if mnt.is_dir() else []:
            if not os.path.ismount(entry):  # never delete through a mount left in place
                shutil.rmtree(entry, ignore_errors=True)

    async def build(self, chunks: AsyncIterator[bytes], options: BuildOptions,
                    out: BuildOutput, *, remote: str = "") -> str:
        """Run a build whose context tar arrives as ``chunks`` (or is fetched from
        ``remote``: a tar or a Dockerfile over http(s), or a git repository); returns the
        image id. Errors raised before ``out.started`` are for the caller to report as a
        status; after it the caller sends them in-band (``BuildOutput.error``)."""
        async def receive(workdir: Path) -> BuildContext:
            if remote:
                return await asyncio.to_thread(fetch_remote, remote, workdir, options)
            source = AsyncSource(chunks, asyncio.get_running_loop())
            return await asyncio.to_thread(
                BuildContext.receive, source, workdir  # type: ignore[arg-type]
            )

        return await self.build_with(receive, options, out)

    async def build_with(self, receive: Callable[[Path], Awaitable[BuildContext]],
                         options: BuildOptions, out: BuildOutput) -> str:
        """Run a build whose context ``receive(workdir)`` makes (BuildKit's API syncs it
        from the client's session); returns the image id."""
        workdir = Path(tempfile.mkdtemp(dir=self.root / "tmp", prefix="build-"))
        ctx: BuildContext | None = None
        try:
            ctx = await receive(workdir)
            if self._cache is None:
                # Read once: reading every image record costs more than a cached build.
                self._cache = BuildCache(self.engine.images)
            build = Build(self.engine, self.root, ctx, options, out, self._cache)
            return await build.run()
        finally:
            if ctx is not None:
                ctx.close()
            shutil.rmtree(workdir, ignore_errors=True)

    def prune(self) -> dict[str, Any]:
        """``POST /build/prune``: empty the RUN cache mounts (build cache in images goes
        with ``docker image prune``)."""
        cache = self.root / "cache"
        reclaimed = 0
        removed = []
        for entry in cache.iterdir():
            for path in entry.rglob("*"):
                if path.is_file() and not path.is_symlink():
                    reclaimed += path.stat().st_size
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry.name)
        return {"CachesDeleted": removed or None, "SpaceReclaimed": reclaimed}

