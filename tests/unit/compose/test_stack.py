"""Compose projects converted to swarm stacks (``minke.compose.stack``) as the docker CLI's
``stack deploy`` converts them: names, namespace labels, every ``deploy:`` key, networks,
secrets and configs, the warnings for keys a swarm ignores, and errors naming the service."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from minke.compose.errors import ComposeFileError
from minke.compose.loader import ProjectOptions, load
from minke.compose.model import Project
from minke.compose.stack import IMAGE, NAMESPACE, Stack, convert

FULL = """
services:
  web:
    image: busybox
    entrypoint: ["httpd"]
    command: ["-f", "-p", "80"]
    environment: {B: "2", A: "1"}
    ports: ["8080:80", {target: 9000, published: 9000, mode: host}]
    healthcheck: {test: ["CMD", "true"], interval: 5s, retries: 2}
    build: .
    privileged: true
    labels: {c: d}
    stop_grace_period: 3s
    volumes: [data:/data, ./site:/site:ro, {type: tmpfs, target: /scratch}]
    secrets: [s1]
    configs: [{source: c1, target: /etc/c1}]
    networks: {back: {aliases: [www]}}
    deploy:
      replicas: 2
      endpoint_mode: dnsrr
      labels: {a: b}
      placement:
        constraints: [node.role == manager]
        preferences: [{spread: node.labels.zone}]
        max_replicas_per_node: 2
      resources:
        limits: {cpus: "0.5", memory: 64M, pids: 100}
        reservations: {cpus: "0.25", memory: 16M}
      restart_policy: {condition: on-failure, delay: 1s, max_attempts: 3, window: 10s}
      update_config: {parallelism: 2, delay: 1s, order: start-first, failure_action: rollback,
                      monitor: 2s, max_failure_ratio: 0.5}
      rollback_config: {parallelism: 0}
  job:
    image: busybox
    restart: "no"
    deploy: {mode: replicated-job, replicas: 3}
  agent:
    image: busybox
    deploy: {mode: global-job}
volumes:
  data: {labels: {v: w}}
networks:
  back: {attachable: true, labels: {n: m}}
  unused: {}
secrets:
  s1: {file: ./s1.txt}
configs:
  c1: {file: ./c1.txt}
"""


def stack_of(tmp_path: Path, text: str, name: str = "demo") -> Stack:
    (tmp_path / "compose.yaml").write_text(text)
    (tmp_path / "s1.txt").write_text("secret")
    (tmp_path / "c1.txt").write_text("config")
    loaded = load(ProjectOptions(cwd=str(tmp_path), project_name=name, environ={}))
    return convert(Project(name, loaded.model, loaded.working_dir))


def test_full_project(tmp_path: Path) -> None:
    stack = stack_of(tmp_path, FULL)
    assert stack.warnings == ["Ignoring unsupported options: build, privileged, restart"]
    assert sorted(stack.services) == ["demo_agent", "demo_job", "demo_web"]
    web = stack.services["demo_web"]
    assert web["Name"] == "demo_web"
    assert web["Labels"] == {"a": "b", NAMESPACE: "demo", IMAGE: "busybox"}
    assert web["Mode"] == {"Replicated": {"Replicas": 2}}
    container = web["TaskTemplate"]["ContainerSpec"]
    assert container["Labels"] == {"c": "d", NAMESPACE: "demo"}
    assert container["Command"] == ["httpd"] and container["Args"] == ["-f", "-p", "80"]
    assert container["Env"] == ["A=1", "B=2"]
    assert container["StopGracePeriod"] == 3_000_000_000
    assert container["Healthcheck"] == {"Test": ["CMD", "true"], "Interval": 5_000_000_000,
                                        "Retries": 2}
    assert container["Mounts"] == [
        {"Type": "volume", "Target": "/data", "Source": "demo_data",
         "VolumeOptions": {"Labels": {"v": "w", NAMESPACE: "demo"}}},
        {"Type": "bind", "Target": "/site", "ReadOnly": True,
         "Source": str(tmp_path / "site")},
        {"Type": "tmpfs", "Target": "/scratch"}]
    assert container["Secrets"] == [{"SecretName": "demo_s1", "File": {
        "Name": "s1", "UID": "0", "GID": "0", "Mode": 0o444}}]
    assert container["Configs"] == [{"ConfigName": "demo_c1", "File": {
        "Name": "/etc/c1", "UID": "0", "GID": "0", "Mode": 0o444}}]
    template = web["TaskTemplate"]
    assert template["Networks"] == [{"Target": "demo_back", "Aliases": ["web", "www"]}]
    assert template["Placement"] == {
        "Constraints": ["node.role == manager"],
        "Preferences": [{"Spread": {"SpreadDescriptor": "node.labels.zone"}}],
        "MaxReplicas": 2}
    assert template["Resources"] == {
        "Limits": {"NanoCPUs": 500_000_000, "MemoryBytes": 64 << 20, "Pids": 100},
        "Reservations": {"NanoCPUs": 250_000_000, "MemoryBytes": 16 << 20}}
    assert template["RestartPolicy"] == {"Condition": "on-failure", "Delay": 1_000_000_000,
                                         "Window": 10_000_000_000, "MaxAttempts": 3}
    assert web["UpdateConfig"] == {"Parallelism": 2, "Delay": 1_000_000_000,
                                   "Monitor": 2_000_000_000, "FailureAction": "rollback",
                                   "MaxFailureRatio": 0.5, "Order": "start-first"}
    assert web["RollbackConfig"] == {"Parallelism": 0}
    assert web["EndpointSpec"] == {"Mode": "dnsrr", "Ports": [
        {"Protocol": "tcp", "TargetPort": 80, "PublishMode": "ingress", "PublishedPort": 8080},
        {"Protocol": "tcp", "TargetPort": 9000, "PublishMode": "host",
         "PublishedPort": 9000}]}

    job = stack.services["demo_job"]
    assert job["Mode"] == {"ReplicatedJob": {"MaxConcurrent": 3, "TotalCompletions": 3}}
    assert job["TaskTemplate"]["RestartPolicy"] == {"Condition": "none"}  # from restart: no
    assert job["TaskTemplate"]["Networks"] == [
        {"Target": "demo_default", "Aliases": ["job"]}]
    assert stack.services["demo_agent"]["Mode"] == {"GlobalJob": {}}

    # Only the networks services use; the stack's overlay default included.
    assert sorted(stack.networks) == ["demo_back", "demo_default"]
    assert stack.networks["demo_back"] == {
        "Name": "demo_back", "Driver": "overlay", "Labels": {"n": "m", NAMESPACE: "demo"},
        "Attachable": True, "Internal": False, "Options": {}}
    assert stack.secrets["demo_s1"] == {"Name": "demo_s1", "Labels": {NAMESPACE: "demo"},
                                        "Data": base64.b64encode(b"secret").decode()}
    assert stack.configs["demo_c1"]["Data"] == base64.b64encode(b"config").decode()


def test_external_objects_are_looked_up_not_created(tmp_path: Path) -> None:
    stack = stack_of(tmp_path, """
services:
  app:
    image: busybox
    networks: [shared]
    secrets: [key]
networks:
  shared: {external: true, name: corp}
secrets:
  key: {external: true}
""")
    assert stack.networks == {"corp": None}
    assert stack.secrets == {"key": None}
    assert stack.services["demo_app"]["TaskTemplate"]["Networks"] == [
        {"Target": "corp", "Aliases": ["app"]}]


@pytest.mark.parametrize("text, message", [
    ("services:\n  app:\n    build: .\n", "services.app: image is required"),
    ("services:\n  app:\n    image: x\n    deploy: {mode: global, replicas: 2}\n",
     "services.app.deploy.replicas: replicas can only be used with replicated"),
    ("services:\n  app:\n    image: x\n    deploy: {resources: {limits: {memory: lots}}}\n",
     "services.app.deploy.resources.memory: invalid size 'lots'"),
])
def test_what_cannot_be_deployed_is_named(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ComposeFileError, match=message):
        stack_of(tmp_path, text)
