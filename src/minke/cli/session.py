"""An attached session: copying between the local terminal and a hijacked connection.

Owns the output side (raw bytes for a tty, demultiplexed stdout/stderr frames otherwise),
the input side (a thread copying stdin, half-closing the connection at EOF, watching for
the detach keys when a tty is in raw mode), terminal resizing on start and on SIGWINCH,
and signal proxying for non-tty sessions (``--sig-proxy``). Which requests open the
connection and where the exit code comes from belong to the verbs.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager

from minke import errors
from minke.client import STDERR, APIClient, FrameDecoder, HijackedConnection, quote_name

from . import terminal

# typing is imported only by type checkers: it costs milliseconds of CLI start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO


STDIN_READ = 4096
PROXIED_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2")


def pump(conn: HijackedConnection, *, tty: bool, stdin: bool, detach_keys: bytes,
         stdout: BinaryIO | None = None, stderr: BinaryIO | None = None) -> bool:
    """Copy both ways until the server closes the output; True if the user detached."""
    out = stdout or sys.stdout.buffer
    err = stderr or sys.stderr.buffer
    detached = threading.Event()
    if stdin:
        threading.Thread(target=_copy_stdin, args=(conn, tty, detach_keys, detached),
                         daemon=True).start()
    copy_output(conn.chunks(), tty=tty, stdout=out, stderr=err)
    return detached.is_set()


def copy_output(chunks: Iterable[bytes], *, tty: bool, stdout: BinaryIO,
                stderr: BinaryIO) -> None:
    """Raw bytes for a tty; otherwise frames, each to the stream it names."""
    decoder = None if tty else FrameDecoder()
    for chunk in chunks:
        if decoder is None:
            stdout.write(chunk)
            stdout.flush()
            continue
        for stream, payload in decoder.feed(chunk):
            target = stderr if stream == STDERR else stdout
            target.write(payload)
            target.flush()


def _copy_stdin(conn: HijackedConnection, tty: bool, detach_keys: bytes,
                detached: threading.Event) -> None:
    # docker only looks for the detach keys on a tty; piped input is passed through intact.
    proxy = terminal.EscapeProxy(detach_keys) if tty else None
    fd = sys.stdin.fileno()
    try:
        while data := os.read(fd, STDIN_READ):
            if proxy is not None:
                data, escaped = proxy.feed(data)
                if escaped:
                    detached.set()
                    if data:
                        conn.sendall(data)
                    conn.sock.shutdown(2)  # SHUT_RDWR: ends the output loop too
                    return
            if data:
                conn.sendall(data)
    except OSError:
        return  # the server closed the connection first
    conn.close_write()


def resize(client: APIClient, path: str) -> None:
    """``POST {path}/resize?h=&w=`` with the local terminal's size (if it is one)."""
    dims = terminal.size(sys.stdout.fileno())
    if dims is None:
        return
    try:
        client.call("POST", f"{path}/resize", params={"h": dims[0], "w": dims[1]})
    except errors.MinkeError:
        pass  # the process may already have exited; docker ignores this too


@contextmanager
def watch_resize(client: APIClient, path: str) -> Iterator[None]:
    """Resize now and on every SIGWINCH until the block ends."""
    previous = signal.signal(signal.SIGWINCH, lambda *_: resize(client, path))
    try:
        resize(client, path)
        yield
    finally:
        signal.signal(signal.SIGWINCH, previous)


@contextmanager
def proxy_signals(client: APIClient, container: str) -> Iterator[None]:
    """Forward the usual termination signals to the container instead of dying."""

    def forward(signum: int, _frame: object) -> None:
        name = signal.Signals(signum).name.removeprefix("SIG")
        path = f"/containers/{quote_name(container)}/kill"
        try:
            client.stream("POST", path, params={"signal": name}).close()
        except errors.MinkeError:
            pass  # the container exited meanwhile

    previous = {name: signal.signal(getattr(signal, name), forward)
                for name in PROXIED_SIGNALS}
    try:
        yield
    finally:
        for name, handler in previous.items():
            signal.signal(getattr(signal, name), handler)


@contextmanager
def local_terminal(client: APIClient, resize_path: str, *, tty: bool, stdin: bool,
                   sig_proxy_container: str | None = None) -> Iterator[None]:
    """Everything the local side needs for the session's lifetime, undone afterwards."""
    with ExitStack() as stack:
        if tty and stdin and terminal.is_tty(sys.stdin.fileno()):
            stack.enter_context(terminal.raw_mode(sys.stdin.fileno()))
        if tty and terminal.is_tty(sys.stdout.fileno()):
            stack.enter_context(watch_resize(client, resize_path))
        if not tty and sig_proxy_container:
            stack.enter_context(proxy_signals(client, sig_proxy_container))
        yield
