"""The local terminal: raw mode, its size, and docker's detach key sequence.

Owns ``termios`` state (saved before raw mode and always restored), ``--detach-keys``
parsing (``ctrl-p,ctrl-q`` → ``b"\\x10\\x11"``) and the escape proxy that spots the
sequence in what the user types, forwarding everything else unchanged.
"""

from __future__ import annotations

import os
import termios
import tty
from collections.abc import Iterator
from contextlib import contextmanager

from minke import detachkeys

from .context import CLIError


def parse_detach_keys(spec: str | None) -> bytes:
    """``--detach-keys`` as bytes; docker's error and exit status 125 when malformed."""
    try:
        return detachkeys.parse_detach_keys(spec)
    except ValueError as exc:
        raise CLIError(str(exc), 125) from None


class EscapeProxy:
    """Finds the detach sequence in typed input; a partial match is held back until the
    next key decides whether it was the sequence or ordinary input."""

    def __init__(self, keys: bytes) -> None:
        self.keys = keys
        self._held = b""

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """(bytes to forward, whether the full sequence was typed)."""
        out = bytearray()
        for byte in data:
            candidate = self._held + bytes([byte])
            if self.keys.startswith(candidate):
                if candidate == self.keys:
                    return bytes(out), True
                self._held = candidate
                continue
            out += candidate
            self._held = b""
        return bytes(out), False


def is_tty(fd: int) -> bool:
    return os.isatty(fd)


def size(fd: int) -> tuple[int, int] | None:
    """(height, width) of the terminal on ``fd``, or None if it is not a terminal."""
    try:
        columns, lines = os.get_terminal_size(fd)
    except OSError:
        return None
    return lines, columns


@contextmanager
def raw_mode(fd: int) -> Iterator[None]:
    """Put ``fd`` in raw mode (keys go to the container, ^C included) and restore it."""
    if not is_tty(fd):
        yield
        return
    saved = termios.tcgetattr(fd)
    tty.setraw(fd)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
