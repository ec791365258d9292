"""Swarm task recovery: the container of a one-replica busybox ``httpd`` service is killed
(``POST /containers/{id}/kill``, SIGKILL: a crash), and the clock runs until a new task
of the service runs and its container answers HTTP on its address. minke vs Docker's swarm
mode, both with ``--restart-delay 0`` (Docker's default delay is 5 s), same docker-py
client and the same probe (``curl`` to the container's IP on the default bridge; for the
docker-anchor's daemon, from inside its network namespace through ``nsenter``).
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import docker
from common import Target, compare, import_busybox, parse_repeat, report, summary

POLL = 0.02  # s between looks at the tasks while waiting
SERVICE = "recover"


def netns_prefix(target: Target) -> list[str]:
    """How to reach ``target``'s container addresses: directly for minke; in the daemon's
    network namespace for a docker-anchor daemon (its pidfile sits beside its socket)."""
    pidfile = Path(target.host.removeprefix("unix://")).parent / "dockerd.pid"
    if target.daemon is None and pidfile.exists():
        return ["nsenter", "-t", pidfile.read_text().strip(), "-n"]
    return []


def answers(prefix: list[str], ip: str) -> bool:
    probe = subprocess.run([*prefix, "curl", "-s", "-o", "/dev/null", "-m", "0.2",
                            "-w", "%{http_code}", f"http://{ip}:8080/"],
                           capture_output=True, text=True, check=False)
    return probe.stdout.strip() not in ("", "000")


def serving(api: docker.APIClient, prefix: list[str], old: set[str]) -> str | None:
    """The ID of a running task not in ``old`` whose container answers, if there is one."""
    for task in api.tasks(filters={"service": SERVICE, "desired-state": "running"}):
        if task["ID"] in old or task["Status"]["State"] != "running":
            continue
        cid = task["Status"]["ContainerStatus"]["ContainerID"]
        networks = api.inspect_container(cid)["NetworkSettings"]["Networks"]
        ip = next((n["IPAddress"] for n in networks.values() if n.get("IPAddress")), "")
        if ip and answers(prefix, ip):
            return str(task["ID"])
    return None


def wait_serving(api: docker.APIClient, prefix: list[str], old: set[str],
                 timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while (task := serving(api, prefix, old)) is None:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{SERVICE}: no new task answering after {timeout} s")
        time.sleep(POLL)
    return task


def one_crash(api: docker.APIClient, prefix: list[str], seen: list[str]) -> float:
    """Kill the container of the last task in ``seen``: the time until its replacement
    answers (which then joins ``seen``)."""
    task = api.inspect_task(seen[-1])
    time.sleep(0.3)  # running a moment, as a crash would find it
    start = time.perf_counter()
    api.kill(task["Status"]["ContainerStatus"]["ContainerID"])
    new = wait_serving(api, prefix, set(seen))
    took = time.perf_counter() - start
    seen.append(new)
    return took


def measure(target: Target, repeat: int) -> dict[str, object]:
    api = docker.APIClient(base_url=target.host, version="1.41", timeout=120)
    prefix = netns_prefix(target)
    target.docker("swarm", "leave", "--force", check=False)
    target.docker("swarm", "init", "--advertise-addr", "127.0.0.1")
    try:
        image = import_busybox(target)
        target.docker("service", "create", "-d", "--no-resolve-image", "--name", SERVICE,
                      "--restart-delay", "0s", "--restart-max-attempts", "0",
                      "--stop-grace-period", "1s", image, "httpd", "-f", "-p", "8080",
                      "-h", "/")
        seen = [wait_serving(api, prefix, set())]
        one_crash(api, prefix, seen)  # warm-up
        times = [one_crash(api, prefix, seen) for _ in range(repeat)]
        return summary(times)
    finally:
        target.docker("service", "rm", SERVICE, check=False)
        target.docker("swarm", "leave", "--force", check=False)
        api.close()


def main() -> None:
    repeat = parse_repeat(10)
    report("swarm_recovery", compare(lambda target: measure(target, repeat),
                                     ratios={"ratio_minke_over_docker": ("median_s",)}))


if __name__ == "__main__":
    main()
