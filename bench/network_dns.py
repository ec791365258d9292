"""DNS lookup latency inside a container on a user-defined network: 200 lookups of another
container's name through the embedded server at 127.0.0.11, minke vs Docker."""

from __future__ import annotations

import argparse
import uuid

from common import Target, compare, import_busybox, report

LOOKUPS = 200


def measure(target: Target) -> dict[str, float]:
    ref = import_busybox(target)
    net, peer = f"bench-dns-{uuid.uuid4().hex[:6]}", f"bench-peer-{uuid.uuid4().hex[:6]}"
    target.docker("network", "create", net)
    try:
        target.docker("run", "-d", "--name", peer, "--network", net, ref, "sleep", "300")
        script = (f"read s _ < /proc/uptime; i=0; while [ $i -lt {LOOKUPS} ]; do "
                  f"nslookup {peer} >/dev/null || exit 1; i=$((i+1)); done; "
                  "read e _ < /proc/uptime; echo $s $e")
        out = target.docker("run", "--rm", "--network", net, ref, "sh", "-c", script)
        start, end = map(float, out.stdout.decode().split()[-2:])
        per_lookup = (end - start) / LOOKUPS
    finally:
        target.docker("rm", "-f", peer, check=False)
        target.docker("network", "rm", net, check=False)
    # busybox nslookup asks A and AAAA and forks once per lookup; the figure includes that.
    return {"per_lookup_ms": round(per_lookup * 1000, 3)}


def main() -> None:
    argparse.ArgumentParser().parse_args()
    report("network_dns", compare(measure,
                                  ratios={"ratio_minke_over_docker": ("per_lookup_ms",)}))


if __name__ == "__main__":
    main()
