"""Containers: records, OCI specs, lifecycle, exec."""

from minke.engine.containers.execs import ExecRecord, ExecService
from minke.engine.containers.service import Attachment, ContainerService, parse_signal

__all__ = ["Attachment", "ContainerService", "ExecRecord", "ExecService", "parse_signal"]
