"""Volume records and their directories: ``<data-root>/volumes/<name>/_data``, as Docker's
local driver lays them out, with the record (driver, options, labels, creation time) in the
``volumes`` table of the state database.

Knows nothing of containers or mounting. The order of steps makes crashes safe: ``create``
makes the directory before it commits the record, ``remove`` deletes the record before it
deletes the directory, and ``recover`` (at daemon start) deletes every directory without a
record, which is exactly what either crash can leave behind. A volume's data is never in
the database, so a SIGKILLed daemon loses none of it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

from minke.engine.fsutil import fsync_dir
from minke.engine.state import StateDB
from minke.errors import Conflict, NotFound

log = logging.getLogger(__name__)

Doc = dict[str, Any]
TRASH_PREFIX = ".trash-"  # a removed volume's directory, renamed away before rmtree


def rfc3339_seconds(ts: float | None = None) -> str:
    """Docker prints a volume's CreatedAt to the second, in UTC."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if ts is None else ts))


class VolumeStore:
    """Every volume record of one daemon, cached in memory, written through to SQLite."""

    def __init__(self, root: Path, db: StateDB) -> None:
        self.root = root
        self._db = db
        root.mkdir(parents=True, exist_ok=True)
        os.chmod(root, 0o701)  # Docker's: others may reach _data by path, not list names
        self._docs: dict[str, Doc] = {d["Name"]: d for d in db.all_docs("volumes")}

    def path(self, name: str) -> Path:
        return self.root / name

    def data(self, name: str) -> Path:
        return self.root / name / "_data"

    def get(self, name: str) -> Doc:
        doc = self._docs.get(name)
        if doc is None:
            raise NotFound(f"get {name}: no such volume")
        return doc

    def find(self, name: str) -> Doc | None:
        return self._docs.get(name)

    def all(self) -> list[Doc]:
        return sorted(self._docs.values(), key=lambda d: d["Name"])

    def create(self, name: str, *, driver: str, options: dict[str, str],
               labels: dict[str, str], anonymous: bool = False) -> Doc:
        """A new volume; ``Conflict`` if the name is taken. The directory exists and is
        synced before the record commits."""
        if name in self._docs:
            raise Conflict(f"create {name}: volume name is already in use")
        data = self.data(name)
        data.mkdir(parents=True, exist_ok=True, mode=0o755)
        fsync_dir(self.root)
        doc: Doc = {
            "Name": name, "Driver": driver, "Mountpoint": str(data),
            "CreatedAt": rfc3339_seconds(), "Labels": labels or None,
            "Options": options or None, "Scope": "local",
            # minke's own bookkeeping, never shown to clients (``public`` drops it).
            "Anonymous": anonymous, "CopyUp": "",
        }
        try:
            self._write(doc)
        except BaseException:
            shutil.rmtree(self.path(name), ignore_errors=True)
            raise
        return doc

    def update(self, name: str, **fields: Any) -> Doc:
        doc = dict(self.get(name))
        doc.update(fields)
        self._write(doc)
        return doc

    def remove(self, name: str) -> None:
        """Delete the record, then the directory. A crash in between leaves a directory
        without a record, which ``recover`` deletes."""
        self.get(name)
        with self._db.transaction() as db:
            db.execute("DELETE FROM volumes WHERE name=?", (name,))
        del self._docs[name]
        self._discard_dir(name)

    def _discard_dir(self, name: str) -> None:
        path = self.path(name)
        if not path.exists():
            return
        # Renamed first so that a new volume of the same name never sees old data.
        trash = self.root / f"{TRASH_PREFIX}{name}-{os.urandom(4).hex()}"
        try:
            path.rename(trash)
        except OSError as exc:
            log.warning("volume %s: cannot move its directory away: %s", name, exc)
            return
        shutil.rmtree(trash, ignore_errors=True)

    def recover(self, is_mounted: Any) -> None:
        """Delete directories left by a crash: those without a record and trash. A
        directory with something mounted on it is left alone (and logged)."""
        for entry in self.root.iterdir():
            if entry.name in self._docs:
                continue
            if is_mounted(entry / "_data"):
                log.warning("volume directory %s has a mount but no record; kept", entry)
                continue
            log.info("removing volume directory without a record: %s", entry)
            shutil.rmtree(entry, ignore_errors=True)
        for name in self._docs:
            self.data(name).mkdir(parents=True, exist_ok=True, mode=0o755)

    def _write(self, doc: Doc) -> None:
        with self._db.transaction() as db:
            db.execute(
                "INSERT INTO volumes(name, doc) VALUES(?,?) "
                "ON CONFLICT(name) DO UPDATE SET doc=excluded.doc",
                (doc["Name"], json.dumps(doc)),
            )
        self._docs[doc["Name"]] = doc


def public(doc: Doc) -> Doc:
    """The Volume object of Docker's API for a record."""
    return {key: doc[key] for key in
            ("CreatedAt", "Driver", "Labels", "Mountpoint", "Name", "Options", "Scope")}
