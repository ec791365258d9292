"""TCP throughput container-to-container (same network) and through a published port
(client container → host address:port → DNAT → server container), minke vs Docker.

Each transfer is 1000 MiB from /dev/zero through busybox nc; the figure is MB/s as the
client measures it. Goal (issue 4): at least Docker's, and the published port within 10 %
of container-to-container (kernel NAT, no user-space proxy).
"""

from __future__ import annotations

import json
import statistics
import time

from common import Target, compare, import_busybox, parse_repeat, report

MIB = 1000
PORT = 5001


def _client(target: Target, ref: str, address: str, port: int) -> float:
    """MB/s of one transfer from a new client container to ``address:port``."""
    # /proc/uptime (10 ms steps): the image's date has no %N.
    script = (f"read s _ < /proc/uptime; dd if=/dev/zero bs=65536 count={MIB * 16} 2>/dev/null "
              f"| nc {address} {port}; read e _ < /proc/uptime; echo $s $e")
    start, end = map(float, target.docker("run", "--rm", ref, "sh", "-c", script)
                     .stdout.decode().split()[-2:])
    return MIB * 1.048576 / (end - start)


def measure(target: Target, repeat: int) -> dict[str, object]:
    ref = import_busybox(target)
    name = "bench-tput-server"
    target.docker("rm", "-f", name, check=False)
    # A persistent busybox nc server (-ll) handing each connection to dd, which discards it.
    target.docker("run", "-d", "--name", name, "-p", f"{PORT + 1}:{PORT}", ref, "nc", "-ll",
                  "-p", str(PORT), "-e", "dd", "of=/dev/null", "bs=65536")
    try:
        time.sleep(1)  # the server's nc listens once its container ran its first command
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
    repeat = parse_repeat(3)
    report("network_throughput", compare(lambda target: measure(target, repeat)))


if __name__ == "__main__":
    main()
