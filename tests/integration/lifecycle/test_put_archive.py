"""``PUT /containers/{id}/archive`` (docker-py ``put_archive``, testcontainers'
``copy_into_container``) into running and stopped containers: directories anywhere (``/``
included), absolute member names taken relative to the destination, links resolved in the
container, and every escape refused with nothing changed, even after good members."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from tests.conftest import Daemon, unique
from tests.integration.lifecycle.lifecycle_support import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.compat]

Member = tuple[str, str, object]  # (name, "dir" | "file" | "sym" | "lnk", payload or target)


def tar(*members: Member) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, kind, extra in members:
            info = tarfile.TarInfo(name)
            info.mtime = 1_700_000_000
            if kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, int(extra or 0o755)  # type: ignore[call-overload]
                archive.addfile(info)
            elif kind == "file":
                data = bytes(extra)  # type: ignore[call-overload]
                info.size, info.mode = len(data), 0o644
                archive.addfile(info, io.BytesIO(data))
            else:
                info.type = tarfile.SYMTYPE if kind == "sym" else tarfile.LNKTYPE
                info.linkname = str(extra)
                archive.addfile(info)
    return buf.getvalue()


def truncated() -> bytes:
    """A good member, then one whose payload the archive stops in the middle of."""
    data = tar(("good", "file", b"g\n"), ("big", "file", b"b" * 4096))
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        big = archive.getmember("big")
    return data[: big.offset_data + 100]


@pytest.fixture
def api(minke_daemon: Daemon) -> Iterator[docker.APIClient]:
    client = docker.APIClient(base_url=minke_daemon.host, version="1.41", timeout=60)
    yield client
    client.close()


@pytest.fixture(params=["running", "stopped"])
def box(request: pytest.FixtureRequest, api: docker.APIClient, busybox_image: str
        ) -> Iterator[str]:
    cid = api.create_container(
        busybox_image, ["sh", "-c", "mkdir -p /dest/keep && echo kept > /dest/keep/k && "
                        "ln -s / /dest/rootlink && touch /ready && sleep 1000"],
        name=unique("put"))["Id"]
    api.start(cid)
    wait_for("the container's files", lambda: _exists(api, cid, "/ready"))
    if request.param == "stopped":
        api.kill(cid)
    yield cid
    api.remove_container(cid, force=True)


def _exists(api: docker.APIClient, cid: str, path: str) -> bool:
    try:
        api.get_archive(cid, path)[0].close()
    except docker.errors.NotFound:
        return False
    return True


def read(api: docker.APIClient, cid: str, path: str) -> bytes:
    stream, _ = api.get_archive(cid, path)
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as archive:
        member = archive.next()
        assert member is not None and member.isreg(), member
        return archive.extractfile(member).read()  # type: ignore[union-attr]


def test_directory_into_the_root(api: docker.APIClient, box: str) -> None:
    data = tar(("app", "dir", 0o755), ("app/conf", "dir", 0o750),
               ("app/conf/settings.ini", "file", b"[a]\nb=1\n"), ("app/run.sh", "file", b"x\n"))
    assert api.put_archive(box, "/", data)
    assert read(api, box, "/app/conf/settings.ini") == b"[a]\nb=1\n"
    assert read(api, box, "/app/run.sh") == b"x\n"
    assert api.put_archive(box, "/dest/keep", data)
    assert read(api, box, "/dest/keep/app/conf/settings.ini") == b"[a]\nb=1\n"


def test_absolute_member_names_are_relative_to_the_destination(
    api: docker.APIClient, box: str
) -> None:
    # As testcontainers writes them: absolute names, put at "/".
    data = tar(("/srv/tc", "dir", 0o755), ("/srv/tc/f.txt", "file", b"tc\n"))
    assert api.put_archive(box, "/", data)
    assert read(api, box, "/srv/tc/f.txt") == b"tc\n"
    assert api.put_archive(box, "/dest", data)
    assert read(api, box, "/dest/srv/tc/f.txt") == b"tc\n"
    assert not _exists(api, box, "/dest/dest")


def test_links_resolve_in_the_container(api: docker.APIClient, box: str) -> None:
    marker = unique("minke-put")
    # An absolute symlink target points into the container (Docker writes through it) ...
    assert api.put_archive(box, "/dest", tar(("abs", "sym", "/"),
                                             (f"abs/tmp/{marker}", "file", b"in\n")))
    assert read(api, box, f"/tmp/{marker}") == b"in\n"
    # ... and so does one the container already has.
    assert api.put_archive(box, "/dest/rootlink/tmp", tar((f"{marker}.2", "file", b"2\n")))
    assert read(api, box, f"/tmp/{marker}.2") == b"2\n"
    assert not Path("/tmp", marker).exists() and not Path("/tmp", f"{marker}.2").exists()
    assert api.put_archive(box, "/dest", tar(("keep/hard", "lnk", "/keep/k")))
    assert read(api, box, "/dest/keep/hard") == b"kept\n"


ESCAPES = {
    "dot-dot": (tar(("good", "file", b"g\n"), ("../escape", "file", b"e\n")),
                '"../escape" is outside of "/dest"'),
    "inner-dot-dot": (tar(("good", "file", b"g\n"), ("sub/../../escape", "file", b"e\n")),
                      '"../escape" is outside of "/dest"'),
    "symlink": (tar(("good", "file", b"g\n"), ("esc", "sym", "../../../../"),
                    ("esc/escape", "file", b"e\n")),
                'invalid symlink "/dest/esc" -> "../../../../"'),
    "hardlink": (tar(("good", "file", b"g\n"), ("hl", "lnk", "../etc/passwd")),
                 'invalid hardlink "/etc/passwd" -> "../etc/passwd"'),
    "missing-hardlink-target": (tar(("good", "file", b"g\n"), ("hl", "lnk", "/nowhere")),
                                'hardlink target "/nowhere" not found'),
    "parent-is-a-file": (tar(("good", "file", b"g\n"), ("keep/k/under", "file", b"e\n")),
                         '"/dest/keep/k" is not a directory'),
    "truncated": (truncated(), "unexpected end of data"),
}


@pytest.mark.parametrize("case", sorted(ESCAPES))
def test_a_refused_archive_changes_nothing(api: docker.APIClient, box: str, case: str) -> None:
    data, message = ESCAPES[case]
    before = api.diff(box)
    with pytest.raises(docker.errors.APIError) as info:
        api.put_archive(box, "/dest", data)
    assert info.value.status_code == 400
    assert message in str(info.value)
    assert api.diff(box) == before
    assert not _exists(api, box, "/dest/good")
    assert not _exists(api, box, "/escape") and not _exists(api, box, "/dest/escape")
    assert not Path("/escape").exists()


def test_no_overwrite_dir_non_dir_refuses_before_writing(api: docker.APIClient,
                                                         box: str) -> None:
    data = tar(("good", "file", b"g\n"), ("keep", "file", b"not a dir\n"))
    before = api.diff(box)
    # docker-py's put_archive has no noOverwriteDirNonDir; the docker CLI sends it.
    response = api._put(api._url("/containers/{0}/archive", box), data=data,
                        params={"path": "/dest", "noOverwriteDirNonDir": "true"})
    with pytest.raises(docker.errors.APIError) as info:
        api._raise_for_status(response)
    assert 'cannot overwrite directory "/dest/keep"' in str(info.value)
    assert api.diff(box) == before


def test_dot_member_leaves_the_destination_alone(api: docker.APIClient, box: str) -> None:
    _, stat_before = api.get_archive(box, "/dest")
    assert api.put_archive(box, "/dest", tar((".", "dir", 0o700), ("./dotted", "file", b"d\n")))
    _, stat_after = api.get_archive(box, "/dest")
    assert stat_after["mode"] == stat_before["mode"]
    assert read(api, box, "/dest/dotted") == b"d\n"


def test_testcontainers_copy_into_container(api: docker.APIClient, box: str,
                                            tmp_path: Path) -> None:
    # testcontainers' copy_into_container: a local directory added under an absolute
    # arcname (tarfile strips its "/"), a file as an absolute TarInfo name, both put at "/".
    local = tmp_path / "fixtures"
    (local / "nested").mkdir(parents=True)
    (local / "nested" / "data.json").write_text('{"a": 1}\n')
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as archive:
        archive.add(str(local), arcname="/opt/tc/fixtures")
        info = tarfile.TarInfo("/opt/tc/single.txt")
        info.size = 4
        archive.addfile(info, io.BytesIO(b"one\n"))
    assert api.put_archive(box, "/", buf.getvalue())
    assert read(api, box, "/opt/tc/fixtures/nested/data.json") == b'{"a": 1}\n'
    assert read(api, box, "/opt/tc/single.txt") == b"one\n"


def test_a_body_of_many_chunks(api: docker.APIClient, box: str) -> None:
    # The request body arrives in chunks much smaller than the archive's members.
    payload = bytes(range(256)) * (12 * 1024)  # 3 MiB
    data = tar(("big", "dir", 0o755), ("big/blob", "file", payload), ("big/after", "file", b"a"))
    assert api.put_archive(box, "/dest", data)
    assert read(api, box, "/dest/big/blob") == payload
    assert read(api, box, "/dest/big/after") == b"a"
