"""``run``, ``create`` and ``start``: the request sequences of ``docker run``.

``run`` = create (``Unable to find image`` on a missing image) → attach, hijacked, *before*
start so no output is lost → ``wait?condition=next-exit|removed`` → start → resize →
copy streams → the container's exit code. Daemon errors exit 125 (126/127 when the command
cannot be executed), as docker's ``runStartContainerErr``.
"""

from __future__ import annotations

import argparse
import sys

from minke import errors
from minke.client import APIClient, WaitHandle, quote_name

from .. import session, terminal
from ..context import CLIError, Context, describe
from ..runopts import CreateRequest, add_create_options, build_create_request

STATUS_DAEMON_ERROR = 125
STATUS_CANNOT_INVOKE = 126
STATUS_NOT_FOUND = 127


def configure_run(p: argparse.ArgumentParser) -> None:
    p.add_argument("-d", "--detach", action="store_true",
                   help="Run container in background and print container ID")
    p.add_argument("--sig-proxy", type=parse_bool, default=True, metavar="bool",
                   help="Proxy received signals to the process (default true)")
    add_create_options(p)


def configure_create(p: argparse.ArgumentParser) -> None:
    add_create_options(p)


def parse_bool(value: str) -> bool:
    if value.lower() in ("1", "true", "t"):
        return True
    if value.lower() in ("0", "false", "f"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean {value!r}")


def image_reference(image: str) -> str:
    """``busybox`` → ``busybox:latest``, as docker names the image it could not find."""
    last = image.rsplit("/", 1)[-1]
    return image if ":" in last or "@" in image else f"{image}:latest"


def _fail(prog: str, exc: BaseException, status: int = STATUS_DAEMON_ERROR) -> CLIError:
    return CLIError(f"minke: {describe(exc)}\n\nRun '{prog} --help' for more information",
                    status)


def create_container(ctx: Context, request: CreateRequest) -> str:
    """``POST /containers/create``; the new id. Prints the daemon's warnings."""
    try:
        doc = ctx.client.post("/containers/create", request.params, request.body)
    except errors.NotFound as exc:
        if "image" in str(exc).lower():
            # Pulling is not implemented yet; docker would pull here after this line.
            ctx.err(f"Unable to find image '{image_reference(request.body['Image'])}' locally")
        raise
    for warning in doc.get("Warnings") or []:
        ctx.err(f"WARNING: {warning}")
    return str(doc["Id"])


def start_error_status(exc: BaseException) -> int:
    """docker's exit status for a failed start: 127 not found, 126 cannot run, else 125."""
    text = str(exc)
    if "executable file not found" in text or "no such file or directory" in text:
        return STATUS_NOT_FOUND
    if "permission denied" in text or "is a directory" in text:
        return STATUS_CANNOT_INVOKE
    return STATUS_DAEMON_ERROR


def do_create(ctx: Context, args: argparse.Namespace) -> int:
    request = build_create_request(args, detach=True)
    try:
        container_id = create_container(ctx, request)
    except errors.MinkeError as exc:
        raise _fail("minke create", exc) from exc
    ctx.stdout.write(container_id + "\n")
    return 0


def do_run(ctx: Context, args: argparse.Namespace) -> int:
    request = build_create_request(args, detach=args.detach)
    detach_keys = terminal.parse_detach_keys(args.detach_keys)
    check_tty_input(request.body["Tty"], request.body["AttachStdin"])
    client = ctx.client
    try:
        container_id = create_container(ctx, request)
    except errors.MinkeError as exc:
        raise _fail("minke run", exc) from exc
    config = request.body
    if args.detach:
        wait = WaitHandle(client, container_id, "next-exit")
        try:
            _start(client, container_id)
        except errors.MinkeError as exc:
            raise _fail("minke run", exc, start_error_status(exc)) from exc
        finally:
            wait.close()
        ctx.stdout.write(container_id + "\n")
        return 0
    return attached_start(
        ctx, container_id, tty=config["Tty"], stdin=config["AttachStdin"],
        stdout=config["AttachStdout"], stderr=config["AttachStderr"],
        detach_keys=detach_keys, raw_keys=args.detach_keys,
        wait_condition="removed" if args.rm else "next-exit",
        sig_proxy=args.sig_proxy, prog="minke run")


def _start(client: APIClient, container_id: str) -> None:
    client.call("POST", f"/containers/{quote_name(container_id)}/start")


def attach_params(*, stdin: bool, stdout: bool, stderr: bool,
                  detach_keys: str | None) -> dict[str, object]:
    """The attach query in docker's (sorted) order: ``stderr=1&stdin=1&stdout=1&stream=1``."""
    params: dict[str, object] = {}
    if detach_keys:
        params["detachKeys"] = detach_keys
    for key, wanted in (("stderr", stderr), ("stdin", stdin), ("stdout", stdout)):
        if wanted:
            params[key] = True
    params["stream"] = True
    return params


def attached_start(ctx: Context, container_id: str, *, tty: bool, stdin: bool, stdout: bool,
                   stderr: bool, detach_keys: bytes, raw_keys: str | None,
                   wait_condition: str, sig_proxy: bool, prog: str) -> int:
    """attach → wait → start → copy streams; the container's exit code."""
    client = ctx.client
    path = f"/containers/{quote_name(container_id)}"
    conn = None
    try:
        if stdin or stdout or stderr:
            conn = client.hijack("POST", f"{path}/attach", params=attach_params(
                stdin=stdin, stdout=stdout, stderr=stderr, detach_keys=raw_keys))
        wait = WaitHandle(client, container_id, wait_condition)
    except errors.MinkeError as exc:
        if conn is not None:
            conn.close()
        raise _fail(prog, exc) from exc
    try:
        _start(client, container_id)
    except errors.MinkeError as exc:
        wait.close()
        if conn is not None:
            conn.close()
        raise _fail(prog, exc, start_error_status(exc)) from exc
    detached = False
    if conn is not None:
        with conn, session.local_terminal(client, path, tty=tty, stdin=stdin,
                                          sig_proxy_container=container_id if sig_proxy
                                          else None):
            detached = session.pump(conn, tty=tty, stdin=stdin, detach_keys=detach_keys)
    if detached:
        wait.close()
        return 0
    try:
        return wait.result()
    except errors.MinkeError as exc:
        raise _fail(prog, exc) from exc


def configure_start(p: argparse.ArgumentParser) -> None:
    p.add_argument("-a", "--attach", action="store_true",
                   help="Attach STDOUT/STDERR and forward signals")
    p.add_argument("-i", "--interactive", action="store_true", help="Attach container's STDIN")
    p.add_argument("--detach-keys", metavar="string", help="Key sequence for detaching")
    p.add_argument("containers", metavar="CONTAINER", nargs="+")


def do_start(ctx: Context, args: argparse.Namespace) -> int:
    if not (args.attach or args.interactive):
        # here: batch output brings the template engine, which `run` never needs
        from ..batch import for_each

        return for_each(ctx, args.containers, lambda name: _start(ctx.client, name))
    if len(args.containers) > 1:
        raise CLIError("you cannot start and attach multiple containers at once", 1)
    name = args.containers[0]
    try:
        info = ctx.client.get(f"/containers/{quote_name(name)}/json")
    except errors.MinkeError as exc:
        raise CLIError(describe(exc), 1) from exc
    config = info.get("Config") or {}
    stdin = args.interactive and bool(config.get("OpenStdin"))
    return attached_start(
        ctx, info["Id"], tty=bool(config.get("Tty")), stdin=stdin, stdout=True, stderr=True,
        detach_keys=terminal.parse_detach_keys(args.detach_keys), raw_keys=args.detach_keys,
        wait_condition="next-exit", sig_proxy=True, prog="minke start")


def check_tty_input(tty: bool, stdin: bool) -> None:
    """docker refuses ``-it`` when its own stdin is not a terminal."""
    if tty and stdin and not terminal.is_tty(sys.stdin.fileno()):
        raise CLIError("the input device is not a TTY", 1)
