"""Volumes and mounts: the local volume driver, the volume store, mount resolution of
``-v``/``--mount``/``--tmpfs``/``--volumes-from``/image ``VOLUME``s, copy-up, and the
container extension that sets them up for each start."""

from minke.engine.volumes.extension import VolumeExtension
from minke.engine.volumes.mountpoint import MountPoint, plan
from minke.engine.volumes.service import VolumeService

__all__ = ["MountPoint", "VolumeExtension", "VolumeService", "plan"]
