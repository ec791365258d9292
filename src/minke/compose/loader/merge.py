"""The Compose merge rules for several files (``-f a -f b``), ``extends`` and overrides.

Mappings merge key by key; scalars are replaced; ``command``, ``entrypoint`` and
``healthcheck.test`` are replaced whole; ``ports``, ``volumes``, ``secrets`` and
``configs`` merge by their unique key (published port, target path, target); other
sequences are appended without duplicates. ``!reset`` removes the inherited value and
``!override`` replaces it without merging. Both sides are long syntax already (``syntax``).
"""

from __future__ import annotations

from typing import Any

from .markers import Override, Reset

REPLACE = {("command",), ("entrypoint",), ("healthcheck", "test")}


def _port_key(p: dict[str, Any]) -> Any:
    return (p.get("host_ip"), p.get("published"), p.get("target"), p.get("protocol"))


def _target_key(v: dict[str, Any]) -> Any:
    return v.get("target") or v.get("source")


KEYED = {("ports",): _port_key, ("volumes",): _target_key,
         ("secrets",): lambda s: s.get("target") or s.get("source"),
         ("configs",): lambda s: s.get("target") or s.get("source")}


def merge_service(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` applied on ``base`` (both one service, long syntax)."""
    return _merge(base, override, ())


def merge_mapping(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Top-level merge of two files; ``services.*`` use the service rules."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Reset):
            out.pop(key, None)
        elif isinstance(value, Override):
            out[key] = strip(value.value)
        elif key in ("services", "networks", "volumes", "secrets", "configs", "models") \
                and isinstance(value, dict) and isinstance(out.get(key), dict):
            section = dict(out[key])
            for name, item in value.items():
                if isinstance(item, Reset):
                    section.pop(name, None)
                elif isinstance(item, Override) or name not in section:
                    section[name] = strip(item.value if isinstance(item, Override) else item)
                elif key == "services":
                    section[name] = merge_service(section[name], item)
                else:
                    section[name] = _merge(section[name] or {}, item or {}, ("x",))
            out[key] = section
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value, ("x",))
        else:
            out[key] = strip(value)
    return out


def _merge(base: Any, override: Any, path: tuple[str, ...]) -> Any:
    if isinstance(override, Reset):
        return None
    if isinstance(override, Override):
        return strip(override.value)
    if isinstance(base, dict) and isinstance(override, dict):
        if path == ("logging",) and override.get("driver") not in (None, base.get("driver")):
            return strip(override)  # another driver: its options mean nothing to the old one
        out = dict(base)
        for key, value in override.items():
            if isinstance(value, Reset):
                out.pop(key, None)
            elif key in out:
                out[key] = _merge(out[key], value, (*path, key))
            else:
                out[key] = strip(value)
        return out
    if isinstance(base, list) and isinstance(override, list) and path not in REPLACE:
        keyfn = KEYED.get(path)
        if keyfn is not None:
            merged = {keyfn(item): item for item in base}
            for item in override:
                merged[keyfn(item)] = strip(item)
            return list(merged.values())
        out = list(base)
        for item in override:
            if item not in out:
                out.append(strip(item))
        return out
    return strip(override)


def strip(value: Any) -> Any:
    """A value with its merge markers removed (for values that have nothing to merge with)."""
    if isinstance(value, Override):
        return strip(value.value)
    if isinstance(value, dict):
        return {k: strip(v) for k, v in value.items() if not isinstance(v, Reset)}
    if isinstance(value, list):
        return [strip(v) for v in value if not isinstance(v, Reset)]
    if isinstance(value, Reset):
        return None
    return value
