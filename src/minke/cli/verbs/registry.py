"""Registry verbs: ``pull``, ``push``, ``login``, ``logout``.

Credentials live where the docker CLI keeps them (``~/.docker/config.json`` or a
``docker-credential-*`` helper, see ``minke.credentials``) and go to the daemon in
``X-Registry-Auth``, as docker sends them. On a terminal, pull and push draw one progress
bar per layer with rich, imported here only, so that other verbs start as fast as before;
elsewhere they print docker's plain lines.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from minke.credentials import CredentialError, CredentialStore, encode_auth_header, server_key

from ..context import CLIError, Context
from ..progress import show_messages
from ..terminal import is_tty

# typing is imported only by type checkers: it costs milliseconds of CLI start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from typing import Any


def registry_of(name: str) -> str:
    """The registry part of an image reference, as docker splits it (Hub when none)."""
    first, sep, _ = name.partition("/")
    if sep and (any(c in first for c in ".:") or first == "localhost"):
        return first
    return "docker.io"


def _auth_header(name: str) -> dict[str, str]:
    try:
        creds = CredentialStore().get(registry_of(name))
    except CredentialError as exc:
        raise CLIError(str(exc)) from exc
    return {"X-Registry-Auth": encode_auth_header(creds or {})}


def _show(ctx: Context, messages: Iterable[Any], quiet: bool) -> None:
    if quiet:
        show_messages(_Null(), messages)
    elif _on_terminal(ctx):
        _show_bars(ctx, messages)
    else:
        show_messages(ctx.stdout, messages)


def _on_terminal(ctx: Context) -> bool:
    try:
        return is_tty(ctx.stdout.fileno())
    except (AttributeError, OSError, ValueError):
        return False  # a StringIO or closed stream: plain lines


class _Null:
    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


_FINAL = {"Pull complete", "Pushed", "Layer already exists", "Already exists",
          "Download complete"}


def _show_bars(ctx: Context, messages: Iterable[Any]) -> None:
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

    console = Console(file=ctx.stdout)
    tasks: dict[str, Any] = {}
    with Progress(TextColumn("{task.fields[layer]}: {task.description:<20}"), BarColumn(),
                  DownloadColumn(), console=console, transient=False) as bars:
        def updates() -> Iterator[Any]:
            for msg in messages:
                layer = msg.get("id") if isinstance(msg, dict) else None
                if layer and msg.get("progressDetail") is not None and "status" in msg:
                    detail = msg["progressDetail"] or {}
                    if layer not in tasks:
                        tasks[layer] = bars.add_task(msg["status"], layer=layer, total=None)
                    done = msg["status"] in _FINAL
                    task = bars.tasks[tasks[layer]]
                    bars.update(tasks[layer], description=msg["status"],
                                total=detail.get("total") or task.total,
                                completed=(task.total or 0) if done and task.total
                                else detail.get("current"))
                    continue
                yield msg

        show_messages(console.file, updates())


def configure_pull(p: argparse.ArgumentParser) -> None:
    p.add_argument("-a", "--all-tags", action="store_true",
                   help="Download all tagged images in the repository")
    p.add_argument("--platform", metavar="string", help="Set platform if server is multi-platform "
                   "capable")
    p.add_argument("-q", "--quiet", action="store_true", help="Suppress verbose output")
    p.add_argument("name", metavar="NAME[:TAG|@DIGEST]")


def do_pull(ctx: Context, args: argparse.Namespace) -> int:
    if args.all_tags:
        raise CLIError("minke pull: --all-tags is not supported: pull each tag by name")
    name = args.name
    if "@" not in name and ":" not in name.rsplit("/", 1)[-1]:
        name += ":latest"
        if not args.quiet:
            ctx.stdout.write("Using default tag: latest\n")
    image, tag = (name.split("@", 1)[0], name.split("@", 1)[1]) if "@" in name else \
        name.rsplit(":", 1)
    params = {"fromImage": image, "tag": tag, "platform": args.platform}
    with ctx.client.stream("POST", "/images/create", params=params,
                           headers=_auth_header(name)) as stream:
        _show(ctx, stream.json_messages(), args.quiet)
    if args.quiet:
        ctx.stdout.write(name + "\n")
    else:
        ctx.stdout.write(f"{_canonical(name)}\n")
    return 0


def _canonical(name: str) -> str:
    """docker's last line of a pull: the fully qualified reference."""
    if registry_of(name) != "docker.io" or name.startswith("docker.io/"):
        return name
    return f"docker.io/{name}" if "/" in name.split("@")[0].rsplit(":", 1)[0] else \
        f"docker.io/library/{name}"


def configure_push(p: argparse.ArgumentParser) -> None:
    p.add_argument("-a", "--all-tags", action="store_true",
                   help="Push all tagged images in the repository")
    p.add_argument("-q", "--quiet", action="store_true", help="Suppress verbose output")
    p.add_argument("name", metavar="NAME[:TAG]")


def do_push(ctx: Context, args: argparse.Namespace) -> int:
    name = args.name
    tagged = ":" in name.rsplit("/", 1)[-1]
    if args.all_tags and tagged:
        raise CLIError("tag can't be used with --all-tags/-a")
    image, tag = (name.rsplit(":", 1) if tagged else (name, "" if args.all_tags else "latest"))
    if not tagged and not args.all_tags and not args.quiet:
        ctx.stdout.write("Using default tag: latest\n")
    from minke.client import quote_name

    with ctx.client.stream("POST", f"/images/{quote_name(image)}/push",
                           params={"tag": tag or None}, headers=_auth_header(name)) as stream:
        _show(ctx, stream.json_messages(), args.quiet)
    if args.quiet:
        ctx.stdout.write(name + "\n")
    return 0


def configure_login(p: argparse.ArgumentParser) -> None:
    p.add_argument("-u", "--username", metavar="string", help="Username")
    p.add_argument("-p", "--password", metavar="string", help="Password")
    p.add_argument("--password-stdin", action="store_true", help="Take the password from stdin")
    p.add_argument("server", metavar="SERVER", nargs="?")


def do_login(ctx: Context, args: argparse.Namespace) -> int:
    server = server_key(args.server or "")
    password = args.password
    if args.password_stdin:
        if password:
            raise CLIError("--password and --password-stdin are mutually exclusive")
        if not args.username:
            raise CLIError("Must provide --username with --password-stdin")
        password = sys.stdin.read().rstrip("\r\n")
    elif password:
        ctx.err("WARNING! Using --password via the CLI is insecure. Use --password-stdin.")
    username = args.username
    if not username:
        if not is_tty(sys.stdin.fileno()):
            raise CLIError("Error: Cannot perform an interactive login from a non TTY device")
        username = input("Username: ").strip()
    if not password:
        password = getpass.getpass("Password: ")
    if not username or not password:
        raise CLIError("Error: Non-null Username and Password Required")
    answer = ctx.client.post("/auth", body={"username": username, "password": password,
                                             "serveraddress": server})
    token = (answer or {}).get("IdentityToken") or ""
    try:
        store = CredentialStore()
        store.store(server, username, password, identitytoken=token)
    except (CredentialError, OSError) as exc:
        raise CLIError(f"Error saving credentials: {exc}") from exc
    ctx.stdout.write((answer or {}).get("Status", "Login Succeeded") + "\n")
    return 0


def configure_logout(p: argparse.ArgumentParser) -> None:
    p.add_argument("server", metavar="SERVER", nargs="?")


def do_logout(ctx: Context, args: argparse.Namespace) -> int:
    server = server_key(args.server or "")
    try:
        found = CredentialStore().erase(server)
    except (CredentialError, OSError) as exc:
        raise CLIError(f"Error: {exc}") from exc
    if not found:
        ctx.stdout.write(f"Not logged in to {server}\n")
    else:
        ctx.stdout.write(f"Removing login credentials for {server}\n")
    return 0
