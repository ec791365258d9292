"""A container's mount points: what ``-v``, ``--mount``, ``--tmpfs``, ``--volumes-from`` and
the image's ``VOLUME`` entries ask for, parsed and validated with Docker's rules and texts.

Pure functions over the create request; nothing here touches the host. ``plan`` turns a
record's ``HostConfig`` and ``Config.Volumes`` into the ordered list of ``MountPoint``s the
volume extension sets up; the precedence is Docker's (moby ``registerMountPoints``):
volumes-from first, overridden by binds (``-v``) and mounts (``--mount``), which must not
share a target with each other or with ``--tmpfs``; image volumes fill the targets left.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from minke.errors import InvalidParameter

LOCAL = "local"
# Docker's rule for names of local volumes (moby volume/local ``validName``).
NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
PROPAGATIONS = ("shared", "rshared", "slave", "rslave", "private", "rprivate")
DEFAULT_PROPAGATION = "rprivate"
_RW_MODES = ("rw", "ro")
_LABEL_MODES = ("z", "Z")
_CONSISTENCY = ("consistent", "cached", "delegated")
# --tmpfs options that cancel each other; Docker's defaults are the second of each pair.
_TMPFS_PAIRS = {"exec": "noexec", "noexec": "exec", "suid": "nosuid", "nosuid": "suid",
                "dev": "nodev", "nodev": "dev", "rw": "ro", "ro": "rw"}
TMPFS_DEFAULTS = ["nosuid", "nodev", "noexec"]


@dataclass
class MountPoint:
    """One mount of a container. ``name`` is the volume's (empty for binds and tmpfs);
    ``source`` is the host path of a bind. ``anonymous`` volumes were not named by the user
    (Docker removes those with ``rm -v``); ``created`` says this container's create made a
    named volume on first use (undone if the create fails)."""

    type: str
    destination: str
    source: str = ""
    name: str = ""
    driver: str = LOCAL
    rw: bool = True
    mode: str = ""
    propagation: str = ""
    copy_data: bool = False
    create_source: bool = False
    anonymous: bool = False
    created: bool = False
    tmpfs_options: list[str] = field(default_factory=list)
    driver_opts: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)

    def to_doc(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> MountPoint:
        return cls(**doc)

    def docker_view(self, mountpoint: str = "") -> dict[str, Any]:
        """The entry of container inspect ``Mounts``, in Docker's shape per type."""
        if self.type == "volume":
            return {"Type": "volume", "Name": self.name, "Source": mountpoint,
                    "Destination": self.destination, "Driver": self.driver, "Mode": self.mode,
                    "RW": self.rw, "Propagation": ""}
        return {"Type": self.type, "Source": self.source, "Destination": self.destination,
                "Mode": self.mode, "RW": self.rw, "Propagation": self.propagation}


def validate_volume_name(name: str) -> None:
    if not NAME_RE.match(name):
        raise InvalidParameter(
            f'create {name}: "{name}" includes invalid characters for a local volume name, '
            'only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host '
            "directory, use absolute path"
        )


def _clean(path: str) -> str:
    return posixpath.normpath(path) if path else path


def _check_target(kind: str, target: str, spec: str | None = None) -> str:
    def fail(reason: str) -> InvalidParameter:
        text = f'invalid mount config for type "{kind}": {reason}'
        return InvalidParameter(f"invalid volume specification: '{spec}': {text}"
                                if spec is not None else text)
    if not target:
        raise fail("field Target must not be empty")
    if not target.startswith("/"):
        raise fail(f"invalid mount path: '{target}' mount path must be absolute")
    if _clean(target) == "/":
        raise fail("invalid specification: destination can't be '/'")
    return _clean(target)


def parse_bind(spec: str) -> MountPoint:
    """One ``HostConfig.Binds`` entry: ``src:dst[:mode]`` (a bind if ``src`` is absolute,
    else a named volume) or a lone ``dst`` (an anonymous volume)."""
    parts = spec.split(":")
    if len(parts) > 3 or any(p == "" for p in parts):
        raise InvalidParameter(f"invalid volume specification: '{spec}'")
    if len(parts) == 1:
        dest = _check_target("volume", parts[0], spec)
        return MountPoint(type="volume", destination=dest, anonymous=True, copy_data=True)
    source, target = parts[0], parts[1]
    mode = parts[2] if len(parts) == 3 else ""
    flags = _parse_mode(mode)
    kind = "bind" if source.startswith("/") else "volume"
    dest = _check_target(kind, target, spec)
    rw = flags.get("rw", "rw") == "rw"
    if kind == "bind":
        if "copy" in flags:
            raise InvalidParameter(f"invalid volume specification: '{spec}': invalid mode: "
                                   f"{mode}: nocopy applies to volumes only")
        return MountPoint(type="bind", destination=dest, source=_clean(source), rw=rw,
                          mode=mode, propagation=flags.get("propagation", DEFAULT_PROPAGATION),
                          create_source=True)
    if "propagation" in flags:
        raise InvalidParameter(f"invalid volume specification: '{spec}': invalid mode: {mode}: "
                               "propagation applies to bind mounts only")
    validate_volume_name(source)
    return MountPoint(type="volume", destination=dest, name=source, rw=rw, mode=mode or "z",
                      copy_data="copy" not in flags)


def _parse_mode(mode: str) -> dict[str, str]:
    """Docker's ``-v`` mode list: at most one of rw/ro, z/Z, a propagation, nocopy and a
    consistency; anything else is "invalid mode"."""
    flags: dict[str, str] = {}
    for item in mode.split(",") if mode else []:
        if item in _RW_MODES:
            key = "rw"
        elif item in _LABEL_MODES:
            key = "label"
        elif item in PROPAGATIONS:
            key = "propagation"
        elif item == "nocopy":
            key = "copy"
        elif item in _CONSISTENCY:
            key = "consistency"
        else:
            raise InvalidParameter(f"invalid mode: {mode}")
        if key in flags:
            raise InvalidParameter(f"invalid mode: {mode}")
        flags[key] = item
    return flags


def parse_mount(mount: Any) -> MountPoint:
    """One ``HostConfig.Mounts`` entry (``--mount``), checked as moby's
    ``validateMountConfig`` does."""
    if not isinstance(mount, dict):
        raise InvalidParameter("invalid mount config: HostConfig.Mounts entries must be objects")
    kind = mount.get("Type") or ""
    source = mount.get("Source") or ""
    if kind not in ("bind", "volume", "tmpfs"):
        raise InvalidParameter(f'invalid mount config for type "{kind}": mount type unknown')
    dest = _check_target(kind, mount.get("Target") or "")
    readonly = bool(mount.get("ReadOnly"))

    def extra(name: str) -> InvalidParameter:
        return InvalidParameter(
            f'invalid mount config for type "{kind}": field {name} must not be specified')
    if kind == "bind":
        for other in ("VolumeOptions", "TmpfsOptions"):
            if mount.get(other):
                raise extra(other)
        if not source:
            raise InvalidParameter(
                'invalid mount config for type "bind": field Source must not be empty')
        if not source.startswith("/"):
            raise InvalidParameter('invalid mount config for type "bind": invalid mount path: '
                                   f"'{source}' mount path must be absolute")
        bind_opts = mount.get("BindOptions") or {}
        propagation = bind_opts.get("Propagation") or DEFAULT_PROPAGATION
        if propagation not in PROPAGATIONS:
            raise InvalidParameter(f"invalid propagation mode: {propagation}")
        return MountPoint(type="bind", destination=dest, source=_clean(source), rw=not readonly,
                          propagation=propagation,
                          create_source=bool(bind_opts.get("CreateMountpoint")))
    if kind == "volume":
        for other in ("BindOptions", "TmpfsOptions"):
            if mount.get(other):
                raise extra(other)
        options = mount.get("VolumeOptions") or {}
        driver_config = options.get("DriverConfig") or {}
        if source:
            validate_volume_name(source)
        return MountPoint(
            type="volume", destination=dest, name=source, rw=not readonly, mode="z",
            copy_data=not options.get("NoCopy"), anonymous=not source,
            driver=driver_config.get("Name") or LOCAL,
            driver_opts=dict(driver_config.get("Options") or {}),
            labels=dict(options.get("Labels") or {}),
        )
    if source:
        raise extra("Source")
    for other in ("BindOptions", "VolumeOptions"):
        if mount.get(other):
            raise extra(other)
    return MountPoint(type="tmpfs", destination=dest, rw=not readonly,
                      tmpfs_options=_tmpfs_mount_options(mount.get("TmpfsOptions") or {}))


def _tmpfs_mount_options(options: dict[str, Any]) -> list[str]:
    out = list(TMPFS_DEFAULTS)
    size = options.get("SizeBytes")
    if size:
        if int(size) < 0:
            raise InvalidParameter('invalid mount config for type "tmpfs": '
                                   "invalid tmpfs size: must not be negative")
        out.append(f"size={int(size) // 1024}k")
    mode = options.get("Mode")
    if mode:
        out.append(f"mode={int(mode) & 0o7777:o}")
    return out


def parse_tmpfs(dest: str, options: str) -> MountPoint:
    """One ``HostConfig.Tmpfs`` entry (``--tmpfs /dst:opts``): Docker's defaults
    (nosuid, nodev, noexec) merged with the given options, a later option cancelling its
    opposite."""
    target = _check_target("tmpfs", dest)
    merged = list(TMPFS_DEFAULTS)
    for item in [o.strip() for o in (options or "").split(",") if o.strip()]:
        opposite = _TMPFS_PAIRS.get(item)
        merged = [m for m in merged if m not in (item, opposite)]
        merged.append(item)
    return MountPoint(type="tmpfs", destination=target, rw="ro" not in merged,
                      tmpfs_options=merged)


def parse_volumes_from(spec: str) -> tuple[str, str]:
    """``container[:ro|rw]`` → (container, mode)."""
    name, _, mode = spec.partition(":")
    if not name or mode not in ("", "ro", "rw"):
        raise InvalidParameter(f"invalid mode: {mode}" if name else
                               f"invalid volumes-from specification: '{spec}'")
    return name, mode


def plan(
    host: dict[str, Any], image_volumes: dict[str, Any] | None,
    inherited: Callable[[str], list[MountPoint]],
) -> list[MountPoint]:
    """The container's mount points in Docker's precedence, sorted by target depth.
    ``inherited(container)`` gives another container's mount points (``--volumes-from``).
    Raises ``InvalidParameter`` (Docker's text) for any bad entry; nothing is created."""
    points: dict[str, MountPoint] = {}
    for spec in host.get("VolumesFrom") or []:
        name, mode = parse_volumes_from(spec)
        for point in inherited(name):
            point = MountPoint.from_doc({**point.to_doc(), "created": False})
            if mode:
                point.rw = mode == "rw"
            points[point.destination] = point
    explicit: set[str] = set()

    def claim(point: MountPoint) -> None:
        if point.destination in explicit:
            raise InvalidParameter(f"Duplicate mount point: {point.destination}")
        explicit.add(point.destination)
        points[point.destination] = point
    for spec in host.get("Binds") or []:
        claim(parse_bind(spec))
    for mount in host.get("Mounts") or []:
        claim(parse_mount(mount))
    tmpfs = host.get("Tmpfs") or {}
    if not isinstance(tmpfs, dict):
        raise InvalidParameter("invalid HostConfig.Tmpfs: expected a map of path to options")
    for dest, options in tmpfs.items():
        claim(parse_tmpfs(dest, options))
    for dest in image_volumes or {}:
        target = _check_target("volume", dest)
        if target not in points:
            points[target] = MountPoint(type="volume", destination=target, anonymous=True,
                                        copy_data=True)
    return sort_by_depth(list(points.values()))


def sort_by_depth(points: list[MountPoint]) -> list[MountPoint]:
    """Parents before children, so that a mount at /a/b lands on top of one at /a."""
    return sorted(points, key=lambda p: (depth(p.destination), p.destination))


def depth(path: str) -> int:
    return len([p for p in path.split("/") if p])
