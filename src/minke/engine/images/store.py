"""The image records in SQLite: images, tags (normalised references) and layers.

Owns the rows of the ``images``, ``tags`` and ``layers`` tables of ``StateDB`` and nothing
else: blobs are in the content store, layer files in the snapshotter. Documents:

- images: ``{"id", "diff_ids", "chain_ids", "size", "created", "parent", "last_tag_time"}``
- layers: ``{"chain_id", "diff_id", "parent", "size", "tar_size"}``
- tags:   ``ref`` (``docker.io/library/busybox:latest`` or ``name@sha256:…``) → image id
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from minke.engine.state import StateDB

Doc = dict[str, Any]


class ImageRecords:
    """Reads return plain dicts; writes take the connection of an open transaction, so
    that one import or delete changes every table in one commit."""

    def __init__(self, db: StateDB) -> None:
        self.db = db

    # -- reads ----------------------------------------------------------------------------

    def image(self, image_id: str) -> Doc | None:
        return self.db.get_doc("images", "id", image_id)

    def images(self) -> list[Doc]:
        return self.db.all_docs("images")

    def image_ids(self) -> list[str]:
        return [r["id"] for r in self.db.query("SELECT id FROM images")]

    def lookup(self, ref: str) -> str | None:
        rows = self.db.query("SELECT image_id FROM tags WHERE ref=?", (ref,))
        return rows[0]["image_id"] if rows else None

    def refs_of(self, image_id: str) -> list[str]:
        rows = self.db.query("SELECT ref FROM tags WHERE image_id=? ORDER BY ref", (image_id,))
        return [r["ref"] for r in rows]

    def all_refs(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for row in self.db.query("SELECT ref, image_id FROM tags ORDER BY ref"):
            out.setdefault(row["image_id"], []).append(row["ref"])
        return out

    def layer(self, chain_id: str) -> Doc | None:
        return self.db.get_doc("layers", "chain_id", chain_id)

    def layers(self) -> dict[str, Doc]:
        return {d["chain_id"]: d for d in self.db.all_docs("layers")}

    # -- writes (inside ``db.transaction()``) ---------------------------------------------

    @staticmethod
    def put_image(conn: sqlite3.Connection, doc: Doc) -> None:
        conn.execute(
            "INSERT OR REPLACE INTO images (id, doc) VALUES (?, ?)", (doc["id"], json.dumps(doc))
        )

    @staticmethod
    def put_layer(conn: sqlite3.Connection, doc: Doc) -> None:
        conn.execute(
            "INSERT OR REPLACE INTO layers (chain_id, doc) VALUES (?, ?)",
            (doc["chain_id"], json.dumps(doc)),
        )

    @staticmethod
    def set_tag(conn: sqlite3.Connection, ref: str, image_id: str) -> None:
        conn.execute("INSERT OR REPLACE INTO tags (ref, image_id) VALUES (?, ?)", (ref, image_id))

    @staticmethod
    def delete_tag(conn: sqlite3.Connection, ref: str) -> None:
        conn.execute("DELETE FROM tags WHERE ref=?", (ref,))

    @staticmethod
    def delete_image(conn: sqlite3.Connection, image_id: str) -> None:
        conn.execute("DELETE FROM tags WHERE image_id=?", (image_id,))
        conn.execute("DELETE FROM images WHERE id=?", (image_id,))

    @staticmethod
    def delete_layer(conn: sqlite3.Connection, chain_id: str) -> None:
        conn.execute("DELETE FROM layers WHERE chain_id=?", (chain_id,))
