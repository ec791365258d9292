"""Compose with networks and volumes: service-name DNS across replicas, named volumes,
published ports, and ``down -v`` leaving nothing of the project behind."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration

APP = """
services:
  web:
    image: busybox
    command: ["sh", "-c", "echo hello > /www/index.html; httpd -f -p 80 -h /www"]
    tmpfs: [/www]
    stop_grace_period: 1s
  client:
    image: busybox
    command: sleep 300
    stop_grace_period: 1s
    volumes: [state:/state]
volumes:
  state: {}
"""


def test_scale_reachable_by_service_name(project, needs_networks) -> None:  # noqa: ANN001
    project.write(APP)
    project.run("up", "-d", "--scale", "web=3")
    client = project.docker()
    ips = set()
    for n in (1, 2, 3):
        info = client.inspect_container(f"{project.name}-web-{n}")
        nets = info["NetworkSettings"]["Networks"]
        assert list(nets) == [f"{project.name}_default"]
        ips.add(nets[f"{project.name}_default"]["IPAddress"])
    assert len(ips) == 3
    out = project.run("exec", "-T", "client", "sh", "-c",
                      "for i in 1 2 3 4 5 6; do nslookup web 2>/dev/null; done; "
                      "wget -q -O- http://web/").stdout
    assert "hello" in out
    assert ips & set(out.split())


def test_named_volume_keeps_state_and_down_v_removes_all(project, needs_networks
                                                         ) -> None:  # noqa: ANN001
    project.write(APP)
    project.run("up", "-d")
    project.run("exec", "-T", "client", "sh", "-c", "echo kept > /state/f")
    project.run("up", "-d", "--force-recreate", "client")
    assert project.run("exec", "-T", "client", "cat", "/state/f").stdout.strip() == "kept"
    project.run("down", "-v", "-t", "0")
    client = project.docker()
    label = f"com.docker.compose.project={project.name}"
    assert client.containers(all=True, filters={"label": label}) == []
    assert [n for n in client.networks() if n["Name"].startswith(project.name + "_")] == []
    assert [v for v in client.volumes().get("Volumes") or []
            if v["Name"].startswith(project.name + "_")] == []
