"""Where and how the dashboard listens: the ``--web`` address, its token and TLS, checked.

Off unless ``--web`` (or ``daemon.json``'s ``web``) names an address. On a loopback address
pages are readable by anyone on this host and actions need the token; on any other address
everything needs the token, over TLS. The TLS certificate and key are the daemon's own
(``--tlscert``/``--tlskey``); browsers do not present client certificates, so the dashboard
authenticates people by the token instead of ``--tlsverify``'s CA. Without
``--web-token-file`` a loopback dashboard gets a random token written to
``<exec-root>/web.token`` (mode 0600): whoever can read that file is root already.
"""

from __future__ import annotations

import os
import secrets
import ssl
from dataclasses import dataclass
from pathlib import Path

from minke.daemon.listeners import ListenerError, TLSSettings, is_loopback, server_context

DEFAULT_PORT = 9180
TOKEN_BYTES = 32
MIN_TOKEN_LENGTH = 16  # characters; a shorter token is guessable over the network


@dataclass(frozen=True)
class WebConfig:
    """The dashboard's checked settings: ``host``/``port``, the token, and TLS (or None)."""

    host: str
    port: int
    token: str
    token_file: Path
    tls: ssl.SSLContext | None

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"


def parse_address(value: str) -> tuple[str, int]:
    """``ADDR:PORT``, ``ADDR`` (port 9180) or ``[V6]:PORT``; ``ListenerError`` naming it."""
    text = value.strip()
    for scheme in ("http://", "https://", "tcp://"):
        if text.startswith(scheme):
            text = text[len(scheme):]
    if not text or "/" in text:
        raise ListenerError(f"invalid --web address {value!r}: expected ADDR:PORT")
    if text.startswith("["):
        host, bracket, tail = text[1:].partition("]")
        if not bracket or (tail and not tail.startswith(":")):
            raise ListenerError(f"invalid --web address {value!r}: bad IPv6 address")
        port_text = tail[1:]
    elif text.count(":") > 1:
        raise ListenerError(f"invalid --web address {value!r}: put an IPv6 address in "
                            "brackets, as [::1]:9180")
    else:
        host, _, port_text = text.partition(":")
    if not port_text:
        return host, DEFAULT_PORT
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ListenerError(f"invalid --web address {value!r}: invalid port: {port_text}")
    return host, int(port_text)


def resolve(address: str, *, token_file: str | None, tls: TLSSettings | None,
            exec_root: Path) -> WebConfig:
    """Check the settings and read (or, on loopback, make) the token. Refuses a
    non-loopback address without both TLS and ``--web-token-file``."""
    host, port = parse_address(address)
    loopback = is_loopback(host)
    if not loopback and (tls is None or token_file is None):
        missing = " and ".join(
            what for what, absent in (("TLS (--tlscert/--tlskey)", tls is None),
                                      ("--web-token-file", token_file is None)) if absent)
        raise ListenerError(
            f"refusing to serve the dashboard on {host}:{port} without {missing}: on a "
            "non-loopback address it needs TLS and a token. Use 127.0.0.1 to keep it local")
    if token_file is not None:
        path = Path(token_file)
        token = read_token(path)
    else:
        path = exec_root / "web.token"
        token = make_token(path)
    context = None
    if tls is not None:
        # The daemon's certificate; people log in with the token, not a client certificate.
        context = server_context(TLSSettings(verify=False, cacert=tls.cacert, cert=tls.cert,
                                             key=tls.key))
    return WebConfig(host=host, port=port, token=token, token_file=path, tls=context)


def read_token(path: Path) -> str:
    """The token in ``path`` (surrounding whitespace dropped); ``ListenerError`` if the file
    cannot be read or holds a token too short to resist guessing."""
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ListenerError(f"cannot read --web-token-file {path}: {exc.strerror}") from exc
    if len(token) < MIN_TOKEN_LENGTH:
        raise ListenerError(f"--web-token-file {path}: the token must be at least "
                            f"{MIN_TOKEN_LENGTH} characters")
    return token


def make_token(path: Path) -> str:
    """A new random token, written to ``path`` readable by root only."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token
