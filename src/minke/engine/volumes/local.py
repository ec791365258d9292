"""Docker's ``local`` volume driver: a directory, or a device mounted on that directory while
containers use it (``-o type=tmpfs -o device=tmpfs -o o=size=64m``, ``-o type=none
-o o=bind -o device=/srv/x``, or any filesystem mount(8) knows).

Owns the driver options and the mount reference counts: a volume with a device is mounted
when its first user starts and unmounted when its last user stops, as Docker's local
driver does (so a tmpfs volume is empty again after all its users stopped).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path

from minke.engine.volumes import hostmounts
from minke.errors import InvalidParameter, NotFound, NotSupported

log = logging.getLogger(__name__)

NAME = "local"
OPTION_KEYS = ("type", "device", "o")


def check_driver(name: str, volume: str) -> None:
    if name != NAME:
        raise NotFound(
            f'create {volume}: error looking up volume plugin {name}: plugin "{name}" not found')


def check_options(volume: str, options: dict[str, str]) -> None:
    """Docker's validation of the local driver's options: known keys only, and ``type``
    and ``device`` together."""
    for key in options:
        if key == "size":
            raise NotSupported(f"create {volume}: quota size requested but no quota support")
        if key not in OPTION_KEYS:
            raise InvalidParameter(f'create {volume}: invalid option: "{key}"')
    if options.get("device") and not options.get("type"):
        raise InvalidParameter(f'create {volume}: missing required option: "type"')
    if options.get("type") and not options.get("device"):
        raise InvalidParameter(f'create {volume}: missing required option: "device"')
    opts = [o for o in (options.get("o") or "").split(",") if o]
    if "bind" in opts or "rbind" in opts:
        device = options.get("device") or ""
        if not device.startswith("/"):
            raise InvalidParameter(
                f"create {volume}: invalid option: device {device!r} of a bind volume must "
                "be an absolute path")


class LocalDriver:
    """Mounts devices of volumes on their ``_data`` directory, counted by user."""

    def __init__(self) -> None:
        self._users: defaultdict[str, set[str]] = defaultdict(set)

    @staticmethod
    def has_device(options: dict[str, str] | None) -> bool:
        return bool(options and options.get("type"))

    def acquire(self, name: str, options: dict[str, str] | None, data: Path, user: str) -> None:
        """Make ``data`` hold the volume for ``user`` (a container id)."""
        if not self.has_device(options):
            return
        assert options is not None
        if not self._users[name] and not hostmounts.is_mount_point(data):
            hostmounts.mount(options["type"], options["device"], data, options.get("o", ""))
        self._users[name].add(user)

    def release(self, name: str, options: dict[str, str] | None, data: Path, user: str) -> None:
        if not self.has_device(options):
            return
        users = self._users.get(name)
        if users is None or user not in users:
            return
        users.discard(user)
        if not users:
            del self._users[name]
            hostmounts.unmount(data)

    def adopt(self, name: str, user: str) -> None:
        """After a daemon restart: ``user`` runs and has the volume mounted already."""
        self._users[name].add(user)

    def forget_unused(self, name: str, options: dict[str, str] | None, data: Path) -> None:
        """After a daemon restart: unmount a device no running container uses."""
        if self.has_device(options) and not self._users.get(name) and \
                hostmounts.is_mount_point(data):
            log.info("volume %s: unmounting its device, no running container uses it", name)
            hostmounts.unmount(data)

    def in_use(self, name: str) -> bool:
        return bool(self._users.get(name))
