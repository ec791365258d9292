"""Docker's detach key sequences (``--detach-keys``, ``detachKeys``): "ctrl-p,ctrl-q" → bytes.

Shared by the API (which watches a hijacked stdin for the sequence) and the CLI (which
watches the user's terminal); standard library only.
"""

from __future__ import annotations

DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q"
_CTRL_KEYS = "abcdefghijklmnopqrstuvwxyz[\\]^_"


def parse_detach_keys(spec: str | None) -> bytes:
    """docker's ``term.ToBytes``: comma-separated single characters or ``ctrl-<key>``;
    ValueError with Docker's text for anything else."""
    spec = spec or DEFAULT_DETACH_KEYS
    out = bytearray()
    for key in spec.split(","):
        lowered = key.lower()
        if len(key) == 1:
            out.append(ord(key))
        elif lowered.startswith("ctrl-") and len(key) == 6:
            char = lowered[5]
            if char == "@":
                out.append(0)
            elif char in _CTRL_KEYS:
                out.append(_CTRL_KEYS.index(char) + 1)
            else:
                raise ValueError(f"Invalid detach keys ({spec}) provided")
        else:
            raise ValueError(f"Invalid detach keys ({spec}) provided")
    return bytes(out)
