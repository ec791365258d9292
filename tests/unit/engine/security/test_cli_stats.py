"""The CLI side of stats and limits: docker's percentages and sizes, the update body, and
docker's client-side errors for bad sizes and unreadable seccomp profiles."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from minke.cli.context import CLIError
from minke.cli.runopts import ram_in_bytes, security_opts
from minke.cli.verbs.stats import (
    bytes_size,
    configure_update,
    cpu_percent,
    human_size,
    memory_usage,
    stats_row,
    update_body,
)


def doc(total: int, pre_total: int, system: int, pre_system: int) -> dict:
    return {"read": "2026-01-01T00:00:00Z", "id": "a" * 64, "name": "/web",
            "cpu_stats": {"cpu_usage": {"total_usage": total}, "system_cpu_usage": system,
                          "online_cpus": 2},
            "precpu_stats": {"cpu_usage": {"total_usage": pre_total},
                             "system_cpu_usage": pre_system},
            "memory_stats": {"usage": 10 * 2**20, "limit": 64 * 2**20,
                             "stats": {"total_inactive_file": 2 * 2**20}},
            "networks": {"eth0": {"rx_bytes": 1500, "tx_bytes": 12}},
            "blkio_stats": {"io_service_bytes_recursive": [
                {"major": 8, "minor": 0, "op": "Read", "value": 4096},
                {"major": 8, "minor": 0, "op": "Write", "value": 2_000_000}]},
            "pids_stats": {"current": 3}}


def test_percentages_as_docker_computes_them() -> None:
    assert cpu_percent(doc(1_500_000_000, 1_000_000_000, 4_000_000_000, 2_000_000_000)) == 50.0
    assert cpu_percent(doc(5, 5, 10, 0)) == 0.0
    assert memory_usage({"usage": 100, "stats": {"inactive_file": 40}}) == 60
    row = stats_row(doc(1_500_000_000, 1_000_000_000, 4_000_000_000, 2_000_000_000),
                    trunc=True, name="web")
    assert dict(row) == {
        "ID": "a" * 12, "Container": "web", "Name": "web", "CPUPerc": "50.00%",
        "MemUsage": "8MiB / 64MiB", "MemPerc": "12.50%", "NetIO": "1.5kB / 12B",
        "BlockIO": "4.1kB / 2MB", "PIDs": "3",
    }


def test_sizes_as_go_units_prints_them() -> None:
    assert human_size(0) == "0B" and human_size(1234567) == "1.23MB"
    assert bytes_size(236 * 1024) == "236KiB" and bytes_size(23.54 * 2**30) == "23.54GiB"


def test_update_body_has_only_the_flags_given() -> None:
    p = argparse.ArgumentParser()
    configure_update(p)
    args = p.parse_args(["--memory", "128m", "--cpus", "1.5", "--pids-limit", "-1",
                         "--restart", "on-failure:2", "web"])
    assert update_body(args) == {"Memory": 128 * 2**20, "NanoCpus": 1_500_000_000,
                                 "PidsLimit": -1, "RestartPolicy": {
                                     "Name": "on-failure", "MaximumRetryCount": 2}}


def test_bad_sizes_are_dockers_flag_errors() -> None:
    assert ram_in_bytes("64m", "-m, --memory") == 64 * 2**20
    assert ram_in_bytes("-1", "--memory-swap") == -1
    with pytest.raises(CLIError) as info:
        ram_in_bytes("10x", "-m, --memory")
    assert info.value.status == 125
    assert info.value.message.startswith(
        'invalid argument "10x" for "-m, --memory" flag: invalid suffix: \'x\'')
    with pytest.raises(CLIError, match="invalid size: 'abc'"):
        ram_in_bytes("abc", "--shm-size")


def test_seccomp_file_is_read_by_the_cli(tmp_path: Path) -> None:
    profile = tmp_path / "p.json"
    profile.write_text('{\n  "defaultAction": "SCMP_ACT_ALLOW"\n}\n')
    assert security_opts([f"seccomp={profile}", "no-new-privileges"]) == [
        'seccomp={"defaultAction":"SCMP_ACT_ALLOW"}', "no-new-privileges"]
    with pytest.raises(CLIError) as info:
        security_opts([f"seccomp={tmp_path}/nope.json"])
    assert info.value.status == 125 and f"({tmp_path}/nope.json)" in info.value.message
