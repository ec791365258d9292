"""Pure rules of restart policies and health checks: Docker's backoff, ShouldRestart,
the health state machine, the healthcheck merge and validation."""

from __future__ import annotations

import pytest

from minke.engine.containers import health, restart
from minke.engine.containers.commit import merge as commit_merge
from minke.errors import InvalidParameter


def test_backoff_doubles_to_a_minute_and_resets_after_ten_seconds() -> None:
    delays = []
    delay = 0.0
    for _ in range(12):
        delay = restart.next_delay(delay, ran_for=0.5)
        delays.append(delay)
    assert delays[:4] == [0.1, 0.2, 0.4, 0.8]
    assert delays[-1] == 60.0 and max(delays) == 60.0
    assert restart.next_delay(60.0, ran_for=10.0) == 0.1
    assert restart.next_delay(0.4, ran_for=9.9) == 0.8


@pytest.mark.parametrize(("name", "retries", "code", "count", "manual", "expected"), [
    ("no", 0, 1, 0, False, False),
    ("always", 0, 0, 5, True, True),
    ("unless-stopped", 0, 0, 0, False, True),
    ("unless-stopped", 0, 1, 0, True, False),
    ("on-failure", 0, 0, 0, False, False),
    ("on-failure", 0, 2, 100, False, True),
    ("on-failure", 3, 2, 2, False, True),
    ("on-failure", 3, 2, 3, False, False),
])
def test_should_restart(name: str, retries: int, code: int, count: int, manual: bool,
                        expected: bool) -> None:
    policy = {"Name": name, "MaximumRetryCount": retries}
    assert restart.should_restart(policy, code, count, manual) is expected


def _apply(h: dict, code: int, *, retries: int = 2, period: float = 0.0,
           at: float = 100.0) -> None:
    result = {"Start": "s", "End": "e", "ExitCode": code, "Output": ""}
    health.apply_result(h, result, retries=retries, start_period=period, started_at=0.0,
                        probe_start=at)


def test_health_state_machine() -> None:
    h = {"Status": "starting", "FailingStreak": 0, "Log": []}
    _apply(h, 1)
    assert h["Status"] == "starting" and h["FailingStreak"] == 1
    _apply(h, 0)
    assert h["Status"] == "healthy" and h["FailingStreak"] == 0
    _apply(h, 1)
    assert h["Status"] == "healthy"
    _apply(h, -1)
    assert h["Status"] == "unhealthy" and h["FailingStreak"] == 2
    for _ in range(10):
        _apply(h, 1)
    assert len(h["Log"]) == health.MAX_LOG_ENTRIES


def test_start_period_failures_do_not_count_while_starting() -> None:
    h = {"Status": "starting", "FailingStreak": 0, "Log": []}
    _apply(h, 1, retries=1, period=30.0, at=5.0)
    assert h["Status"] == "starting" and h["FailingStreak"] == 0
    _apply(h, 1, retries=1, period=30.0, at=31.0)
    assert h["Status"] == "unhealthy"


def test_probe_argv_forms() -> None:
    assert health.probe_argv({"Healthcheck": {"Test": ["CMD", "curl", "-f", "x"]}}) == \
        ["curl", "-f", "x"]
    assert health.probe_argv({"Healthcheck": {"Test": ["CMD-SHELL", "a && b"]}}) == \
        ["/bin/sh", "-c", "a && b"]
    assert health.probe_argv({"Healthcheck": {"Test": ["CMD-SHELL", "x"]},
                              "Shell": ["/bin/ash", "-e", "-c"]}) == ["/bin/ash", "-e", "-c", "x"]
    assert health.probe_argv({"Healthcheck": {"Test": ["NONE"]}}) is None
    assert health.probe_argv({}) is None


def test_healthcheck_merge_and_validation() -> None:
    image = {"Test": ["CMD", "true"], "Interval": 5, "Retries": 4}
    assert health.merge({"Interval": 10}, image) == {"Test": ["CMD", "true"], "Interval": 10,
                                                     "Retries": 4}
    assert health.merge(None, image) == image
    assert health.merge({"Test": ["NONE"]}, image)["Test"] == ["NONE"]
    with pytest.raises(InvalidParameter, match="Interval in Healthcheck cannot be less than 1ms"):
        health.validate({"Test": ["CMD", "x"], "Interval": 999_999})
    with pytest.raises(InvalidParameter, match="Retries in Healthcheck cannot be negative"):
        health.validate({"Retries": -1})
    with pytest.raises(InvalidParameter, match="unknown type"):
        health.validate({"Test": ["RUN", "x"]})


def test_go_duration() -> None:
    assert health.go_duration(30) == "30s"
    assert health.go_duration(0.3) == "300ms"
    assert health.go_duration(90) == "1m30s"
    assert health.go_duration(1.5) == "1.5s"


def test_commit_merge_keeps_what_the_user_leaves_empty() -> None:
    container = {"Env": ["PATH=/bin", "A=1"], "Cmd": ["sh"], "Labels": {"x": "1"},
                 "WorkingDir": "/w", "User": "nobody", "ExposedPorts": {"80/tcp": {}}}
    out = commit_merge({"Env": ["A=2"], "Labels": {"y": "2"}}, container)
    assert out["Env"] == ["A=2", "PATH=/bin"]
    assert out["Cmd"] == ["sh"] and out["Labels"] == {"x": "1", "y": "2"}
    assert out["WorkingDir"] == "/w" and out["User"] == "nobody"
    assert out["ExposedPorts"] == {"80/tcp": {}}
    assert commit_merge({"Entrypoint": ["top"]}, container).get("Cmd") is None
