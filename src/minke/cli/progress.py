"""Showing the JSON messages of image streams (load, import; later pull and push).

Owns docker's ``jsonmessage`` display in its plain (non-terminal) form: ``stream`` text as
is, ``status`` lines with their ``id``, progress bars left out, and an in-band
``errorDetail`` (sent with HTTP 200 once streaming began) raised as an error.
"""

from __future__ import annotations

from collections.abc import Iterable

from minke import httperrors

# typing is imported only by type checkers: it costs milliseconds of CLI start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, Any


def show_messages(out: IO[str], messages: Iterable[Any]) -> None:
    for msg in messages:
        if not isinstance(msg, dict):
            continue
        if msg.get("errorDetail") or msg.get("error"):
            detail = msg.get("errorDetail") or {}
            text = detail.get("message") or msg.get("error") or "unknown error"
            raise httperrors.from_status(int(detail.get("code") or 500), text)
        if msg.get("stream"):
            out.write(msg["stream"])
        elif msg.get("status") and not msg.get("progressDetail"):
            prefix = f"{msg['id']}: " if msg.get("id") else ""
            out.write(f"{prefix}{msg['status']}\n")
        out.flush()
