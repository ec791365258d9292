"""cgroups: where a container's cgroup is (v1 or v2), its stats in Docker's shape,
``docker update`` of its limits, and whether the OOM killer acted in it. Writing the limits
at start is runc's, from the spec's ``linux.resources`` (``containers.resources``)."""

from minke.engine.cgroups.hierarchy import CgroupDirs, Hierarchy, parse_proc_cgroup
from minke.engine.cgroups.oom import oom_kills
from minke.engine.cgroups.stats import StatsService
from minke.engine.cgroups.update import ResourceUpdater

__all__ = ["CgroupDirs", "Hierarchy", "ResourceUpdater", "StatsService", "oom_kills",
           "parse_proc_cgroup"]
