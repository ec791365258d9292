"""Stats endpoint latency with 50 running containers, minke vs Docker.

Each engine runs 50 idle busybox containers (``--network none``, so the figure is about
stats, not networking). A cold round first (no earlier sample of any container), then
several rounds, a second apart, of:
- all 50 ``GET /containers/{id}/stats?stream=0`` sent at once (as ``docker stats --no-stream``
  sends them), wall time of the round and the median single request;
- ``docker stats --no-stream`` itself, the same docker CLI against each engine.
Both engines answer a one-shot request with a ``precpu_stats`` that needs a second read:
dockerd waits for its next 1 s collector tick(s), minke reuses a recent sample or reads
again 0.5 s later.
"""

from __future__ import annotations

import statistics
import threading
import time

import docker
from common import Target, compare, import_busybox, parse_repeat, report

CONTAINERS = 50


def one_round(host: str, ids: list[str]) -> tuple[float, list[float]]:
    latencies: list[float] = []
    lock = threading.Lock()

    def fetch(cid: str) -> None:
        api = docker.APIClient(base_url=host, version="1.41", timeout=120)
        try:
            start = time.perf_counter()
            doc = api.stats(cid, stream=False)
            elapsed = time.perf_counter() - start
            assert doc["precpu_stats"]["cpu_usage"]["total_usage"] > 0, doc
        finally:
            api.close()
        with lock:
            latencies.append(elapsed)

    threads = [threading.Thread(target=fetch, args=(cid,)) for cid in ids]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start, latencies


def measure(target: Target, rounds: int) -> dict[str, float]:
    ref = import_busybox(target)
    api = docker.APIClient(base_url=target.host, version="1.41", timeout=120)
    ids: list[str] = []
    try:
        for _ in range(CONTAINERS):
            cid = api.create_container(ref, ["sleep", "3600"], host_config=api.
                                       create_host_config(network_mode="none"))["Id"]
            ids.append(cid)
            api.start(cid)
        # Cold: no earlier sample of any container (minke must read each twice).
        cold_wall, cold = one_round(target.host, ids)
        walls, singles, cli = [], [], []
        for _ in range(rounds):
            time.sleep(1)  # a refresh period, as `docker stats` polls
            wall, latencies = one_round(target.host, ids)
            walls.append(wall)
            singles += latencies
            start = time.perf_counter()
            target.docker("stats", "--no-stream", *ids)
            cli.append(time.perf_counter() - start)
        return {"cold_round_of_50_s": cold_wall,
                "cold_single_request_median_s": statistics.median(cold),
                "round_of_50_median_s": statistics.median(walls),
                "single_request_median_s": statistics.median(singles),
                "docker_stats_no_stream_median_s": statistics.median(cli),
                "rounds": rounds, "containers": CONTAINERS}
    finally:
        for cid in ids:
            api.remove_container(cid, force=True)
        api.close()


def main() -> None:
    rounds = parse_repeat(3)
    report("stats_latency", compare(
        lambda target: measure(target, rounds),
        ratios={"ratio_cold_round_of_50": ("cold_round_of_50_s",),
                "ratio_round_of_50": ("round_of_50_median_s",),
                "ratio_single_request": ("single_request_median_s",),
                "ratio_docker_stats_cli": ("docker_stats_no_stream_median_s",)}))


if __name__ == "__main__":
    main()
