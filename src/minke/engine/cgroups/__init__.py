"""cgroups: where a container's cgroup is (v1 or v2), its stats in Docker's shape, and
``docker update`` of its limits. Writing the limits at start is runc's, from the spec's
``linux.resources`` (``containers.resources``)."""

from minke.engine.cgroups.hierarchy import CgroupDirs, Hierarchy, parse_proc_cgroup
from minke.engine.cgroups.stats import StatsService
from minke.engine.cgroups.update import ResourceUpdater

__all__ = ["CgroupDirs", "Hierarchy", "ResourceUpdater", "StatsService", "parse_proc_cgroup"]
