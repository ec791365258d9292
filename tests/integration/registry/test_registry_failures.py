"""Failures and bad input during pull, and authentication: a registry killed mid-pull, a
blob whose digest does not match, an unknown tag, wrong credentials,
Docker Hub offline; basic auth with login/logout, the bearer token flow. In every failure
the image previously under the tag is untouched and nothing half-pulled is left.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import tarfile
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import docker as dockerpy
import pytest
from tests.conftest import Daemon, private_daemon, unique
from tests.support.cli import docker

pytestmark = pytest.mark.integration



@pytest.fixture(scope="module")
def puller() -> Iterator[Daemon]:
    with private_daemon("mk-fail-") as daemon:
        yield daemon


def image_id(daemon: Daemon, name: str) -> str | None:
    proc = docker(daemon, "image", "inspect", "--format", "{{.Id}}", name, check=False)
    return proc.stdout.decode().strip() if proc.returncode == 0 else None


def store_files(daemon: Daemon) -> set[str]:
    """Every blob and layer directory of the daemon's image store."""
    image = daemon.data_root / "image"
    blobs = {p.name for p in (image / "content" / "blobs" / "sha256").iterdir()}
    layers = {p.name for p in (image / "overlay2" / "layers").iterdir()}
    return blobs | layers


def _big_image(daemon: Daemon, name: str, size: int, tmp: Path) -> None:
    """An image with one layer of ``size`` random (incompressible) bytes."""
    tar = tmp / "big.tar"
    payload = tmp / "payload"
    payload.write_bytes(random.Random(7).randbytes(size))
    with tarfile.open(tar, "w") as t:
        t.add(payload, arcname="payload")
    docker(daemon, "import", str(tar), name)


def _seed_tag(puller: Daemon, busybox_tar: Path, name: str) -> str:
    """Put an image under ``name`` on the puller first: it must survive the failed pulls."""
    docker(puller, "import", "--change", "ENV SEED=1", str(busybox_tar), name)
    found = image_id(puller, name)
    assert found
    return found


def test_registry_killed_mid_pull_fails_cleanly_and_a_retry_completes(
    minke_daemon: Daemon, registry, puller: Daemon, busybox_tar: Path, tmp_path: Path
) -> None:
    name = f"{registry.host}/{unique('kill')}/big:1"
    _big_image(minke_daemon, name, 96 << 20, tmp_path)
    docker(minke_daemon, "push", name)
    previous = _seed_tag(puller, busybox_tar, name)
    before = store_files(puller)
    client = dockerpy.APIClient(base_url=puller.host, version="auto", timeout=120)
    error = None
    try:
        for msg in client.pull(name, stream=True, decode=True):
            if msg.get("status") == "Downloading" and registry.process is not None:
                registry.stop()  # SIGKILL, by the PID we started it with
            if msg.get("error"):
                error = msg["error"]
    except dockerpy.errors.APIError as exc:
        error = str(exc)
    finally:
        client.close()
        if registry.process is None:
            registry.start()
    assert error and "blob" in error, error
    assert image_id(puller, name) == previous
    assert store_files(puller) == before  # nothing half-pulled stays
    out = docker(puller, "pull", name).stdout.decode()
    assert "Downloaded newer image" in out
    assert image_id(puller, name) == image_id(minke_daemon, name)
    run = docker(puller, "run", "--rm", "--network", "none", "--entrypoint", "", name,
                 "/nothing", check=False)
    assert run.returncode == 127  # the image mounts; it just has no programs


def test_blob_with_wrong_digest_is_refused_and_not_stored(
    minke_daemon: Daemon, registry, puller: Daemon, busybox_tar: Path, tmp_path: Path
) -> None:
    repo = f"{unique('corrupt')}/bb"
    name = f"{registry.host}/{repo}:1"
    _big_image(minke_daemon, name, 1 << 20, tmp_path)  # a layer the puller does not have
    docker(minke_daemon, "push", name)
    manifest = json.loads(urllib.request.urlopen(urllib.request.Request(
        f"http://{registry.host}/v2/{repo}/manifests/1",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"})).read())
    layer = manifest["layers"][0]["digest"].removeprefix("sha256:")
    blob = registry.root / "data/docker/registry/v2/blobs/sha256" / layer[:2] / layer / "data"
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte, same size
    blob.write_bytes(bytes(data))
    previous = _seed_tag(puller, busybox_tar, name)
    before = store_files(puller)
    proc = docker(puller, "pull", name, check=False)
    assert proc.returncode != 0
    assert b"filesystem layer verification failed for digest sha256:" in proc.stderr, \
        proc.stderr
    assert image_id(puller, name) == previous
    assert store_files(puller) == before


def test_unknown_tag_is_404_manifest_unknown(registry, puller: Daemon,
                                             busybox_tar: Path) -> None:
    name = f"{registry.host}/{unique('nope')}/bb:missing"
    previous = _seed_tag(puller, busybox_tar, name)
    client = dockerpy.APIClient(base_url=puller.host, version="auto")
    with pytest.raises(dockerpy.errors.NotFound) as caught:
        client.pull(name)
    client.close()
    assert "manifest unknown" in str(caught.value)
    assert f"manifest for {name} not found" in str(caught.value)
    assert image_id(puller, name) == previous


def test_docker_hub_offline_is_a_clear_network_error(puller: Daemon) -> None:
    proc = docker(puller, "pull", "busybox", check=False)
    assert proc.returncode != 0
    assert b'Get "https://registry-1.docker.io/v2/"' in proc.stderr, proc.stderr


def test_basic_auth_login_push_pull_logout(
    minke_daemon: Daemon, busybox_image: str, auth_registry, puller: Daemon,
    docker_config: Path,
) -> None:
    env = {"DOCKER_CONFIG": str(docker_config)}
    name = f"{auth_registry.host}/{unique('basic')}/bb:1"
    docker(minke_daemon, "tag", busybox_image, name)
    denied = docker(minke_daemon, "push", name, check=False, env=env)
    assert denied.returncode != 0 and b"unauthorized" in denied.stderr, denied.stderr
    wrong = docker(minke_daemon, "login", "-u", "alice", "--password-stdin", auth_registry.host,
                   input=b"wrong\n", check=False, env=env)
    assert wrong.returncode != 0
    assert b"401" in wrong.stderr and b"unauthorized" in wrong.stderr, wrong.stderr
    # The API answers 401 with the registry's message.
    client = dockerpy.APIClient(base_url=minke_daemon.host, version="auto")
    with pytest.raises(dockerpy.errors.APIError) as caught:
        client.login("alice", "wrong", registry=auth_registry.host, reauth=True)
    assert caught.value.status_code == 401
    assert "authentication required" in str(caught.value)
    client.close()
    # minke login stores the credentials docker's way; docker push then uses them.
    login = subprocess.run(["minke", "-H", minke_daemon.host, "login", "-u", "alice",
                            "--password-stdin", auth_registry.host], input=b"s3cret\n",
                           capture_output=True, env={**os.environ, **env}, timeout=60)
    assert login.returncode == 0 and b"Login Succeeded" in login.stdout, login.stderr
    auths = json.loads((docker_config / "config.json").read_text())["auths"]
    assert auth_registry.host in auths
    docker(minke_daemon, "push", name, env=env)
    pull = subprocess.run(["minke", "-H", puller.host, "pull", name], capture_output=True,
                          env={**os.environ, **env}, timeout=120)
    assert pull.returncode == 0, pull.stderr
    assert image_id(puller, name) == image_id(minke_daemon, name)
    logout = subprocess.run(["minke", "logout", auth_registry.host], capture_output=True,
                            env={**os.environ, **env}, timeout=60)
    assert b"Removing login credentials" in logout.stdout
    assert auth_registry.host not in json.loads(
        (docker_config / "config.json").read_text())["auths"]


def test_bearer_token_flow(minke_daemon: Daemon, busybox_image: str, token_registry,
                           puller: Daemon) -> None:
    registry, server = token_registry
    name = f"{registry.host}/{unique('token')}/bb:1"
    docker(minke_daemon, "tag", busybox_image, name)
    client = dockerpy.APIClient(base_url=minke_daemon.host, version="auto")
    try:
        anonymous = list(client.push(name, stream=True, decode=True))
        assert any("unauthorized" in (m.get("error") or "") for m in anonymous), anonymous
        assert client.login("bob", "hunter2", registry=registry.host, reauth=True)[
            "Status"] == "Login Succeeded"
        out = list(client.push(name, stream=True, decode=True,
                               auth_config={"username": "bob", "password": "hunter2"}))
        assert not any(m.get("error") for m in out), out
        assert any(m.get("aux", {}).get("Digest") for m in out)
    finally:
        client.close()
    scopes = {s for r in server.requests for s in r.get("scope", "").split()}
    assert any(s.endswith(":pull,push") for s in scopes), server.requests
    pulling = dockerpy.APIClient(base_url=puller.host, version="auto")
    try:
        pulling.pull(name, auth_config={"username": "bob", "password": "hunter2"})
        with pytest.raises(dockerpy.errors.APIError) as caught:
            pulling.pull(name, auth_config={"username": "bob", "password": "nope"})
        assert caught.value.status_code == 401
        assert "invalid username or password" in str(caught.value)
    finally:
        pulling.close()
    assert image_id(puller, name) == image_id(minke_daemon, name)


def test_parallel_pulls_of_one_image_agree(minke_daemon: Daemon, busybox_image: str,
                                           registry, puller: Daemon) -> None:
    name = f"{registry.host}/{unique('par')}/bb:1"
    docker(minke_daemon, "tag", busybox_image, name)
    docker(minke_daemon, "push", name)
    results: list[int] = []

    def one() -> None:
        results.append(docker(puller, "pull", name, check=False).returncode)

    threads = [threading.Thread(target=one) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [0, 0, 0]
    assert image_id(puller, name) == image_id(minke_daemon, name)
