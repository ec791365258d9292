"""``minke job run``'s pieces: the service spec its flags make, and how the job's tasks
read as progress and an exit status (complete, still running, or a slot given up)."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from minke.cli.context import CLIError
from minke.cli.jobprogress import bar, outcome
from minke.cli.verbs.job import configure_job_run, job_spec


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    configure_job_run(parser)
    return parser.parse_args(list(argv))


def test_flags_make_a_replicated_job_reserving_what_it_limits() -> None:
    spec = job_spec(parse("--completions", "10", "--parallelism", "3", "--cpus", "0.5",
                          "--memory", "64m", "--generic-resource", "gpu=1", "-l",
                          "com.minke.scheduler.strategy=binpack", "busybox", "sh", "-c",
                          "exit 0"))
    assert spec["Mode"] == {"ReplicatedJob": {"MaxConcurrent": 3, "TotalCompletions": 10}}
    template: Any = spec["TaskTemplate"]
    assert template["ContainerSpec"] == {"Image": "busybox", "Args": ["sh", "-c", "exit 0"]}
    assert template["Resources"] == {
        "Limits": {"NanoCPUs": 500_000_000, "MemoryBytes": 64 << 20},
        "Reservations": {"NanoCPUs": 500_000_000, "MemoryBytes": 64 << 20,
                         "GenericResources": [{"DiscreteResourceSpec": {
                             "Kind": "gpu", "Value": 1}}]}}
    assert template["RestartPolicy"] == {"Condition": "on-failure", "Delay": 0,
                                         "MaxAttempts": 3}
    assert spec["Labels"] == {"com.minke.scheduler.strategy": "binpack"}
    # parallelism beyond the completions is capped, not an error
    assert job_spec(parse("--parallelism", "8", "--completions", "2", "busybox"))["Mode"] == {
        "ReplicatedJob": {"MaxConcurrent": 2, "TotalCompletions": 2}}


@pytest.mark.parametrize(("argv", "message"), [
    (("--completions", "0"), '"--completions" flag'),
    (("--parallelism", "0"), '"--parallelism" flag'),
    (("--cpus", "lots"), '"--cpus" flag'),
    (("--generic-resource", "gpu=GPU-1"), "Named Generic Resources are not supported"),
])
def test_bad_flags_are_refused(argv: tuple[str, ...], message: str) -> None:
    with pytest.raises(CLIError, match=message):
        job_spec(parse(*argv, "busybox"))


def task(slot: int, state: str, desired: str = "complete", code: int | None = None,
         at: str = "1") -> dict[str, Any]:
    status: dict[str, Any] = {"State": state, "Timestamp": at}
    if code is not None:
        status["ContainerStatus"] = {"ExitCode": code}
    return {"Slot": slot, "DesiredState": desired, "Status": status,
            "JobIteration": {"Index": 7}}


JOB = {"Spec": {"Mode": {"ReplicatedJob": {"MaxConcurrent": 2, "TotalCompletions": 3}}},
       "JobStatus": {"JobIteration": {"Index": 7}}}


def test_outcome_counts_completions_and_sees_a_slot_given_up() -> None:
    running = outcome(JOB, [task(0, "complete"), task(1, "running"),
                            task(1, "failed", "shutdown", 2)])  # slot 1 retried
    assert (running.done, running.total, running.running, running.failed) == (1, 3, 1, [])
    assert not running.finished
    failed = outcome(JOB, [task(0, "complete"), task(1, "failed", "shutdown", 2, "1"),
                           task(1, "failed", "shutdown", 5, "2"), task(2, "complete")])
    assert failed.finished and failed.exit_code() == 5
    old = {**task(1, "complete"), "JobIteration": {"Index": 6}}  # an earlier run
    done = outcome(JOB, [old] + [task(s, "complete") for s in range(3)])
    assert done.finished and done.exit_code() == 0 and done.done == 3
    assert bar(1, 4) == "[" + "=" * 10 + ">" + " " * 29 + "]" and bar(4, 4) == "[" + "=" * 40 + "]"
