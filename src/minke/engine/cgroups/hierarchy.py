"""Where a container's cgroup is: which cgroup version the host's controllers use, where
each hierarchy is mounted, and which directories belong to a process.

v1 (one hierarchy per controller, e.g. /sys/fs/cgroup/memory) and v2 (one unified tree)
are told apart by the mounts themselves: if any v1 hierarchy carries a resource controller
the host is v1 (or hybrid: v1 controllers beside a controller-less cgroup2 mount, as on
these machines); otherwise it is v2. Reads only /proc; writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

V1_CONTROLLERS = ("cpu", "cpuacct", "cpuset", "memory", "pids", "blkio", "devices", "freezer")


@dataclass(frozen=True)
class CgroupDirs:
    """The directories of one cgroup: ``v1`` maps controller → directory; ``v2`` is the one
    directory of the unified tree."""

    version: int
    v1: dict[str, Path] = field(default_factory=dict)
    v2: Path | None = None


@dataclass(frozen=True)
class Hierarchy:
    """The host's cgroup mounts: controller → (mount point, the cgroup at its root)."""

    version: int
    v1_mounts: dict[str, tuple[Path, str]] = field(default_factory=dict)
    v2_mount: tuple[Path, str] | None = None

    @classmethod
    def detect(cls, mountinfo: str | None = None) -> Hierarchy:
        """From /proc/self/mountinfo (or the given text of one)."""
        if mountinfo is None:
            mountinfo = Path("/proc/self/mountinfo").read_text()
        v1: dict[str, tuple[Path, str]] = {}
        v2: tuple[Path, str] | None = None
        for line in mountinfo.splitlines():
            left, sep, right = line.partition(" - ")
            if not sep:
                continue
            fields, tail = left.split(), right.split()
            if len(fields) < 5 or len(tail) < 3:
                continue
            root, mountpoint = fields[3], Path(fields[4].replace("\\040", " "))
            fstype, options = tail[0], tail[2].split(",")
            if fstype == "cgroup":
                for option in options:
                    if option in V1_CONTROLLERS:
                        v1.setdefault(option, (mountpoint, root))
            elif fstype == "cgroup2" and v2 is None:
                v2 = (mountpoint, root)
        version = 1 if any(c in v1 for c in ("memory", "cpu", "pids")) else 2
        return cls(version=version, v1_mounts=v1, v2_mount=v2)

    def dirs(self, paths: dict[str, str]) -> CgroupDirs:
        """The directories for a /proc/<pid>/cgroup table (controller or "" → cgroup path)."""
        if self.version == 1:
            out = {}
            for controller, (mountpoint, root) in self.v1_mounts.items():
                if controller in paths:
                    out[controller] = _join(mountpoint, root, paths[controller])
            return CgroupDirs(version=1, v1=out)
        if self.v2_mount is None or "" not in paths:
            return CgroupDirs(version=2)
        mountpoint, root = self.v2_mount
        return CgroupDirs(version=2, v2=_join(mountpoint, root, paths[""]))

    def dirs_of_pid(self, pid: int) -> CgroupDirs:
        """The cgroup of process ``pid``; empty dirs if it has gone."""
        try:
            text = Path(f"/proc/{pid}/cgroup").read_text()
        except OSError:
            return CgroupDirs(version=self.version)
        return self.dirs(parse_proc_cgroup(text))


def parse_proc_cgroup(text: str) -> dict[str, str]:
    """``4:memory:/minke/abc`` lines → {"memory": "/minke/abc"}; v2's ``0::/x`` → {"": "/x"}.
    A v1 line naming several controllers (``cpu,cpuacct``) gives each of them."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if not controllers:
            out[""] = path
        for controller in controllers.split(","):
            if controller:
                out[controller] = path
    return out


def _join(mountpoint: Path, root: str, path: str) -> Path:
    # A mount of a sub-tree (root != "/") shows paths relative to that sub-tree.
    if root != "/" and path.startswith(root):
        path = path[len(root):]
    return mountpoint / path.lstrip("/")
