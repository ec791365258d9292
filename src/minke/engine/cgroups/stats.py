"""``GET /containers/{id}/stats``: samples of a container's cgroup in Docker's JSON shape.

A sample is read on demand (no daemon-wide collector): the container's cgroup directories
come from its init's /proc/<pid>/cgroup, the numbers from ``v1`` or ``v2`` readers, the
host's CPU time from /proc/stat. ``precpu_stats`` is the previous sample of the same
container: streamed documents carry the one read a second before; a one-shot request
reuses a recent sample (so ``docker stats --no-stream`` over many containers costs one
read each) or, without one, reads twice ``PRECPU_WINDOW`` apart, as dockerd primes its
first frame.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from minke.engine.cgroups import v1, v2
from minke.engine.cgroups.hierarchy import CgroupDirs, Hierarchy
from minke.engine.containers.extensions import ContainerExtension
from minke.units import ZERO_TIME, rfc3339

Record = dict[str, Any]
STREAM_INTERVAL = 1.0  # s between streamed documents, as dockerd's collector
PRECPU_WINDOW = 0.5  # s between the two reads of a one-shot request without a recent sample
PRECPU_MAX_AGE = 10.0  # s; an older cached sample would average over too long a time
_NS_PER_TICK = 1_000_000_000 // os.sysconf("SC_CLK_TCK")
BLKIO_KEYS = (
    "io_service_bytes_recursive", "io_serviced_recursive", "io_queue_recursive",
    "io_service_time_recursive", "io_wait_time_recursive", "io_merged_recursive",
    "io_time_recursive", "sectors_recursive",
)


@dataclass(frozen=True)
class Sample:
    taken: float  # time.monotonic() of the read
    read: str  # RFC 3339, Docker's "read"
    cpu_stats: dict[str, Any]
    rest: dict[str, Any]  # memory_stats, pids_stats, blkio_stats (and networks)


def system_cpu_usage() -> int:
    """The host's total CPU time in ns (the first line of /proc/stat), Docker's
    ``system_cpu_usage``: the denominator of every CPU percentage."""
    with open("/proc/stat", encoding="ascii") as f:
        fields = f.readline().split()
    # user nice system idle iowait irq softirq steal (guest time is already in user)
    return sum(int(v) for v in fields[1:9]) * _NS_PER_TICK


def host_memory() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0


def zero_cpu() -> dict[str, Any]:
    return {
        "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
        "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
    }


def empty_document(record: Record) -> dict[str, Any]:
    """What dockerd answers for a container that does not run: Go's zero StatsJSON."""
    blkio = dict.fromkeys(BLKIO_KEYS)
    return {
        "read": ZERO_TIME, "preread": ZERO_TIME, "pids_stats": {}, "blkio_stats": blkio,
        "num_procs": 0, "storage_stats": {}, "cpu_stats": zero_cpu(),
        "precpu_stats": zero_cpu(), "memory_stats": {}, "name": record["Name"],
        "id": record["Id"],
    }


class StatsService(ContainerExtension):
    """Stats documents of one daemon's containers. As a container extension it drops what
    it cached of a container when the container stops or goes.

    ``lookup`` finds a container record by name or id (raising ``NoSuchContainer``);
    ``counters`` gives the interface counters of a process's network namespace
    (``networks``), or is None while minke has no container networks.
    """

    def __init__(
        self, lookup: Callable[[str], Record], *, hierarchy: Hierarchy | None = None,
        counters: Callable[[int], dict[str, dict[str, int]]] | None = None,
    ) -> None:
        self._lookup = lookup
        self._hierarchy = hierarchy or Hierarchy.detect()
        self._counters = counters
        self._host_memory = host_memory()
        self._online_cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
            else (os.cpu_count() or 1)
        self._dirs: dict[tuple[str, int], CgroupDirs] = {}
        self._last: dict[str, Sample] = {}

    async def one_shot(self, ref: str, *, prime: bool = True) -> dict[str, Any]:
        """One document (``stream=0``); ``prime=False`` is Docker's ``one-shot=1``: a single
        read, ``precpu_stats`` empty."""
        record = self._lookup(ref)
        if not record["State"]["Running"]:
            return empty_document(record)
        previous = self._last.get(record["Id"])
        now = time.monotonic()
        if prime and (previous is None or now - previous.taken > PRECPU_MAX_AGE
                      or now - previous.taken < PRECPU_WINDOW / 5):
            previous = await self._sample(record)
            await asyncio.sleep(PRECPU_WINDOW)
        sample = await self._sample(record)
        return self._document(record, sample, previous if prime else None)

    async def stream(self, ref: str) -> AsyncIterator[dict[str, Any]]:
        """A document every ``STREAM_INTERVAL`` (``stream=1``) until the caller stops; a
        container that does not run yields dockerd's empty document each time."""
        record = self._lookup(ref)
        previous: Sample | None = None
        while True:
            record = self._lookup(record["Id"])
            if not record["State"]["Running"]:
                previous = None
                yield empty_document(record)
            else:
                if previous is None:
                    previous = self._fresh(record["Id"])
                sample = await self._sample(record)
                yield self._document(record, sample, previous)
                previous = sample
            await asyncio.sleep(STREAM_INTERVAL)

    async def stopped(self, record: Record) -> None:
        self.forget(record["Id"])

    async def removed(self, record: Record, *, remove_volumes: bool = False) -> None:
        self.forget(record["Id"])

    def forget(self, container_id: str) -> None:
        """Drop cached samples and paths of a container that stopped or went."""
        self._last.pop(container_id, None)
        for key in [k for k in self._dirs if k[0] == container_id]:
            del self._dirs[key]

    def _fresh(self, container_id: str) -> Sample | None:
        previous = self._last.get(container_id)
        if previous is None or time.monotonic() - previous.taken > PRECPU_MAX_AGE:
            return None
        return previous

    async def _sample(self, record: Record) -> Sample:
        sample = await asyncio.to_thread(self._read, record)
        self._last[record["Id"]] = sample
        return sample

    def _read(self, record: Record) -> Sample:
        pid = int(record["State"].get("Pid") or 0)
        key = (record["Id"], pid)
        dirs = self._dirs.get(key)
        if dirs is None:
            dirs = self._hierarchy.dirs_of_pid(pid)
            if dirs.v1 or dirs.v2:
                self.forget(record["Id"])
                self._dirs[key] = dirs
        if dirs.version == 1:
            reading = v1.read(dirs.v1, self._host_memory)
        else:
            reading = v2.read(dirs.v2, self._host_memory)
        system = system_cpu_usage()
        cpu_stats = {
            "cpu_usage": reading.pop("cpu_usage"),
            "system_cpu_usage": system,
            "online_cpus": self._online_cpus,
            "throttling_data": reading.pop("throttling_data"),
        }
        if self._counters is not None and record["HostConfig"].get("NetworkMode") != "host":
            networks = self._counters(pid)
            if networks:
                reading["networks"] = networks
        return Sample(time.monotonic(), rfc3339(ns=time.time_ns()), cpu_stats, reading)

    def _document(
        self, record: Record, sample: Sample, previous: Sample | None
    ) -> dict[str, Any]:
        rest = sample.rest
        doc: dict[str, Any] = {
            "read": sample.read,
            "preread": previous.read if previous else ZERO_TIME,
            "pids_stats": rest["pids_stats"],
            "blkio_stats": rest["blkio_stats"],
            "num_procs": 0,
            "storage_stats": {},
            "cpu_stats": sample.cpu_stats,
            "precpu_stats": previous.cpu_stats if previous else zero_cpu(),
            "memory_stats": rest["memory_stats"],
            "name": record["Name"],
            "id": record["Id"],
        }
        if "networks" in rest:
            doc["networks"] = rest["networks"]
        return doc
