"""docker-py's high-level API (docker.from_env()) against minked."""

from __future__ import annotations

import io
from collections.abc import Iterator

import docker
import pytest
from tests.conftest import Daemon, unique

pytestmark = [pytest.mark.compat, pytest.mark.integration]


@pytest.fixture
def client(minke_daemon: Daemon, monkeypatch: pytest.MonkeyPatch) -> Iterator[docker.DockerClient]:
    monkeypatch.setenv("DOCKER_HOST", minke_daemon.host)
    c = docker.from_env()
    yield c
    c.close()


def test_run_not_detached_returns_output(client: docker.DockerClient, busybox_image: str) -> None:
    assert client.containers.run(busybox_image, ["echo", "hello"], remove=True) == b"hello\n"


def test_run_failure_raises_container_error(client: docker.DockerClient,
                                            busybox_image: str) -> None:
    with pytest.raises(docker.errors.ContainerError) as info:
        client.containers.run(busybox_image, ["sh", "-c", "echo oops >&2; exit 2"])
    assert info.value.exit_status == 2
    assert b"oops" in info.value.stderr
    info.value.container.remove()


def test_detached_logs_stream_exec_wait_remove(client: docker.DockerClient,
                                               busybox_image: str) -> None:
    c = client.containers.run(busybox_image, ["sh", "-c", "for i in 1 2 3; do echo $i; "
                                              "sleep 0.2; done; sleep 30"],
                              detach=True, name=unique(), labels={"k": "v"})
    lines = []
    for chunk in c.logs(stream=True, follow=True):
        lines.append(chunk)
        if b"".join(lines).count(b"\n") >= 3:
            break
    assert b"".join(lines) == b"1\n2\n3\n"
    result = c.exec_run(["sh", "-c", "echo $HOSTNAME; exit 3"])
    assert result.exit_code == 3 and result.output.strip() == c.id[:12].encode()
    c.reload()
    assert c.status == "running" and c.labels == {"k": "v"}
    assert c.name in [x.name for x in client.containers.list(filters={"label": "k=v"})]
    c.kill()
    assert c.wait()["StatusCode"] == 137
    c.remove()
    with pytest.raises(docker.errors.NotFound):
        client.containers.get(c.id)


def test_images_load_save_tag(client: docker.DockerClient, busybox_image: str) -> None:
    image = client.images.get(busybox_image)
    data = b"".join(image.save(named=True))
    tag = unique("py")
    assert image.tag(f"{tag}/img", "one")
    loaded = client.images.load(io.BytesIO(data))
    assert loaded[0].id == image.id
    assert f"{tag}/img:one" in client.images.get(image.id).tags
    client.images.remove(f"{tag}/img:one")
    assert f"{tag}/img:one" not in client.images.get(image.id).tags
