"""The steps of a build, one method per instruction: what each does to the stage's image
config, its cache key, its history text (dockerd's ``created_by``, e.g.
``/bin/sh -c #(nop)  ENV A=1``, ``/bin/sh -c #(nop) COPY file:<sum> in /x ``, ``|1 A=1
/bin/sh -c make``), and how its image is made: metadata steps commit an image without a
layer; COPY, ADD and WORKDIR write into a mounted snapshot of the parent; RUN runs a
container (``runstep.py``). Every step first asks the cache (unless ``--no-cache``).
"""

from __future__ import annotations

import asyncio
import os
import posixpath
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from minke.engine.build import fscopy, runstep
from minke.engine.build.cache import step_key
from minke.engine.build.expand import process_word, process_words
from minke.engine.build.instructions import Instruction
from minke.engine.build.parser import go_quote
from minke.engine.images import layerdiff
from minke.engine.images.changes import apply_changes
from minke.errors import InvalidParameter, MinkeError
from minke.units import go_duration, parse_go_duration

if TYPE_CHECKING:
    from minke.engine.build.builder import Build, StageState

DEFAULT_SHELL = ["/bin/sh", "-c"]


class StepError(MinkeError):
    """A step failed for a reason other than its command's exit code; the message ends
    with the Dockerfile line."""


def go_duration_ns(text: str, flag: str) -> int:
    ns = 0 if text == "" else parse_go_duration(text)
    if ns is None or ns < 0:
        raise InvalidParameter(f"invalid duration for --{flag}: {text}")
    return ns


def _nop(text: str, shell: list[str]) -> str:
    return " ".join(shell) + " #(nop)  " + text


class Steps:
    def __init__(self, build: Build) -> None:
        self.build = build
        self.images = build.images
        self.out = build.out

    # -- plumbing -------------------------------------------------------------------------

    async def dispatch(self, state: StageState, inst: Instruction) -> None:
        handler = getattr(self, "_" + inst.cmd.lower())
        try:
            await handler(state, inst)
        except (runstep.StepFailed, StepError):
            raise
        except MinkeError as exc:
            raise StepError(f"{exc.message} (Dockerfile line {inst.line})") from exc
        except OSError as exc:
            raise StepError(f"{inst.cmd} failed: {exc} (Dockerfile line {inst.line})") from exc

    def _vars(self, state: StageState) -> dict[str, str]:
        return state.env()

    def _word(self, state: StageState, word: str) -> str:
        return process_word(word, self._vars(state), self.build.escape)

    def _shell_of(self, state: StageState) -> list[str]:
        return list(state.config.get("Shell") or DEFAULT_SHELL)

    async def _cached(self, state: StageState, key: str) -> bool:
        if self.build.options.no_cache:
            return False
        hit = self.build.cache.lookup(state.image_id, key)
        if hit is None:
            return False
        state.image_id = hit
        await self.out.using_cache()
        await self.out.image(hit)
        return True

    def _fields(self, state: StageState, cmd: list[str]) -> dict[str, Any]:
        return {"author": state.author or None,
                "container_config": {**state.config, "Cmd": cmd}}

    async def _commit(self, state: StageState, key: str, created_by: str,
                      upper: Path | None, cmd: list[str]) -> None:
        parent = state.image_id
        image_id = await asyncio.to_thread(
            layerdiff.commit_image, self.images, parent=parent, upper=upper,
            config=state.config, history={"created_by": created_by},
            fields=self._fields(state, cmd), cache_key=key,
        )
        self.build.cache.add(parent, key, image_id)
        state.image_id = image_id
        await self.out.image(image_id)

    async def _meta(self, state: StageState, text: str) -> None:
        """Commit a metadata-only step (no layer)."""
        state.config["Image"] = state.image_id or ""
        cmd = [*self._shell_of(state), "#(nop) ", text]
        created_by = _nop(text, self._shell_of(state))
        key = step_key(state.image_id, {"created_by": created_by, "config": state.config,
                                        "author": state.author})
        if not await self._cached(state, key):
            await self._commit(state, key, created_by, None, cmd)

    async def _fs_step(self, state: StageState, key: str, created_by: str,
                       work: Callable[[Path], None], *, empty_ok: bool = False) -> None:
        """Run ``work(root)`` on a mounted snapshot of the parent and commit its changes."""
        snapshots = self.images.snapshots
        snap = f"build-{secrets.token_hex(8)}"
        target = self.build.root / "mnt" / snap
        parent_chain = self.images.top_chain_id(state.image_id) if state.image_id else None
        await asyncio.to_thread(snapshots.prepare, snap, parent_chain)
        try:
            await asyncio.to_thread(snapshots.mount, snap, target)
            try:
                await asyncio.to_thread(work, target)
            finally:
                await asyncio.to_thread(snapshots.unmount, target)
            upper = snapshots.upper(snap)
            if empty_ok and not any(os.scandir(upper)):
                upper = None  # nothing changed: no layer, as for a metadata step
            state.config["Image"] = state.image_id or ""
            await self._commit(state, key, created_by, upper,
                               [*self._shell_of(state), "#(nop) ", created_by])
        finally:
            await asyncio.to_thread(snapshots.remove, snap)
            shutil.rmtree(target, ignore_errors=True)

    # -- metadata instructions ------------------------------------------------------------

    def _pairs(self, state: StageState, inst: Instruction) -> list[tuple[str, str]]:
        env = self._vars(state)
        args = inst.args
        out = []
        for i in range(0, len(args) - 2, 3):
            key = process_word(args[i], env, self.build.escape)
            if not key:
                raise inst.error(f"{inst.cmd} names can not be blank")
            out.append((key, process_word(args[i + 1], env, self.build.escape)))
        return out

    async def _env(self, state: StageState, inst: Instruction) -> None:
        pairs = self._pairs(state, inst)
        env = list(state.config.get("Env") or [])
        for key, value in pairs:
            env = [e for e in env if e.partition("=")[0] != key] + [f"{key}={value}"]
        state.config["Env"] = env
        await self._meta(state, "ENV " + " ".join(f"{k}={v}" for k, v in pairs))

    async def _label(self, state: StageState, inst: Instruction) -> None:
        pairs = self._pairs(state, inst)
        labels = dict(state.config.get("Labels") or {})
        labels.update(pairs)
        state.config["Labels"] = labels
        await self._meta(state, "LABEL " + " ".join(f"{k}={v}" for k, v in pairs))

    async def _arg(self, state: StageState, inst: Instruction) -> None:
        shown = self.build._declare_args(inst, state.args, self._vars(state))
        await self._meta(state, "ARG " + " ".join(shown))

    async def _maintainer(self, state: StageState, inst: Instruction) -> None:
        state.author = self._word(state, inst.args[0])
        await self._meta(state, "MAINTAINER " + state.author)

    async def _user(self, state: StageState, inst: Instruction) -> None:
        state.config["User"] = self._word(state, inst.args[0])
        await self._meta(state, "USER " + state.config["User"])

    async def _stopsignal(self, state: StageState, inst: Instruction) -> None:
        state.config["StopSignal"] = self._word(state, inst.args[0])
        await self._meta(state, "STOPSIGNAL " + state.config["StopSignal"])

    async def _expose(self, state: StageState, inst: Instruction) -> None:
        words = [w for a in inst.args for w in process_words(a, self._vars(state))]
        # the port syntax and its errors are those of `docker commit --change EXPOSE`
        apply_changes(state.config, ["EXPOSE " + " ".join(words)])
        await self._meta(state, "EXPOSE " + " ".join(words))

    async def _volume(self, state: StageState, inst: Instruction) -> None:
        paths = [self._word(state, a) for a in inst.args]
        if any(not p for p in paths):
            raise inst.error("VOLUME specified can not be an empty string")
        volumes = dict(state.config.get("Volumes") or {})
        volumes.update({p: {} for p in paths})
        state.config["Volumes"] = volumes
        await self._meta(state, f"VOLUME [{' '.join(paths)}]")

    def _command(self, state: StageState, inst: Instruction) -> list[str]:
        if inst.node.json:
            return list(inst.args)
        return [*self._shell_of(state), inst.args[0]] if inst.args else []

    async def _cmd(self, state: StageState, inst: Instruction) -> None:
        state.config["Cmd"] = self._command(state, inst) or None
        state.cmd_set = True
        text = "[" + " ".join(go_quote(a) for a in state.config["Cmd"] or []) + "]"
        await self._meta(state, "CMD " + text)

    async def _entrypoint(self, state: StageState, inst: Instruction) -> None:
        state.config["Entrypoint"] = self._command(state, inst) or None
        if not state.cmd_set:
            state.config["Cmd"] = None  # an inherited CMD does not apply to a new ENTRYPOINT
        text = "[" + " ".join(go_quote(a) for a in state.config["Entrypoint"] or []) + "]"
        await self._meta(state, "ENTRYPOINT " + text)

    async def _shell(self, state: StageState, inst: Instruction) -> None:
        state.config["Shell"] = list(inst.args)
        await self._meta(state, "SHELL [" + " ".join(go_quote(a) for a in inst.args) + "]")

    async def _onbuild(self, state: StageState, inst: Instruction) -> None:
        assert inst.node.sub is not None
        trigger = inst.node.sub.original
        state.config["OnBuild"] = [*(state.config.get("OnBuild") or []), trigger]
        await self._meta(state, "ONBUILD " + trigger)

    async def _healthcheck(self, state: StageState, inst: Instruction) -> None:
        if not inst.args:
            raise inst.error("HEALTHCHECK requires an argument")
        if inst.args[0].upper() == "NONE":
            state.config["Healthcheck"] = {"Test": ["NONE"]}
        else:
            test = (["CMD", *inst.args[1:]] if inst.node.json
                    else ["CMD-SHELL", inst.args[1]])
            check: dict[str, Any] = {"Test": test}
            for flag, field in (("interval", "Interval"), ("timeout", "Timeout"),
                                ("start-period", "StartPeriod"),
                                ("start-interval", "StartInterval")):
                if inst.flag(flag):
                    check[field] = go_duration_ns(inst.flag(flag), flag)
            if inst.flag("retries"):
                try:
                    check["Retries"] = int(inst.flag("retries"))
                except ValueError:
                    raise inst.error(f"invalid --retries: {inst.flag('retries')}") from None
            state.config["Healthcheck"] = check
        await self._meta(state, "HEALTHCHECK " + _go_health(state.config["Healthcheck"]))

    # -- filesystem instructions ----------------------------------------------------------

    async def _workdir(self, state: StageState, inst: Instruction) -> None:
        path = self._word(state, inst.args[0])
        current = state.config.get("WorkingDir") or "/"
        workdir = posixpath.normpath(posixpath.join(current, path))
        state.config["WorkingDir"] = workdir
        created_by = " ".join(self._shell_of(state)) + " #(nop) WORKDIR " + workdir
        key = step_key(state.image_id, {"created_by": created_by, "config": state.config})
        if await self._cached(state, key):
            return
        def make(root: Path) -> None:
            # Owned by root whatever USER says, as dockerd's ContainerCreateWorkdir makes it.
            fscopy.Writer(root, None, None).makedirs(workdir)

        await self._fs_step(state, key, created_by, make, empty_ok=True)

    async def _copy(self, state: StageState, inst: Instruction) -> None:
        await self._copy_or_add(state, inst, add=False)

    async def _add(self, state: StageState, inst: Instruction) -> None:
        await self._copy_or_add(state, inst, add=True)

    async def _copy_or_add(self, state: StageState, inst: Instruction, *, add: bool) -> None:
        from minke.engine.build.copyplan import plan_copy

        plan = await plan_copy(self, state, inst, add=add)
        if await self._cached(state, plan.key):
            plan.cleanup()
            return
        try:
            await self._fs_step(state, plan.key, plan.created_by, plan.write)
        finally:
            plan.cleanup()

    # -- RUN ------------------------------------------------------------------------------

    async def _run(self, state: StageState, inst: Instruction) -> None:
        node = inst.node
        if node.json:
            cmd = list(node.args)
        else:
            text = node.args[0] if node.args else ""
            if node.heredocs:
                text = runstep.heredoc_command(text, node.heredocs)
            cmd = [*self._shell_of(state), text]
        env_keys = {e.partition("=")[0] for e in state.config.get("Env") or []}
        args_env = sorted(f"{k}={v}" for k, v in state.args.items()
                          if v is not None and k not in env_keys)
        options = self.build.options
        proxies = [f"{k}={options.build_args[k]}" for k in runstep_proxy_args()
                   if options.build_args.get(k) is not None and k not in state.args]
        self.build.used_args |= {p.partition("=")[0] for p in proxies}
        prefix = f"|{len(args_env)} {' '.join(args_env)} " if args_env else ""
        created_by = prefix + " ".join(cmd)
        network = runstep.parse_network(inst.flag("network") or options.network)
        raw_mounts = inst.flags.get("mount", [])
        mounts = [runstep.parse_mount(m) for m in
                  (raw_mounts if isinstance(raw_mounts, list) else [raw_mounts])]
        ssh_sock = runstep.default_ssh_targets(mounts)
        state.config["Image"] = state.image_id or ""
        key = step_key(state.image_id, {
            "created_by": created_by, "config": state.config, "network": network,
            "mounts": [m.__dict__ for m in mounts],
            "from": [self._mount_source(m) for m in mounts],
        })
        if await self._cached(state, key):
            return
        if state.image_id is None:
            raise inst.error("RUN needs a root filesystem: FROM scratch has none yet")
        mount_set = runstep.MountSet(self.build.engine, self.build.root / "cache",
                                     secrets=options.secrets, ssh=options.ssh)
        try:
            binds = await mount_set.binds(mounts, self._mount_source)
            request = runstep.RunRequest(
                image_id=state.image_id, cmd=cmd,
                env=[*(state.config.get("Env") or []), *args_env, *proxies,
                     *([f"SSH_AUTH_SOCK={ssh_sock}"] if ssh_sock and "SSH_AUTH_SOCK" not in
                       env_keys else [])],
                workdir=state.config.get("WorkingDir") or "",
                user=state.config.get("User") or "", network=network, binds=binds,
                created_by=created_by, config=dict(state.config),
            )
            cid, image_id = await runstep.run(
                self.build.engine, request, on_start=self.out.running_in,
                on_output=self.out.output, cache_key=key,
            )
        finally:
            await mount_set.close()
        await self.out.removing(cid)
        self.build.cache.add(state.image_id, key, image_id)
        state.image_id = image_id
        await self.out.image(image_id)

    def _mount_source(self, mount: Any) -> str:
        """The image id a ``--mount`` reads from ("" for none)."""
        if not getattr(mount, "from_", ""):
            return ""
        for stage in self.build.stages:
            if stage.name and stage.name == mount.from_.lower():
                return stage.image_id or ""
        if mount.from_.isdigit() and int(mount.from_) < len(self.build.stages):
            return self.build.stages[int(mount.from_)].image_id or ""
        return self.images.resolve(mount.from_)


def runstep_proxy_args() -> tuple[str, ...]:
    from minke.engine.build.builder import PROXY_ARGS

    return PROXY_ARGS


def _go_health(check: dict[str, Any]) -> str:
    """dockerd's ``fmt.Sprintf("%q", healthConfig)``, the HEALTHCHECK history text."""
    if check.get("Test") == ["NONE"]:
        return '&{["NONE"] "0s" "0s" "0s" \'\\x00\'}'
    test = "[" + " ".join(go_quote(t) for t in check["Test"]) + "]"
    durations = " ".join(go_quote(go_duration(check.get(k, 0)))
                         for k in ("Interval", "Timeout", "StartPeriod"))
    retries = check.get("Retries", 0)
    char = chr(retries)
    rune = char if char.isprintable() and retries >= 0x20 else f"\\x{retries:02x}"
    return f"&{{{test} {durations} '{rune}'}}"
