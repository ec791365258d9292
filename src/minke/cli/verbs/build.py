"""``minke build``: send a build context to the daemon's classic builder and show its
progress: a live per-step view (rich) on a terminal, the daemon's plain text otherwise.

The context is a directory, a tar on stdin (``-``) or a URL the daemon fetches (``http(s)``
tar or Dockerfile, git). A directory is filtered with its ``.dockerignore`` (the same rules
the daemon applies) and streamed as a tar from a thread through a pipe, so a large context
is never held in memory. rich is imported only here, only for the live view.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tarfile
import threading

from ..context import CLIError, Context
from ..terminal import is_tty

# typing is imported only by type checkers: it costs milliseconds of CLI start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import IO, Any

TAR = {"Content-Type": "application/x-tar"}


def configure_build(p: argparse.ArgumentParser) -> None:
    p.add_argument("-t", "--tag", action="append", default=[], metavar="list",
                   help="Name and optionally a tag in the 'name:tag' format")
    p.add_argument("-f", "--file", metavar="string",
                   help="Name of the Dockerfile (Default is 'PATH/Dockerfile')")
    p.add_argument("--build-arg", action="append", default=[], metavar="list",
                   help="Set build-time variables")
    p.add_argument("--label", action="append", default=[], metavar="list",
                   help="Set metadata for an image")
    p.add_argument("--target", metavar="string", help="Set the target build stage to build")
    p.add_argument("--no-cache", action="store_true",
                   help="Do not use cache when building the image")
    p.add_argument("--pull", action="store_true",
                   help="Always attempt to pull a newer version of the image")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="Suppress the build output and print image ID on success")
    p.add_argument("--iidfile", metavar="string", help="Write the image ID to the file")
    p.add_argument("--network", metavar="string", default="default",
                   help="Set the networking mode for the RUN instructions during build")
    p.add_argument("--platform", metavar="string", help="Set platform if server is multi-platform")
    p.add_argument("--progress", choices=("auto", "plain", "tty"), default="auto",
                   help="Type of progress output (auto, plain, tty)")
    p.add_argument("path", metavar="PATH | URL | -")


def _pairs(items: list[str], flag: str, *, env_fallback: bool) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not key:
            raise CLIError(f"invalid argument {item!r} for \"--{flag}\" flag")
        # docker's --build-arg NAME takes the value from the environment, or none.
        out[key] = value if sep else (os.environ.get(key) if env_fallback else "")
    return out


def _stream_dir(root: str, dockerfile: str | None) -> tuple[IO[bytes], str]:
    """A pipe from which a thread's tar of ``root`` (minus .dockerignore) is read, and the
    Dockerfile's name inside that tar."""
    from minke.engine.build.dockerignore import Matcher, read_patterns

    try:
        with open(os.path.join(root, ".dockerignore"), encoding="utf-8") as f:
            matcher = Matcher(read_patterns(f.read()))
    except FileNotFoundError:
        matcher = Matcher([])
    extra: tuple[str, str] | None = None
    name = "Dockerfile"
    if dockerfile:
        full = os.path.abspath(dockerfile)
        rel = os.path.relpath(full, os.path.abspath(root))
        if rel.startswith(".."):
            # docker sends a Dockerfile from outside the context under a random name
            name = f".dockerfile.{secrets.token_hex(10)}"
            extra = (full, name)
        else:
            name = rel
    if not extra and not os.path.exists(os.path.join(root, name)):
        raise CLIError(f"unable to prepare context: unable to evaluate symlinks in Dockerfile "
                       f"path: lstat {os.path.join(os.path.abspath(root), name)}: "
                       "no such file or directory")
    keep = {name, ".dockerignore"}  # sent even when excluded; the daemon hides them
    read_fd, write_fd = os.pipe()

    def produce() -> None:
        try:
            with os.fdopen(write_fd, "wb") as out, tarfile.open(fileobj=out, mode="w|") as tar:
                for dirpath, dirnames, filenames in os.walk(root):
                    rel_dir = os.path.relpath(dirpath, root)
                    rel_dir = "" if rel_dir == "." else rel_dir
                    kept = []
                    for d in sorted(dirnames):
                        rel = os.path.join(rel_dir, d)
                        if not matcher.excluded(rel) or matcher.may_include_under(rel):
                            kept.append(d)
                            if not matcher.excluded(rel):
                                _add(tar, os.path.join(dirpath, d), rel)
                    dirnames[:] = kept
                    for f in sorted(filenames):
                        rel = os.path.join(rel_dir, f)
                        if rel in keep or not matcher.excluded(rel):
                            _add(tar, os.path.join(dirpath, f), rel)
                if extra:
                    _add(tar, extra[0], extra[1])
        except BrokenPipeError:
            pass

    threading.Thread(target=produce, daemon=True).start()
    return os.fdopen(read_fd, "rb"), name


def _add(tar: tarfile.TarFile, path: str, arcname: str) -> None:
    info = tar.gettarinfo(path, arcname)
    if info is None:
        return
    # as the docker CLI: owners are not part of the context
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if info.isreg():
        with open(path, "rb") as f:
            tar.addfile(info, f)
    else:
        tar.addfile(info)


def do_build(ctx: Context, args: argparse.Namespace) -> int:
    params: dict[str, Any] = {
        "t": tuple(args.tag) or None,
        "buildargs": json.dumps(_pairs(args.build_arg, "build-arg", env_fallback=True))
        if args.build_arg else None,
        "labels": json.dumps(_pairs(args.label, "label", env_fallback=False))
        if args.label else None,
        "target": args.target, "nocache": 1 if args.no_cache else None,
        "pull": 1 if args.pull else None, "q": 1 if args.quiet else None,
        "networkmode": args.network, "platform": args.platform, "rm": 1, "version": "1",
    }
    body: IO[bytes] | None = None
    if args.path.startswith(("http://", "https://", "git://", "git@", "github.com/")):
        params["remote"] = args.path
        params["dockerfile"] = args.file
    elif args.path == "-":
        body = sys.stdin.buffer
        params["dockerfile"] = args.file
    else:
        if not os.path.isdir(args.path):
            raise CLIError(f"unable to prepare context: path {args.path!r} not found")
        body, params["dockerfile"] = _stream_dir(args.path, args.file)
    live = not args.quiet and args.progress != "plain" and (
        args.progress == "tty" or is_tty(ctx.stdout.fileno() if hasattr(ctx.stdout, "fileno")
                                         else 1))
    with ctx.client.stream("POST", "/build", params=params, data=body, headers=TAR) as stream:
        messages = stream.json_messages()
        image_id = (_show_live(ctx, messages) if live else _show_plain(ctx, messages, args.quiet))
    if args.iidfile and image_id:
        with open(args.iidfile, "w") as f:
            f.write(image_id)
    return 0


def _error(msg: dict[str, Any]) -> CLIError:
    detail = msg.get("errorDetail") or {}
    text = detail.get("message") or msg.get("error") or "unknown error"
    return CLIError(text)


def _show_plain(ctx: Context, messages: Iterable[Any], quiet: bool) -> str:
    image_id = ""
    for msg in messages:
        if not isinstance(msg, dict):
            continue
        if msg.get("errorDetail") or msg.get("error"):
            raise _error(msg)
        if (msg.get("aux") or {}).get("ID"):
            image_id = msg["aux"]["ID"]
        elif msg.get("stream") and not quiet:
            ctx.stdout.write(msg["stream"])
            ctx.stdout.flush()
    if quiet and image_id:
        ctx.stdout.write(image_id + "\n")
    return image_id


def _show_live(ctx: Context, messages: Iterable[Any]) -> str:
    with LiveView(ctx.stdout) as view:
        for msg in messages:
            if not isinstance(msg, dict):
                continue
            if msg.get("errorDetail") or msg.get("error"):
                view.fail()
                raise _error(msg)
            if (msg.get("aux") or {}).get("ID"):
                view.image_id = msg["aux"]["ID"]
            elif msg.get("stream"):
                view.feed(msg["stream"])
        return view.image_id


class _Step:
    __slots__ = ("title", "start", "end", "cached", "lines", "failed")

    def __init__(self, title: str, start: float) -> None:
        self.title = title
        self.start = start
        self.end: float | None = None
        self.cached = False
        self.failed = False
        self.lines: list[str] = []


class LiveView:
    """The rich view: one line per step with its state (running with its elapsed time,
    CACHED, or the time it took), the last lines a running step printed under it, and the
    result at the end. Built from the classic stream's text, so it needs no other API."""

    TAIL = 6  # output lines shown under a running step

    def __init__(self, out: IO[str]) -> None:
        import time

        from rich.console import Console
        from rich.live import Live

        self._time = time.monotonic
        self._began = self._time()
        self.steps: list[_Step] = []
        self.summary: list[str] = []
        self.image_id = ""
        self._partial = ""
        self.console = Console(file=out, force_terminal=True)
        self.live = Live(console=self.console, refresh_per_second=8,
                         get_renderable=self._render, transient=False)

    def __enter__(self) -> LiveView:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._finish_current()
        self.live.__exit__(None, None, None)

    def _finish_current(self) -> None:
        if self.steps and self.steps[-1].end is None:
            self.steps[-1].end = self._time()

    def fail(self) -> None:
        if self.steps and self.steps[-1].end is None:
            self.steps[-1].failed = True

    def feed(self, text: str) -> None:
        text = self._partial + text
        lines = text.split("\n")
        self._partial = lines.pop()
        if self._partial.startswith("Step "):
            self._line(self._partial)  # dockerd sends the step line and its "\n" apart
            self._partial = ""
        for line in lines:
            self._line(line)

    def _line(self, line: str) -> None:
        if not line:
            return
        if line.startswith("Step ") and " : " in line:
            self._finish_current()
            self.steps.append(_Step(line[5:], self._time()))
        elif line.startswith(" ---> Using cache"):
            if self.steps:
                self.steps[-1].cached = True
        elif line.startswith(" ---> Running in ") or line.startswith("Removing intermediate"):
            pass
        elif line.startswith(" ---> "):
            self._finish_current()
        elif line.startswith(("Successfully built", "Successfully tagged", "[Warning]")):
            self.summary.append(line)
        elif self.steps:
            self.steps[-1].lines = (self.steps[-1].lines + [line])[-self.TAIL:]

    def _render(self) -> Any:
        from rich.table import Table
        from rich.text import Text

        grid = Table.grid(padding=(0, 1))
        grid.add_column(width=1)
        grid.add_column(ratio=1, overflow="ellipsis", no_wrap=True)
        grid.add_column(justify="right", width=8)
        now = self._time()
        for step in self.steps:
            if step.failed:
                mark, state, style = "✗", "ERROR", "red"
            elif step.end is None:
                mark, state, style = "•", f"{now - step.start:.1f}s", "yellow"
            elif step.cached:
                mark, state, style = "✓", "CACHED", "cyan"
            else:
                mark, state, style = "✓", f"{step.end - step.start:.1f}s", "green"
            grid.add_row(Text(mark, style=style), Text(step.title), Text(state, style=style))
            if step.end is None or step.failed:
                for line in step.lines:
                    grid.add_row("", Text("  " + line, style="dim"), "")
        for line in self.summary:
            grid.add_row("", Text(line, style="bold"), "")
        if self.steps:
            grid.add_row("", Text(f"Build time {now - self._began:.1f}s", style="dim"), "")
        return grid
