"""TLS to a remote daemon, configured as the docker CLI configures it.

``--tls`` or ``DOCKER_TLS`` turn TLS on without checking the daemon's certificate;
``--tlsverify`` (any value given) or a non-empty ``DOCKER_TLS_VERIFY`` turn it on and check
the daemon against the CA. The CA, certificate and key default to ``ca.pem``, ``cert.pem``
and ``key.pem`` in ``DOCKER_CERT_PATH``, else ``DOCKER_CONFIG``, else ``~/.docker``; a
default certificate or key that does not exist is not sent. ``ssl`` is imported only when a
connection is wrapped: unix-socket users do not pay its start-up cost.
"""

from __future__ import annotations

import os
import socket

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ssl
    from collections.abc import Mapping


class TLSOptions:
    """What a TLS connection presents and checks; the context is built on first use."""

    __slots__ = ("verify", "cacert", "cert", "key", "_context")

    def __init__(self, verify: bool, cacert: str, cert: str, key: str) -> None:
        self.verify = verify
        self.cacert = cacert
        self.cert = cert
        self.key = key
        self._context: ssl.SSLContext | None = None

    def __repr__(self) -> str:
        return (f"TLSOptions(verify={self.verify}, cacert={self.cacert!r}, cert={self.cert!r}, "
                f"key={self.key!r})")

    def context(self) -> ssl.SSLContext:
        """The client context; ``TLSFileError`` names a file that cannot be used."""
        if self._context is None:
            self._context = _make_context(self)
        return self._context


class TLSFileError(ValueError):
    """A certificate, key or CA file that cannot be read or parsed; the message names it."""


def tls_options(environ: Mapping[str, str] | None = None, *, tls: bool | None = None,
                tlsverify: bool | None = None, cacert: str | None = None,
                cert: str | None = None, key: str | None = None) -> TLSOptions | None:
    """The TLS options from the flags (``None`` = not given) and the environment, or
    ``None`` if TLS is off."""
    env = os.environ if environ is None else environ
    if tls is None:
        tls = bool(env.get("DOCKER_TLS"))
    if tlsverify is None:
        tlsverify = bool(env.get("DOCKER_TLS_VERIFY"))
        if tlsverify:
            tls = True
    else:
        tls = True  # --tlsverify=false still means TLS, without checking the daemon
    if not tls:
        return None
    directory = env.get("DOCKER_CERT_PATH") or env.get("DOCKER_CONFIG") or os.path.join(
        os.path.expanduser("~"), ".docker")
    default_cert = os.path.join(directory, "cert.pem")
    default_key = os.path.join(directory, "key.pem")
    return TLSOptions(
        verify=tlsverify,
        cacert=cacert or os.path.join(directory, "ca.pem"),
        cert=cert or (default_cert if os.path.exists(default_cert) else ""),
        key=key or (default_key if os.path.exists(default_key) else ""),
    )


def _make_context(options: TLSOptions) -> ssl.SSLContext:
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if options.verify:
        _readable(options.cacert, "CA certificate")
        try:
            context.load_verify_locations(cafile=options.cacert)
        except ssl.SSLError as exc:
            raise TLSFileError(f'could not read CA certificate "{options.cacert}": '
                               f"{exc.reason or exc}") from exc
    else:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if options.cert or options.key:
        _readable(options.cert, "certificate")
        _readable(options.key, "key")
        try:
            context.load_cert_chain(options.cert, options.key)
        except ssl.SSLError as exc:
            raise TLSFileError(f'could not load X509 key pair (cert: "{options.cert}", '
                               f'key: "{options.key}"): {exc.reason or exc}') from exc
    return context


def _readable(path: str, what: str) -> None:
    if not path:
        raise TLSFileError(f"no client {what}: a certificate (--tlscert) and its key "
                           "(--tlskey) go together")
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise TLSFileError(f'could not read {what} "{path}": {exc.strerror}') from exc


def wrap(sock: socket.socket, options: TLSOptions, server_hostname: str) -> socket.socket:
    """``sock`` after a TLS handshake with the daemon (``ssl.SSLError`` if it fails)."""
    return options.context().wrap_socket(sock, server_hostname=server_hostname)


def is_tls_error(exc: BaseException) -> bool:
    """Whether ``exc`` came from TLS (only possible once ``ssl`` has been imported)."""
    import sys

    ssl_module = sys.modules.get("ssl")
    return ssl_module is not None and isinstance(exc, ssl_module.SSLError)


def shutdown_write(sock: socket.socket) -> None:
    """End our side of the stream; the daemon's output keeps coming.

    On a TLS socket only TCP is shut for writing, as docker's older clients did and both
    dockerd and minked read as the end of input: ``SSLSocket.shutdown`` would also drop
    TLS from the socket, after which reading returns ciphertext.
    """
    socket.socket.shutdown(sock, socket.SHUT_WR)
