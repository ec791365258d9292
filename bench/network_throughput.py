"""TCP throughput container-to-container (same network) and through a published port
(client container → host address:port → DNAT → server container), minke vs Docker.

Each transfer is 512 MiB from /dev/zero through busybox nc; the figure is MB/s as the
client measures it. Goal (issue 4): at least Docker's, and the published port within 10 %
of container-to-container (kernel NAT, no user-space proxy).
"""

from __future__ import annotations

import argparse
import json
import statistics

from common import Target, docker_target, import_busybox, minke_target, report

MIB = 512
PORT = 5001


def _client(target: Target, ref: str, address: str, port: int) -> float:
    """MB/s of one transfer from a new client container to ``address:port``."""
    script = (f"s=$(date +%s%N); dd if=/dev/zero bs=1048576 count={MIB} 2>/dev/null | "
              f"nc {address} {port}; e=$(date +%s%N); echo $((e - s))")
    out = target.docker("run", "--rm", ref, "sh", "-c", script).stdout.decode()
    return MIB * 1.048576 / (int(out.split()[-1]) / 1e9)


def measure(target: Target, repeat: int) -> dict[str, object]:
    ref = import_busybox(target)
    name = "bench-tput-server"
    target.docker("rm", "-f", name, check=False)
    target.docker("run", "-d", "--name", name, "-p", f"{PORT + 1}:{PORT}", ref, "sh", "-c",
                  f"while true; do nc -l -p {PORT} > /dev/null; done")
    try:
        settings = json.loads(target.docker("inspect", name).stdout)[0]["NetworkSettings"]
        direct = [_client(target, ref, settings["IPAddress"], PORT) for _ in range(repeat)]
        # Through the published port at the bridge's gateway, a host address the client
        # reaches (DNAT in the kernel, then forwarded back into the bridge).
        published = [_client(target, ref, settings["Gateway"], PORT + 1)
                     for _ in range(repeat)]
    finally:
        target.docker("rm", "-f", name, check=False)
    return {"container_to_container_MBps": round(statistics.median(direct), 1),
            "published_port_MBps": round(statistics.median(published), 1),
            "published_over_direct": round(statistics.median(published)
                                           / statistics.median(direct), 3)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", "--repeat", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, object] = {}
    with minke_target() as (minke, _):
        results["minke"] = measure(minke, args.repeat)
    docker = docker_target()
    if docker:
        results["docker"] = measure(docker, args.repeat)
    else:
        results["docker"] = "no Docker daemon answered"
    report("network_throughput", results)


if __name__ == "__main__":
    main()
