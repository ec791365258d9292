"""Whether the kernel's OOM killer acted in a cgroup, from the count the kernel keeps there.

conmon reports OOM kills from an eventfd (v1 ``memory.oom_control``) or a watch of v2
``memory.events``, and may quit when the container exits before it has handled that event
(CONMON.md section 4): the engine asks the cgroup itself, while it still exists, when an exit
looks like one (SIGKILL). The counters are the memory controller's: v1 ``memory.oom_control``
has an ``oom_kill`` line since Linux 4.13, v2 ``memory.events`` always has one.
"""

from __future__ import annotations

from minke.engine.cgroups.files import read_keyed
from minke.engine.cgroups.hierarchy import CgroupDirs


def oom_kills(dirs: CgroupDirs) -> int | None:
    """Processes the OOM killer has killed in this cgroup; None when unknown (no memory
    controller, the cgroup gone, a kernel without the counter)."""
    if dirs.version == 1:
        memory = dirs.v1.get("memory")
        file = memory / "memory.oom_control" if memory is not None else None
    else:
        file = dirs.v2 / "memory.events" if dirs.v2 is not None else None
    return read_keyed(file).get("oom_kill") if file is not None else None
