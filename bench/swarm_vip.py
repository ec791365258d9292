"""TCP throughput through a swarm service's VIP (client task-side container → VIP → nftables
round robin DNAT → one of 3 tasks) against container-to-container on the same overlay
network (client → one task's address), minke vs Docker (IPVS in Docker's case).

Each transfer is 500 MiB from /dev/zero through busybox nc to a task running ``nc -ll``
into dd; the figure is MB/s as the client measures it. Goal (issue 12): VIP / direct ≥ 0.9.
"""

from __future__ import annotations

import json
import statistics
import time

from common import Target, compare, import_busybox, parse_repeat, report

MIB = 500
PORT = 5001
NET = "bench-vip-net"
SERVICE = "bench-vip"


def _transfer(target: Target, client: str, address: str) -> float:
    """MB/s of one transfer from the client container to ``address:PORT``; RuntimeError when
    not every byte went (dd is cut short when the connection fails: Docker's VIPs need
    IPVS, which some kernels lack)."""
    script = (f"read s _ < /proc/uptime; dd if=/dev/zero bs=65536 count={MIB * 16} "
              f"2>/tmp/dd.err | nc {address} {PORT}; read e _ < /proc/uptime; "
              "echo $(grep -c 'records out' /tmp/dd.err) $s $e")
    out = target.docker("exec", client, "sh", "-c", script).stdout.decode().split()
    complete, start, end = out[-3] != "0", float(out[-2]), float(out[-1])
    if not complete:
        raise RuntimeError(f"the transfer to {address}:{PORT} was cut short")
    return MIB * 1.048576 / (end - start)


def _wait_running(target: Target, n: int) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        listing = target.docker("service", "ls", "--filter", f"name={SERVICE}", "--format",
                                "{{.Replicas}}").stdout.decode().split()
        if listing == [f"{n}/{n}"]:
            return
        time.sleep(0.5)
    raise RuntimeError(f"{SERVICE} did not reach {n} running tasks")


def measure(target: Target, repeat: int) -> dict[str, object]:
    ref = import_busybox(target)
    target.docker("swarm", "leave", "--force", check=False)
    target.docker("swarm", "init", "--advertise-addr", "127.0.0.1")
    client = "bench-vip-client"
    try:
        target.docker("network", "create", "-d", "overlay", "--attachable", NET)
        target.docker("service", "create", "-d", "--name", SERVICE, "--network", NET,
                      "--replicas", "3", ref, "nc", "-ll", "-p", str(PORT), "-e", "dd",
                      "of=/dev/null", "bs=65536")
        _wait_running(target, 3)
        target.docker("run", "-d", "--name", client, "--network", NET, ref, "sleep", "3600")
        time.sleep(1)  # the tasks' nc listen once their containers ran their first command
        vip = json.loads(target.docker("service", "inspect", SERVICE).stdout)[0][
            "Endpoint"]["VirtualIPs"][0]["Addr"].split("/")[0]
        task = target.docker("ps", "-q", "--filter", f"label=com.docker.swarm.service.name="
                             f"{SERVICE}").stdout.decode().split()[0]
        direct_ip = json.loads(target.docker("inspect", task).stdout)[0][
            "NetworkSettings"]["Networks"][NET]["IPAddress"]
        direct = [_transfer(target, client, direct_ip) for _ in range(repeat)]
        try:
            through_vip = [_transfer(target, client, vip) for _ in range(repeat)]
        except RuntimeError as exc:
            return {"direct_MBps": round(statistics.median(direct), 1),
                    "vip_MBps": f"failed: {exc}"}
    finally:
        target.docker("rm", "-f", client, check=False)
        target.docker("service", "rm", SERVICE, check=False)
        target.docker("swarm", "leave", "--force", check=False)
    return {"direct_MBps": round(statistics.median(direct), 1),
            "vip_MBps": round(statistics.median(through_vip), 1),
            "vip_over_direct": round(statistics.median(through_vip)
                                     / statistics.median(direct), 3)}


def main() -> None:
    repeat = parse_repeat(3)
    results = compare(lambda target: measure(target, repeat))
    docker = results.get("docker")
    if isinstance(docker, dict) and isinstance(docker.get("vip_MBps"), float):
        results["vip_MBps_minke_over_docker"] = round(
            results["minke"]["vip_MBps"] / docker["vip_MBps"], 3)  # type: ignore[index]
    report("swarm_vip", results)


if __name__ == "__main__":
    main()
