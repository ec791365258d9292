"""The service progress view's pieces: the slots it shows and how (plain lines when a line
changes; an in-place redraw on a terminal)."""

from __future__ import annotations

import io
from typing import Any

from minke.cli.context import Context
from minke.cli.serviceprogress import View, _slots, bar


def task(slot: int, state: str, index: int, node: str = "n1") -> dict[str, Any]:
    return {"Slot": slot, "NodeID": node, "Status": {"State": state},
            "Version": {"Index": index}}


def test_slots_show_the_newest_task_of_each_wanted_slot() -> None:
    service = {"Spec": {"Mode": {"Replicated": {"Replicas": 3}}}}
    tasks = [task(1, "running", 5), task(1, "starting", 9), task(2, "running", 6),
             task(4, "running", 7)]  # slot 4: beyond the replicas (a scale-down)
    assert _slots(service, tasks) == {"1/3": "starting", "2/3": "running", "3/3": ""}


def test_global_slots_are_nodes() -> None:
    service = {"Spec": {"Mode": {"Global": {}}}}
    tasks = [task(0, "running", 3, "node-b-0123456789"), task(0, "preparing", 4, "node-a")]
    assert _slots(service, tasks) == {"node-a": "preparing", "node-b-01234": "running"}


def test_bar_grows_with_the_state() -> None:
    assert bar("running") == "[" + "=" * 50 + ">]"
    assert len(bar("new")) == len(bar("running")) and bar("new").startswith("[=====>")
    assert bar("") == "" and bar("failed") == ""


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_only_when_changed_and_redraw_on_a_terminal() -> None:
    out = io.StringIO()
    view = View(Context(stdout=out))
    view.show([("1/1", "starting", bar("starting")), ("overall progress", "0 out of 1", "")])
    view.show([("1/1", "starting", bar("starting")), ("overall progress", "0 out of 1", "")])
    view.show([("1/1", "running", bar("running")), ("overall progress", "1 out of 1", "")])
    assert out.getvalue() == ("1/1: starting\noverall progress: 0 out of 1\n"
                              "1/1: running\noverall progress: 1 out of 1\n")
    tty = Tty()
    view = View(Context(stdout=tty))
    view.show([("1/1", "running", bar("running"))])
    view.show([("1/1", "running", bar("running"))])
    view.done("verify: Service x converged")
    first = "\x1b[2K1/1: running   " + bar("running") + "\n"
    assert tty.getvalue() == first + "\x1b[1A" + first + "\x1b[2Kverify: Service x converged\n"
