"""Layers and container snapshots on overlayfs, laid out as Docker's overlay2 driver does.

On disk, under ``root``::

    layers/<chain-id hex>/diff     the layer's files (whiteouts as overlay whiteouts)
    layers/<chain-id hex>/link     the layer's short name in l/
    layers/<chain-id hex>/parent   the parent layer's chain id ("" for a base layer)
    l/<short name>                 symlink → ../layers/<hex>/diff
    snapshots/<key>/{upper,work}   a container's writable directories
    snapshots/<key>/parent         the chain id the snapshot sits on ("" for none)
    empty/                         the lower directory of snapshots without layers
    tmp/                           staging; emptied at start-up

Mount options are limited to one page (4096 bytes). Absolute paths of 64-hex directories fill
it at about 40 layers, so lower directories are named through ``l/`` with 26-character names
relative to ``root`` and the mount runs with ``root`` as working directory (overlay2's trick).
When the options fit with absolute paths (most images), mount(2) is called directly instead:
that spares a ``mount`` process on every container start.

A ``volatile`` mount (overlayfs' option, for auto-removed containers) skips every sync of
the upper directory: unmounting a plain overlay syncs the whole filesystem under it (on a
busy host, 1 ms typically and hundreds at worst). The kernel then leaves a marker in the
work directory that refuses any later mount; a clean unmount is all ``mount`` ever follows
here (an auto-removed container is removed after a crash), so it deletes that marker first.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import shutil
import string
import subprocess
import tempfile
from pathlib import Path

from minke.engine import mounts
from minke.engine.fsutil import discard
from minke.engine.snapshots.snapshotter import Snapshotter
from minke.errors import Conflict, InternalError, InvalidParameter, NotFound, Unavailable

PAGE_SIZE = 4096  # the kernel copies at most one page of mount data
SHORT_NAME_LEN = 26  # as overlay2: short enough for ~128 layers in one page
_SHORT_ALPHABET = string.ascii_uppercase + string.digits
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class OverlaySnapshotter(Snapshotter):
    """See ``Snapshotter``; a plain constructor, no configuration read."""

    def __init__(self, root: Path) -> None:
        self.root = root
        for sub in ("layers", "l", "snapshots", "empty"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        # Staged layers of operations cut short by a crash were never committed.
        shutil.rmtree(root / "tmp", ignore_errors=True)
        (root / "tmp").mkdir()

    # -- layers ---------------------------------------------------------------------------

    def _layer_dir(self, chain_id: str) -> Path:
        hex_ = chain_id.removeprefix("sha256:")
        if not re.fullmatch(r"[0-9a-f]{64}", hex_):
            raise InvalidParameter(f"invalid chain id: {chain_id!r}")
        return self.root / "layers" / hex_

    def begin_layer(self) -> Path:
        staged = Path(tempfile.mkdtemp(dir=self.root / "tmp", prefix="layer-"))
        staged.chmod(0o755)
        return staged

    def commit_layer(self, staged: Path, chain_id: str, parent: str | None) -> bool:
        final = self._layer_dir(chain_id)
        if final.exists():
            self.discard(staged)
            return False
        if parent is not None and not self.has_layer(parent):
            raise NotFound(f"layer {parent}: not found")
        holder = Path(tempfile.mkdtemp(dir=self.root / "tmp", prefix="commit-"))
        holder.chmod(0o700)
        os.rename(staged, holder / "diff")
        link = "".join(secrets.choice(_SHORT_ALPHABET) for _ in range(SHORT_NAME_LEN))
        (holder / "link").write_text(link)
        (holder / "parent").write_text(parent or "")
        os.symlink(f"../layers/{final.name}/diff", self.root / "l" / link)
        # The rename publishes the layer whole: a crash before it leaves only tmp/ and a
        # dangling l/ link, both swept at start-up.
        os.rename(holder, final)
        return True

    def discard(self, staged: Path) -> None:
        shutil.rmtree(staged, ignore_errors=True)

    def has_layer(self, chain_id: str) -> bool:
        return (self._layer_dir(chain_id) / "diff").is_dir()

    def layer_path(self, chain_id: str) -> Path:
        path = self._layer_dir(chain_id) / "diff"
        if not path.is_dir():
            raise NotFound(f"layer {chain_id}: not found")
        return path

    def layer_parent(self, chain_id: str) -> str | None:
        try:
            return (self._layer_dir(chain_id) / "parent").read_text() or None
        except FileNotFoundError:
            raise NotFound(f"layer {chain_id}: not found") from None

    def layers(self) -> list[str]:
        return sorted("sha256:" + p.name for p in (self.root / "layers").iterdir())

    def remove_layer(self, chain_id: str) -> None:
        layer = self._layer_dir(chain_id)
        try:
            link = (layer / "link").read_text()
        except FileNotFoundError:
            link = ""
        if link:
            (self.root / "l" / link).unlink(missing_ok=True)
        self._trash(layer)

    def _trash(self, path: Path) -> None:
        """Out of the tree at once, deleted in the background (callers run on the event
        loop, and a big layer takes seconds to remove); tmp/ is swept at start-up."""
        discard(path, self.root / "tmp")

    def sweep(self) -> None:
        """Remove ``l/`` links whose layer is gone (left by a crash between steps)."""
        for link in (self.root / "l").iterdir():
            if not link.exists():
                link.unlink(missing_ok=True)

    def _chain(self, chain_id: str | None) -> list[str]:
        """The short names of ``chain_id`` and its ancestors, top first."""
        names: list[str] = []
        while chain_id:
            layer = self._layer_dir(chain_id)
            try:
                names.append(f"l/{(layer / 'link').read_text()}")
                chain_id = (layer / "parent").read_text() or None
            except FileNotFoundError:
                raise NotFound(f"layer {chain_id}: not found") from None
        return names

    # -- snapshots ------------------------------------------------------------------------

    def _snapshot_dir(self, key: str) -> Path:
        if not _KEY.match(key):
            raise InvalidParameter(f"invalid snapshot key: {key!r}")
        return self.root / "snapshots" / key

    def prepare(self, key: str, parent_chain_id: str | None) -> None:
        snap = self._snapshot_dir(key)
        if parent_chain_id is not None and not self.has_layer(parent_chain_id):
            raise NotFound(f"layer {parent_chain_id}: not found")
        try:
            snap.mkdir(mode=0o700)
        except FileExistsError:
            raise Conflict(f"snapshot {key} already exists") from None
        (snap / "upper").mkdir(mode=0o755)
        (snap / "work").mkdir(mode=0o700)
        (snap / "parent").write_text(parent_chain_id or "")

    def _parent(self, key: str) -> str | None:
        try:
            return (self._snapshot_dir(key) / "parent").read_text() or None
        except FileNotFoundError:
            raise NotFound(f"snapshot {key}: not found") from None

    def mount_options(self, key: str, base: str = "") -> str:
        """Overlay options with paths relative to ``root``, or under ``base`` if given."""
        lowers = [base + lower for lower in self._chain(self._parent(key)) or ["empty"]]
        options = (
            f"lowerdir={':'.join(lowers)},upperdir={base}snapshots/{key}/upper,"
            f"workdir={base}snapshots/{key}/work,index=off"
        )
        if len(options) >= PAGE_SIZE:
            raise InvalidParameter(
                f"snapshot {key}: {len(lowers)} layers do not fit in one overlay mount"
            )
        return options

    def mount(self, key: str, target: Path, *, volatile: bool = False) -> None:
        extra = ",volatile" if volatile else ""
        options = self.mount_options(key) + extra
        target.mkdir(parents=True, exist_ok=True)
        marker = self._snapshot_dir(key) / "work" / "work" / "incompat" / "volatile"
        if marker.exists():  # left by the last (volatile) mount: see the module's docstring
            shutil.rmtree(marker)
        absolute = (self.mount_options(key, f"{self.root.absolute()}/") + extra).encode()
        if len(absolute) < PAGE_SIZE:
            try:
                mounts.mount("overlay", target, "overlay", 0, absolute)
                return
            except OSError as exc:
                if exc.errno == errno.ENODEV:
                    raise Unavailable("overlayfs is not available on this host: "
                                      "unknown filesystem type 'overlay'") from None
                raise InternalError(f"overlay mount of snapshot {key} on {target}: "
                                    f"{exc.strerror}") from None
        # mount(8) passes the option string to mount(2) unchanged; relative lower paths are
        # resolved against the mounting process's working directory, which must not be
        # changed in this (threaded) process, hence a child process.
        proc = subprocess.run(
            ["mount", "-n", "-t", "overlay", "overlay", "-o", options, str(target)],
            cwd=self.root,
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            message = proc.stderr.strip() or f"mount exited {proc.returncode}"
            if "unknown filesystem type" in message:
                raise Unavailable(f"overlayfs is not available on this host: {message}")
            raise InternalError(f"overlay mount of snapshot {key} on {target}: {message}")

    def unmount(self, target: Path) -> None:
        try:
            mounts.umount(target)  # not a mount point (or never made): already unmounted
        except OSError as exc:
            if exc.errno != errno.EBUSY:
                raise InternalError(f"unmount {target}: {exc.strerror}") from None
            # Something still holds a file open; detach now, the kernel frees it later.
            try:
                mounts.umount(target, mounts.MNT_DETACH)
            except OSError as again:
                raise InternalError(f"unmount {target}: {again.strerror}") from None

    def upper(self, key: str) -> Path:
        path = self._snapshot_dir(key) / "upper"
        if not path.is_dir():
            raise NotFound(f"snapshot {key}: not found")
        return path

    def remove(self, key: str) -> None:
        snap = self._snapshot_dir(key)
        if not snap.exists():
            raise NotFound(f"snapshot {key}: not found")
        self._trash(snap)

    def snapshots(self) -> dict[str, str | None]:
        out: dict[str, str | None] = {}
        for snap in (self.root / "snapshots").iterdir():
            try:
                out[snap.name] = (snap / "parent").read_text() or None
            except FileNotFoundError:
                continue
        return out
