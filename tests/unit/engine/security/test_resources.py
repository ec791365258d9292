"""HostConfig resource fields: dockerd's validation texts, its defaults, the OCI
``linux.resources`` runc receives, and ``docker update``'s merge rules."""

from __future__ import annotations

import os

import pytest

from minke.engine.containers.resources import (
    apply_defaults,
    linux_resources,
    merge_update,
    parse_cpuset,
    validate,
)
from minke.errors import Conflict, InvalidParameter

MB = 1024 * 1024
NCPU = os.cpu_count() or 1


@pytest.mark.parametrize(("host", "message"), [
    ({"Memory": 1 * MB}, "Minimum memory limit allowed is 6MB"),
    ({"Memory": 64 * MB, "MemorySwap": 32 * MB}, "Minimum memoryswap limit should be larger"),
    ({"MemorySwap": 64 * MB}, "You should always set the Memory limit"),
    ({"MemoryReservation": MB}, "Minimum memory reservation allowed is 6MB"),
    ({"Memory": 16 * MB, "MemoryReservation": 32 * MB}, "can not be less than memory reserv"),
    ({"MemorySwappiness": 101}, "valid memory swappiness range is 0-100"),
    ({"NanoCpus": -1_000_000_000},
     f"Range of CPUs is from 0.01 to {NCPU}.00, as there are only {NCPU} CPUs available"),
    ({"NanoCpus": (NCPU + 1) * 1_000_000_000}, "Range of CPUs"),
    ({"NanoCpus": 10**9, "CpuQuota": 50000}, "Nano CPUs and CPU Quota cannot both be set"),
    ({"CpuPeriod": 10}, "CPU cfs period can not be less than 1ms"),
    ({"CpuQuota": 10}, "CPU cfs quota can not be less than 1ms"),
    ({"CpusetCpus": "0-"}, "Invalid value 0- for cpuset cpus"),
    ({"CpusetCpus": "4096"}, "Requested CPUs are not available - requested 4096"),
    ({"BlkioWeight": 5}, "Range of blkio weight is from 10 to 1000"),
    ({"Memory": "10x"}, "invalid Memory"),
])
def test_invalid_limits_are_refused_with_dockerds_text(host: dict, message: str) -> None:
    with pytest.raises(InvalidParameter, match=message.replace("(", r"\(").replace(".", r"\.")):
        validate(dict(host))


def test_defaults_and_swap_twice_memory() -> None:
    host = {"Memory": 64 * MB}
    validate(host)
    apply_defaults(host)
    assert host["MemorySwap"] == 128 * MB
    assert host["CpuShares"] == 0 and host["PidsLimit"] is None and host["BlkioWeightDevice"] == []


def test_cpu_shares_clamped_and_pids_zero_unlimited() -> None:
    host = {"CpuShares": 1, "PidsLimit": 0}
    validate(host)
    assert host["CpuShares"] == 2 and host["PidsLimit"] is None


def test_linux_resources_translation() -> None:
    host = {"Memory": 64 * MB, "MemorySwap": -1, "MemoryReservation": 32 * MB,
            "OomKillDisable": True, "MemorySwappiness": 10, "NanoCpus": 1_500_000_000,
            "CpuShares": 512, "CpusetCpus": "0", "PidsLimit": 50, "BlkioWeight": 300}
    assert linux_resources(host) == {
        "memory": {"limit": 64 * MB, "swap": -1, "reservation": 32 * MB,
                   "disableOOMKiller": True, "swappiness": 10},
        "cpu": {"shares": 512, "period": 100000, "quota": 150000, "cpus": "0"},
        "pids": {"limit": 50},
        "blockIO": {"weight": 300},
    }
    assert linux_resources({"Memory": 0, "PidsLimit": None}) == {}


def test_update_keeps_what_is_not_given_and_validates() -> None:
    host = {"Memory": 64 * MB, "MemorySwap": 128 * MB, "NanoCpus": 5 * 10**8, "PidsLimit": 50,
            "CpuQuota": 0, "CpuPeriod": 0}
    merged = merge_update(host, {"Memory": 100 * MB, "CpuShares": 0, "CgroupParent": ""})
    assert merged["Memory"] == 100 * MB and merged["NanoCpus"] == 5 * 10**8
    assert host["Memory"] == 64 * MB  # the input is left alone
    assert merge_update(host, {"PidsLimit": -1})["PidsLimit"] is None
    with pytest.raises(Conflict, match="smaller than already set memoryswap"):
        merge_update(host, {"Memory": 256 * MB})
    with pytest.raises(Conflict, match="CPU Quota cannot be updated as NanoCPUs"):
        merge_update(host, {"CpuQuota": 20000})
    with pytest.raises(InvalidParameter, match="Minimum memory limit allowed is 6MB"):
        merge_update(host, {"Memory": 1000})


def test_parse_cpuset() -> None:
    assert parse_cpuset("0-2,5") == {0, 1, 2, 5}
    with pytest.raises(InvalidParameter):
        parse_cpuset("2-1")
