"""``docker build`` (the classic builder, ``DOCKER_BUILDKIT=0``) and docker-py's
``images.build()`` against minked: real Dockerfiles, the images run afterwards, the cache,
and the errors of bad input, with the previous image under a tag left alone on failure.
One test builds the same Dockerfile on a real Docker daemon and compares the results."""

from __future__ import annotations

import http.server
import io
import json
import os
import subprocess
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import Daemon, unique
from tests.support.cli import DOCKER, needs_docker_cli

pytestmark = [pytest.mark.compat, pytest.mark.integration, needs_docker_cli]



def docker(host_env: dict[str, str], *args: str, check: bool = True, cwd: Path | None = None,
           timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**host_env, "DOCKER_BUILDKIT": "0"}
    proc = subprocess.run([DOCKER, *args], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=cwd)
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} → {proc.returncode}: {proc.stderr}")
    return proc


def context(tmp: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp


@pytest.fixture
def env(minke_daemon: Daemon, busybox_image: str) -> dict[str, str]:
    return minke_daemon.env()


def run(env: dict[str, str], image: str, *cmd: str) -> str:
    return docker(env, "run", "--rm", image, *cmd).stdout


def test_multistage_args_user_workdir(env: dict[str, str], tmp_path: Path) -> None:
    tag = unique("ms") + ":1"
    ctx = context(tmp_path, {
        "Dockerfile": """\
ARG BASE=busybox
FROM ${BASE} AS build
ARG VERSION=1.0
ARG FROMGLOBAL
RUN echo "v=$VERSION g=${FROMGLOBAL:-unset}" > /version
WORKDIR /app
COPY src/ ./src/
RUN ls src > listing && echo app:x:1000:1000::/home/app:/bin/sh >> /etc/passwd \\
 && echo app:x:1000: >> /etc/group

FROM $BASE
COPY --from=build /version /app/listing /out/
COPY --from=build /etc/passwd /etc/group /etc/
USER app
WORKDIR /home/app
RUN id -un > /tmp/whoami && pwd > /tmp/where
LABEL org.example.version=$VERSION
EXPOSE 8080/tcp 53/udp
ENV GREETING="hello world"
CMD ["sh", "-c", "cat /out/version; cat /tmp/whoami /tmp/where; echo $GREETING"]
""",
        "src/a.txt": "a", "src/b.txt": "b",
    })
    proc = docker(env, "build", "--build-arg", "VERSION=2.5", "-t", tag, str(ctx))
    assert "Step 2/18 : FROM ${BASE} AS build" in proc.stdout
    assert "Successfully tagged " + tag in proc.stdout
    assert run(env, tag) == "v=2.5 g=unset\napp\n/home/app\nhello world\n"
    assert run(env, tag, "cat", "/out/listing") == "a.txt\nb.txt\n"
    config = json.loads(docker(env, "image", "inspect", tag).stdout)[0]["Config"]
    assert config["User"] == "app" and config["WorkingDir"] == "/home/app"
    # ARG VERSION is not declared in the second stage: the label sees it empty.
    assert config["Labels"] == {"org.example.version": ""}
    assert set(config["ExposedPorts"]) == {"8080/tcp", "53/udp"}
    assert "GREETING=hello world" in config["Env"]
    history = docker(env, "history", "--no-trunc", "--format", "{{.CreatedBy}}", tag).stdout
    assert "/bin/sh -c #(nop)  USER app" in history
    assert "|1 VERSION=2.5 /bin/sh -c echo" not in history  # build stage is not in history


def test_onbuild_triggers(env: dict[str, str], tmp_path: Path) -> None:
    base, child = unique("onb") + ":base", unique("onb") + ":child"
    (tmp_path / "b").mkdir()
    context(tmp_path / "b", {"Dockerfile": "FROM busybox\nONBUILD COPY marker /marker\n"
                                           "ONBUILD RUN echo triggered >> /marker\n"})
    docker(env, "build", "-t", base, str(tmp_path / "b"))
    (tmp_path / "c").mkdir()
    context(tmp_path / "c", {"Dockerfile": f"FROM {base}\nCMD [\"cat\", \"/marker\"]\n",
                             "marker": "from context\n"})
    proc = docker(env, "build", "-t", child, str(tmp_path / "c"))
    assert "# Executing 2 build triggers" in proc.stdout
    assert run(env, child) == "from context\ntriggered\n"
    onbuild = json.loads(docker(env, "image", "inspect", child).stdout)[0]["Config"]["OnBuild"]
    assert not onbuild  # triggers run once, they are not inherited further


def test_dockerignore_exceptions(env: dict[str, str], tmp_path: Path) -> None:
    tag = unique("ign") + ":1"
    ctx = context(tmp_path, {
        "Dockerfile": "FROM busybox\nCOPY . /ctx/\nRUN cd /ctx && find . -type f | sort\n",
        ".dockerignore": "*.md\n!README.md\n**/*.log\nsecret\n",
        "README.md": "r", "NOTES.md": "n", "keep.txt": "k", "logs/x.log": "l",
        "deep/er/y.log": "l", "secret/key": "s",
    })
    proc = docker(env, "build", "-t", tag, str(ctx))
    listing = run(env, tag, "sh", "-c", "cd /ctx && find . -type f | sort")
    assert listing.split() == ["./.dockerignore", "./Dockerfile", "./README.md", "./keep.txt"]
    assert "NOTES.md" not in proc.stdout


def test_heredocs(env: dict[str, str], tmp_path: Path) -> None:
    tag = unique("hd") + ":1"
    ctx = context(tmp_path, {"Dockerfile": """\
FROM busybox
ARG WHO=heredoc
RUN <<EOF
echo "first $WHO" > /one
echo second >> /one
EOF
COPY <<CONF /etc/app.conf
name=$WHO
CONF
COPY <<'RAW' /raw
keep $WHO
RAW
RUN cat <<-END > /two
	tab stripped
	END
"""})
    docker(env, "build", "-t", tag, str(ctx))
    assert run(env, tag, "cat", "/one", "/etc/app.conf", "/raw", "/two") == (
        "first heredoc\nsecond\nname=heredoc\nkeep $WHO\ntab stripped\n"
    )


def test_failing_run_reports_code_and_tags_nothing(env: dict[str, str], tmp_path: Path) -> None:
    tag = unique("fail") + ":1"
    good = context(tmp_path / "good", {"Dockerfile": "FROM busybox\nRUN echo good > /v\n"})
    docker(env, "build", "-t", tag, str(good))
    before = json.loads(docker(env, "image", "inspect", tag).stdout)[0]["Id"]
    bad = context(tmp_path / "bad", {"Dockerfile": "FROM busybox\nRUN echo going\nRUN exit 3\n"})
    proc = docker(env, "build", "-t", tag, str(bad), check=False)
    assert proc.returncode != 0
    assert "The command '/bin/sh -c exit 3' returned a non-zero code: 3" in proc.stderr
    assert json.loads(docker(env, "image", "inspect", tag).stdout)[0]["Id"] == before
    leftovers = docker(env, "ps", "-a", "--format", "{{.Command}}").stdout
    assert "exit 3" not in leftovers


@pytest.mark.parametrize(("dockerfile", "files", "expected"), [
    ("FROM busybox\nFROOB x\n", {}, "dockerfile parse error line 2: unknown instruction: FROOB"),
    ("FROM busybox\nCOPY --frob=1 a /\n", {"a": "a"}, "line 2: Unknown flag: frob"),
    ("FROM busybox\nCOPY ../x /x\n", {},
     "forbidden path outside the build context: ../x ()"),
    ("FROM minke-no-such-image:9\n", {}, "minke-no-such-image"),
    ("FROM busybox AS a\nCOPY --from=b /x /x\nFROM busybox AS b\n", {},
     "line 2: circular dependency detected on stage: b"),
    ("FROM busybox\nCOPY Dockerfile /\n", {".dockerignore": "Dockerfile\n"},
     "file not found in build context or excluded by .dockerignore: stat Dockerfile"),
    ("FROM busybox\nCOPY nope.txt /\n", {},
     "file not found in build context or excluded by .dockerignore: stat nope.txt"),
])
def test_bad_input(env: dict[str, str], tmp_path: Path, dockerfile: str,
                   files: dict[str, str], expected: str) -> None:
    tag = unique("bad") + ":1"
    ok = context(tmp_path / "ok", {"Dockerfile": "FROM busybox\nLABEL ok=1\n"})
    docker(env, "build", "-t", tag, str(ok))
    before = json.loads(docker(env, "image", "inspect", tag).stdout)[0]["Id"]
    ctx = context(tmp_path / "ctx", {"Dockerfile": dockerfile, **files})
    proc = docker(env, "build", "-t", tag, str(ctx), check=False)
    assert proc.returncode != 0
    assert expected in proc.stderr, proc.stderr
    assert json.loads(docker(env, "image", "inspect", tag).stdout)[0]["Id"] == before


def test_cache_reuse_and_partial_rebuild(env: dict[str, str], tmp_path: Path) -> None:
    tag = unique("cache") + ":1"
    files = {f"f{i:03}.txt": f"{i}\n" for i in range(20)}
    ctx = context(tmp_path, {"Dockerfile": "FROM busybox\nRUN echo one > /one\n"
                                           "COPY . /data/\nRUN cat /data/f007.txt > /seven\n",
                             **files})
    first = docker(env, "build", "-t", tag, str(ctx)).stdout
    assert "Using cache" not in first
    second = docker(env, "build", "-t", tag, str(ctx)).stdout
    assert second.count("Using cache") == 3
    (ctx / "f007.txt").write_text("changed\n")
    third = docker(env, "build", "-t", tag, str(ctx)).stdout
    assert third.count("Using cache") == 1  # the RUN before COPY only
    assert run(env, tag, "cat", "/seven") == "changed\n"
    fourth = docker(env, "build", "--no-cache", "-t", tag, str(ctx)).stdout
    assert "Using cache" not in fourth


def test_add_archive_url_chown_chmod(env: dict[str, str], tmp_path: Path) -> None:
    tag = unique("add") + ":1"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        data = b"inside the archive\n"
        info = tarfile.TarInfo("pkg/readme")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    (tmp_path / "pkg.tar.gz").write_bytes(buf.getvalue())
    served = tmp_path / "www"
    served.mkdir()
    (served / "remote.txt").write_text("over http\n")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):  # type: ignore[no-untyped-def]
            super().__init__(*a, directory=str(served), **k)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        context(tmp_path, {"Dockerfile": f"""\
FROM busybox
ADD pkg.tar.gz /opt/
ADD http://127.0.0.1:{port}/remote.txt /dl/
COPY --chown=nobody:nogroup --chmod=750 script.sh /usr/local/bin/
RUN stat -c '%U:%G %a' /usr/local/bin/script.sh > /meta && stat -c '%a' /dl/remote.txt >> /meta
""", "script.sh": "#!/bin/sh\necho hi\n"})
        docker(env, "build", "--network=host", "-t", tag, str(tmp_path))
    finally:
        server.shutdown()
    assert run(env, tag, "cat", "/opt/pkg/readme", "/dl/remote.txt", "/meta") == (
        "inside the archive\nover http\nnobody:nogroup 750\n600\n"
    )


def test_options_target_label_file_iid_quiet(env: dict[str, str], tmp_path: Path) -> None:
    tag = unique("opt")
    context(tmp_path, {"build.Dockerfile": "FROM busybox AS one\nRUN echo one > /s\n"
                                           "FROM busybox AS two\nRUN echo two > /s\n"})
    iid = tmp_path / "iid"
    docker(env, "build", "-f", str(tmp_path / "build.Dockerfile"), "--target", "one",
           "--label", "a=b", "-t", tag + ":x", "-t", tag + ":y", "--iidfile", str(iid),
           str(tmp_path))
    image_id = iid.read_text().strip()
    assert run(env, image_id, "cat", "/s") == "one\n"
    inspect = json.loads(docker(env, "image", "inspect", tag + ":y").stdout)[0]
    assert inspect["Id"] == image_id and inspect["Config"]["Labels"] == {"a": "b"}
    quiet = docker(env, "build", "-q", "-f", str(tmp_path / "build.Dockerfile"),
                   str(tmp_path)).stdout.strip()
    assert quiet.startswith("sha256:") and "Step" not in quiet


def test_run_mount_cache_and_network_none(env: dict[str, str], tmp_path: Path) -> None:
    tag = unique("mnt") + ":1"
    marker = unique("m")
    context(tmp_path, {"Dockerfile": f"""\
FROM busybox
RUN --mount=type=cache,target=/cache echo {marker} >> /cache/log
RUN --mount=type=cache,target=/cache --network=none cat /cache/log > /seen && ip link > /links
"""})
    docker(env, "build", "-t", tag, str(tmp_path))
    assert marker in run(env, tag, "cat", "/seen")
    assert "eth0" not in run(env, tag, "cat", "/links")


def test_docker_py_images_build(minke_daemon: Daemon, busybox_image: str,
                                tmp_path: Path) -> None:
    import docker as dockerpy

    client = dockerpy.DockerClient(base_url=minke_daemon.host, version="auto")
    try:
        context(tmp_path, {"Dockerfile": "FROM busybox\nARG X=1\nRUN echo built $X > /b\n"
                                         "CMD [\"cat\", \"/b\"]\n"})
        tag = unique("py") + ":1"
        image, logs = client.images.build(path=str(tmp_path), tag=tag, buildargs={"X": "7"},
                                          rm=True)
        assert any("Successfully built" in (line.get("stream") or "") for line in logs)
        assert client.containers.run(image.id, remove=True) == b"built 7\n"
        with pytest.raises(dockerpy.errors.BuildError) as info:
            client.images.build(fileobj=io.BytesIO(b"FROM busybox\nRUN exit 5\n"))
        assert "returned a non-zero code: 5" in str(info.value)
    finally:
        client.close()


@pytest.fixture
def real_env(real_docker: str, busybox_tar: Path, minke_daemon: Daemon,
             busybox_image: str) -> Iterator[tuple[dict[str, str], dict[str, str], str]]:
    """The same base image, under one unique name, in Docker and in minke."""
    base = unique("mkbase") + ":1"
    docker_env = {**os.environ, "DOCKER_HOST": real_docker}
    for e in (docker_env, minke_daemon.env()):
        with busybox_tar.open("rb") as f:
            subprocess.run([DOCKER, "import", "-c", 'CMD ["sh"]', "-", base], env=e, stdin=f,
                           check=True, capture_output=True, timeout=120)
    yield docker_env, minke_daemon.env(), base
    subprocess.run([DOCKER, "rmi", "-f", base], env=docker_env, capture_output=True)


def test_same_result_as_docker(real_env: tuple[dict[str, str], dict[str, str], str],
                               tmp_path: Path) -> None:
    docker_env, minke_env, base = real_env
    tag = unique("same") + ":1"
    context(tmp_path, {"Dockerfile": f"""\
FROM {base}
ARG A=1
ENV PATH=/opt/bin:$PATH B="two words"
WORKDIR rel/dir
COPY files/ /opt/bin/
RUN chmod +x /opt/bin/* && echo "$A $B" > /result && rm /etc/group
USER nobody
EXPOSE 80
HEALTHCHECK --interval=5s CMD true
STOPSIGNAL SIGTERM
ENTRYPOINT ["hello"]
""", "files/hello": "#!/bin/sh\necho hello \"$@\"; cat /result; ls /etc/group 2>&1 || true\n"})
    results = []
    for e in (docker_env, minke_env):
        try:
            docker(e, "build", "-t", tag, str(tmp_path))
            out = docker(e, "run", "--rm", tag, "x").stdout
            config = json.loads(docker(e, "image", "inspect", tag).stdout)[0]["Config"]
            history = docker(e, "history", "--no-trunc", "--format", "{{.CreatedBy}}",
                             tag).stdout.splitlines()
            results.append((out, config, history))
        finally:
            subprocess.run([DOCKER, "rmi", "-f", tag], env=e, capture_output=True)
    (d_out, d_cfg, d_hist), (m_out, m_cfg, m_hist) = results
    assert m_out == d_out
    for key in ("Env", "Cmd", "Entrypoint", "WorkingDir", "User", "ExposedPorts",
                "Healthcheck", "StopSignal", "Labels"):
        assert m_cfg.get(key) == d_cfg.get(key), key
    # Same steps in the history, the COPY checksum aside (dockerd's tarsum).
    strip = [h.split(" file:")[0].split(" dir:")[0] for h in d_hist]
    assert [h.split(" file:")[0].split(" dir:")[0] for h in m_hist] == strip
