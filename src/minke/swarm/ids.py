"""Object IDs as SwarmKit makes them: 128 random bits in base 36, zero-padded to 25
characters (``identity.NewID``), so they look and sort like Docker's."""

from __future__ import annotations

import secrets

ID_LENGTH = 25
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def new_id() -> str:
    n = secrets.randbits(128)
    out = ""
    while n:
        n, rem = divmod(n, 36)
        out = _DIGITS[rem] + out
    return out.rjust(ID_LENGTH, "0")
