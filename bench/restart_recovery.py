"""Restart-policy recovery time: a ``--restart always`` container's process is killed from
the host (a crash, not a ``docker stop``), and the clock runs until the engine reports it
running again with a new process. minke vs Docker, same docker-py client, a fresh container
per sample (so each measures the first restart, whose backoff is 100 ms on both engines).
"""

from __future__ import annotations

import os
import signal
import time

import docker
from common import Target, compare, import_busybox, parse_repeat, report, summary

POLL = 0.002  # s between inspects while waiting for the restart
SETTLE = 0.3  # s the container runs before its crash


def one_crash(api: docker.APIClient, ref: str) -> float:
    cid = api.create_container(ref, ["sleep", "1000"],
                               host_config=api.create_host_config(
                                   restart_policy={"Name": "always"}))["Id"]
    try:
        api.start(cid)
        time.sleep(SETTLE)
        old = api.inspect_container(cid)["State"]["Pid"]
        start = time.perf_counter()
        os.kill(old, signal.SIGKILL)
        while True:
            state = api.inspect_container(cid)["State"]
            if state["Running"] and state["Pid"] not in (0, old):
                return time.perf_counter() - start
            if time.perf_counter() - start > 30:
                raise RuntimeError("the container did not come back within 30 s")
            time.sleep(POLL)
    finally:
        api.remove_container(cid, force=True)


def measure(target: Target, repeat: int) -> dict[str, float]:
    ref = import_busybox(target)
    api = docker.APIClient(base_url=target.host, version="1.41")
    try:
        one_crash(api, ref)  # warm-up
        return summary([one_crash(api, ref) for _ in range(repeat)])
    finally:
        api.close()


def main() -> None:
    repeat = parse_repeat(10)
    report("restart_recovery", compare(lambda target: measure(target, repeat),
                                       ratios={"ratio_minke_over_docker": ("median_s",)}))


if __name__ == "__main__":
    main()
