"""Push and pull against a real registry on loopback: the docker CLI pushing through minked,
a second minked (another data root) pulling it back with the same digests, skopeo agreeing,
an OCI layout pushed by skopeo pulling and running, a multi-arch index, zstd layers.
"""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import docker as dockerpy
import pytest
from tests.conftest import Daemon, private_daemon, unique
from tests.support.cli import docker

pytestmark = pytest.mark.integration



def skopeo(*args: str) -> subprocess.CompletedProcess[bytes]:
    proc = subprocess.run(["skopeo", *args], capture_output=True, timeout=120)
    if proc.returncode != 0:
        raise AssertionError(f"skopeo {' '.join(args)}: {proc.stderr!r}")
    return proc


@pytest.fixture(scope="module")
def second_daemon() -> Iterator[Daemon]:
    with private_daemon("mk-pull-") as daemon:
        yield daemon


def inspect(daemon: Daemon, name: str) -> dict:
    return json.loads(docker(daemon, "image", "inspect", name).stdout)[0]


def registry_manifest(host: str, repo: str, ref: str, accept: str | None = None) -> tuple:
    request = urllib.request.Request(
        f"http://{host}/v2/{repo}/manifests/{ref}",
        headers={"Accept": accept or "application/vnd.docker.distribution.manifest.v2+json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read(), response.headers


def test_docker_cli_push_then_pull_on_another_daemon(
    minke_daemon: Daemon, busybox_image: str, registry, second_daemon: Daemon
) -> None:
    name = f"{registry.host}/{unique('push')}/busybox:v1"
    docker(minke_daemon, "tag", busybox_image, name)
    out = docker(minke_daemon, "push", name).stdout.decode()
    assert "v1: digest: sha256:" in out, out
    digest = out.split("digest: ")[1].split()[0]
    pushed = inspect(minke_daemon, name)
    assert f"{name.rsplit(':', 1)[0]}@{digest}" in pushed["RepoDigests"]

    pulled = docker(second_daemon, "pull", name).stdout.decode()
    assert f"Digest: {digest}" in pulled and "Downloaded newer image" in pulled, pulled
    image = inspect(second_daemon, name)
    assert image["Id"] == pushed["Id"]
    assert image["RootFS"]["Layers"] == pushed["RootFS"]["Layers"]
    assert f"{name.rsplit(':', 1)[0]}@{digest}" in image["RepoDigests"]
    run = docker(second_daemon, "run", "--rm", "--network", "none", name, "echo", "pulled")
    assert run.stdout == b"pulled\n"
    # A second pull finds everything in place.
    again = docker(second_daemon, "pull", name).stdout.decode()
    assert "Image is up to date" in again
    # Pull by digest names the same image.
    by_digest = f"{name.rsplit(':', 1)[0]}@{digest}"
    docker(second_daemon, "pull", by_digest)
    assert inspect(second_daemon, by_digest)["Id"] == pushed["Id"]

    # skopeo reads what minke pushed: the same manifest digest and layers.
    info = json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{name}").stdout)
    assert info["Digest"] == digest
    raw, headers = registry_manifest(registry.host, name.split("/", 1)[1].rsplit(":", 1)[0],
                                     "v1")
    manifest = json.loads(raw)
    assert manifest["config"]["digest"] == pushed["Id"]
    assert info["Layers"] == [la["digest"] for la in manifest["layers"]]
    raw_cfg = skopeo("inspect", "--tls-verify=false", "--config", f"docker://{name}").stdout
    assert json.loads(raw_cfg)["rootfs"]["diff_ids"] == pushed["RootFS"]["Layers"]


def test_pushing_again_skips_layers_and_mounts_across_repos(
    minke_daemon: Daemon, busybox_image: str, registry
) -> None:
    first = f"{registry.host}/{unique('a')}/bb:1"
    second = f"{registry.host}/{unique('b')}/bb:1"
    docker(minke_daemon, "tag", busybox_image, first)
    docker(minke_daemon, "tag", busybox_image, second)
    out1 = docker(minke_daemon, "push", first).stdout.decode()
    again = docker(minke_daemon, "push", first).stdout.decode()
    assert "Layer already exists" in again, again
    mounted = docker(minke_daemon, "push", second).stdout.decode()
    assert "Mounted from" in mounted, mounted
    d1 = out1.split("digest: ")[1].split()[0]
    assert mounted.split("digest: ")[1].split()[0] == d1


def _save_oci(daemon: Daemon, image: str, dest: Path) -> Path:
    """``minke save --format oci`` unpacked into a directory (an OCI layout)."""
    archive = dest.with_suffix(".tar")
    subprocess.run(["minke", "-H", daemon.host, "save", "--format", "oci", "-o", str(archive),
                    image], check=True, capture_output=True, timeout=60)
    dest.mkdir()
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    return dest


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_image_pushed_by_skopeo_from_oci_layout_pulls_and_runs(
    minke_daemon: Daemon, busybox_image: str, registry, second_daemon: Daemon,
    tmp_path: Path, compression: str,
) -> None:
    layout = _save_oci(minke_daemon, busybox_image, tmp_path / "layout")
    assert not (layout / "manifest.json").exists()
    target = f"{registry.host}/{unique('skopeo')}/busybox:{compression}"
    skopeo("copy", "--dest-tls-verify=false", "--dest-compress",
           "--dest-compress-format", compression,
           f"oci:{layout}:latest", f"docker://{target}")
    docker(second_daemon, "pull", target)
    run = docker(second_daemon, "run", "--rm", "--network", "none", target,
                 "sh", "-c", "echo from-$0", "skopeo")
    assert run.stdout == b"from-skopeo\n"
    assert inspect(second_daemon, target)["Id"] == inspect(minke_daemon, busybox_image)["Id"]


def _put(host: str, path: str, data: bytes, content_type: str) -> None:
    request = urllib.request.Request(f"http://{host}{path}", data=data, method="PUT",
                                     headers={"Content-Type": content_type})
    urllib.request.urlopen(request, timeout=10).close()


def test_multi_arch_index_pulls_the_host_platform(
    minke_daemon: Daemon, busybox_image: str, busybox_tar: Path, registry,
    second_daemon: Daemon
) -> None:
    repo = f"{unique('multi')}/img"
    base = f"{registry.host}/{repo}"
    # Two different images in one repository: amd64 (busybox) and an "arm64" one.
    docker(minke_daemon, "tag", busybox_image, f"{base}:amd64")
    docker(minke_daemon, "import", "--change", "ENV FAKE_ARCH=arm64", str(busybox_tar),
           f"{base}:arm64")
    entries = []
    for arch in ("arm64", "amd64"):
        docker(minke_daemon, "push", f"{base}:{arch}")
        raw, headers = registry_manifest(registry.host, repo, arch)
        entries.append({"mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                        "size": len(raw), "digest": headers["Docker-Content-Digest"],
                        "platform": {"architecture": arch, "os": "linux"}})
    index = json.dumps({"schemaVersion": 2, "mediaType":
                        "application/vnd.docker.distribution.manifest.list.v2+json",
                        "manifests": entries}).encode()
    _put(registry.host, f"/v2/{repo}/manifests/multi", index,
         "application/vnd.docker.distribution.manifest.list.v2+json")
    out = docker(second_daemon, "pull", f"{base}:multi").stdout.decode()
    assert "Downloaded newer image" in out
    assert inspect(second_daemon, f"{base}:multi")["Id"] == inspect(
        minke_daemon, busybox_image)["Id"]
    assert inspect(second_daemon, f"{base}:multi")["Architecture"] == "amd64"
    # The index digest is what is recorded, as dockerd records it.
    index_digest = "sha256:" + __import__("hashlib").sha256(index).hexdigest()
    assert f"{base}@{index_digest}" in inspect(second_daemon, f"{base}:multi")["RepoDigests"]
    info = dockerpy.APIClient(base_url=second_daemon.host).inspect_distribution(f"{base}:multi")
    assert info["Descriptor"]["digest"] == index_digest
    assert {"architecture": "amd64", "os": "linux"} in info["Platforms"]
    missing = docker(second_daemon, "pull", "--platform", "linux/s390x", f"{base}:multi",
                     check=False)
    assert missing.returncode != 0
    assert b"no matching manifest for linux/s390x" in missing.stderr


def test_umoci_reads_save_format_oci(
    minke_daemon: Daemon, busybox_image: str, tmp_path: Path
) -> None:
    layout = _save_oci(minke_daemon, busybox_image, tmp_path / "layout")
    bundle = tmp_path / "bundle"
    subprocess.run(["umoci", "unpack", "--image", f"{layout}:latest", str(bundle)],
                   check=True, capture_output=True, timeout=120)
    assert (bundle / "rootfs" / "bin" / "busybox").exists()
    config = json.loads((bundle / "config.json").read_text())
    assert config["process"]["args"] == ["sh"]


def test_minke_loads_a_layout_umoci_wrote(
    minke_daemon: Daemon, busybox_tar: Path, tmp_path: Path
) -> None:
    layout, bundle = tmp_path / "umoci-layout", tmp_path / "bundle"
    def umoci(*args: str) -> None:
        subprocess.run(["umoci", *args], check=True, capture_output=True, timeout=120)

    umoci("init", "--layout", str(layout))
    umoci("new", "--image", f"{layout}:t")
    umoci("unpack", "--image", f"{layout}:t", str(bundle))
    with tarfile.open(busybox_tar) as tar:
        tar.extractall(bundle / "rootfs", filter="tar")
    (bundle / "rootfs" / "umoci-was-here").write_text("yes\n")
    umoci("repack", "--image", f"{layout}:t", str(bundle))  # a gzip layer, OCI media types
    archive = tmp_path / "umoci.tar"
    with tarfile.open(archive, "w") as tar:
        for entry in os.listdir(layout):
            tar.add(layout / entry, arcname=entry)
    out = docker(minke_daemon, "load", "-i", str(archive)).stdout.decode()
    assert out.startswith("Loaded image ID: sha256:"), out
    image = out.split(": ", 1)[1].strip()
    run = docker(minke_daemon, "run", "--rm", "--network", "none", image, "/bin/cat",
                 "/umoci-was-here")
    assert run.stdout == b"yes\n"
    docker(minke_daemon, "rmi", image)
