"""Containers at the OCI runtime level: runc (or crun) driven by id, each watched by a conmon.

``runtime`` holds the seam (``OCIRuntime``, ``ExitStatus``), ``runc`` its implementation,
``monitor`` the per-container conmon (create, attach, resize, exec, exit status) and
``logfile`` the reader of the logs conmon writes. Bundles and container records belong to
the container manager.
"""

from minke.engine.runtime.logfile import LogReader, LogRecord, follow, read_records
from minke.engine.runtime.monitor import AttachStream, Conmon, ExecSession
from minke.engine.runtime.runc import Runc
from minke.engine.runtime.runtime import ExitStatus, OCIRuntime

__all__ = [
    "AttachStream",
    "Conmon",
    "ExecSession",
    "ExitStatus",
    "LogReader",
    "LogRecord",
    "OCIRuntime",
    "Runc",
    "follow",
    "read_records",
]
