"""``RUN --mount=type=secret``: its defaults as BuildKit gives them, and the private file the
step's container sees (the secret's bytes from the build's secret source, never in the cache
key); a missing secret is skipped unless ``required``."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from minke.engine.build.runstep import MountSet, parse_mount
from minke.errors import InvalidParameter


def test_secret_defaults() -> None:
    m = parse_mount("type=secret,id=token")
    assert (m.type, m.id, m.target) == ("secret", "token", "/run/secrets/token")
    m = parse_mount("type=secret,target=/etc/npmrc")
    assert (m.id, m.target) == ("npmrc", "/etc/npmrc")
    m = parse_mount("type=secret,id=t,required=true,mode=0440,uid=10")
    assert m.extra == {"required": "true", "mode": "0440", "uid": "10"}
    with pytest.raises(InvalidParameter, match="needs id= or target="):
        parse_mount("type=secret")


async def test_secret_becomes_a_private_read_only_bind(tmp_path: Path) -> None:
    async def source(name: str) -> bytes | None:
        return {"token": b"s3cret"}.get(name)

    (tmp_path / "tmp").mkdir()
    mounts = MountSet(None, tmp_path / "cache", secrets=source)
    binds = await mounts.binds([parse_mount("type=secret,id=token,mode=0440,uid=7")],
                               lambda _: "")
    (bind,) = binds
    host, target, mode = bind.split(":")
    assert (target, mode) == ("/run/secrets/token", "ro")
    assert Path(host).read_bytes() == b"s3cret"
    st = os.stat(host)
    assert stat.S_IMODE(st.st_mode) == 0o440 and st.st_uid == 7
    assert stat.S_IMODE(os.stat(Path(host).parent).st_mode) == 0o700
    await mounts.close()
    assert not Path(host).exists()


async def test_missing_secret_is_skipped_unless_required(tmp_path: Path) -> None:
    async def source(name: str) -> bytes | None:
        return None

    (tmp_path / "tmp").mkdir()
    mounts = MountSet(None, tmp_path / "cache", secrets=source)
    assert await mounts.binds([parse_mount("type=secret,id=nope")], lambda _: "") == []
    with pytest.raises(InvalidParameter, match="secret nope: not found"):
        await mounts.binds([parse_mount("type=secret,id=nope,required=true")], lambda _: "")
    without_source = MountSet(None, tmp_path / "cache")
    assert await without_source.binds([parse_mount("type=secret,id=x")], lambda _: "") == []
