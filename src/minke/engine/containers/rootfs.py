"""Reading files of a container's root filesystem without following links out of it,
and resolving ``User`` ("name", "uid:gid", "name:group") as Docker does from the image's
/etc/passwd and /etc/group."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from minke.errors import InvalidParameter

MAX_SYMLINKS = 255


def resolve_in_root(root: Path, path: str) -> Path:
    """``path`` as seen from inside ``root``: symlinks are followed, absolute ones relative
    to ``root``, and ``..`` never climbs above it (the securejoin rule runc uses)."""
    parts = [p for p in path.split("/") if p and p != "."]
    resolved: list[str] = []
    links = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = root.joinpath(*resolved, part)
        if candidate.is_symlink():
            links += 1
            if links > MAX_SYMLINKS:
                raise InvalidParameter(f"too many levels of symbolic links in {path}")
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p and p != "."] + parts
            continue
        resolved.append(part)
    return root.joinpath(*resolved)


def read_text_in_root(root: Path, path: str) -> str | None:
    target = resolve_in_root(root, path)
    try:
        if not target.is_file():
            return None
        return target.read_text(errors="replace")
    except OSError:
        return None


@dataclass(frozen=True)
class ExecUser:
    uid: int
    gid: int
    additional_gids: list[int] = field(default_factory=list)
    home: str = "/"


def _parse_db(text: str | None) -> list[list[str]]:
    rows = []
    for line in (text or "").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            rows.append(line.split(":"))
    return rows


def resolve_user(root: Path, user: str, group_add: list[str] | None = None) -> ExecUser:
    """Docker's resolution of ``User``: names looked up in the image, numbers taken as they
    are, a missing name is an error, and the user's supplementary groups are added."""
    passwd = _parse_db(read_text_in_root(root, "/etc/passwd"))
    groups = _parse_db(read_text_in_root(root, "/etc/group"))
    user_part, _, group_part = (user or "").partition(":")
    uid, gid, home, name = 0, 0, "/", "root"
    if user_part:
        entry = next((r for r in passwd if len(r) >= 6 and r[0] == user_part), None)
        if entry is None and user_part.isdigit():
            entry = next((r for r in passwd if len(r) >= 6 and r[2] == user_part), None)
            uid, name = int(user_part), ""
        if entry is not None:
            name, uid, gid, home = entry[0], int(entry[2]), int(entry[3]), entry[5] or "/"
        elif not user_part.isdigit():
            raise InvalidParameter(
                f"unable to find user {user_part}: no matching entries in passwd file"
            )
    elif passwd:
        root_entry = next((r for r in passwd if len(r) >= 6 and r[2] == "0"), None)
        if root_entry:
            home = root_entry[5] or "/"
    if group_part:
        gid = _group_id(groups, group_part)
    additional = sorted(
        {int(r[2]) for r in groups if len(r) >= 4 and name and name in r[3].split(",")} - {gid}
    )
    for extra in group_add or []:
        additional.append(_group_id(groups, extra))
    return ExecUser(uid=uid, gid=gid, additional_gids=additional, home=home)


def _group_id(groups: list[list[str]], group: str) -> int:
    entry = next((r for r in groups if len(r) >= 3 and r[0] == group), None)
    if entry is not None:
        return int(entry[2])
    if group.isdigit():
        return int(group)
    raise InvalidParameter(f"unable to find group {group}: no matching entries in group file")
