"""minked's cluster store settings: bad flags stop minked with a message naming the flag;
without them the store is SQLite."""

from __future__ import annotations

from pathlib import Path

import pytest

from minke import errors
from minke.daemon.main import parse_args
from minke.swarm.store import SQLiteStore, Store


@pytest.mark.parametrize(("argv", "message"), [
    (["--cluster-store", "http://h:1"], "cluster-store: 'http://h:1' is not an etcd"),
    (["--cluster-store", "etcd://h:1", "--cluster-store-cert", "/nonexistent"],
     "cluster-store-cert: /nonexistent is not a readable file"),
    (["--cluster-store-key", "/etc/hostname"], "need cluster-store"),
    (["--swarm-leader-lease", "10ms"], "swarm-leader-lease: '10ms'"),
])
def test_bad_cluster_store_flags_stop_minked(tmp_path: Path, argv: list[str],
                                             message: str) -> None:
    (tmp_path / "daemon.json").write_text("{}")
    with pytest.raises(SystemExit) as exited:
        parse_args(["--config-file", str(tmp_path / "daemon.json"), *argv])
    assert message in str(exited.value)


def test_daemon_json_keys_and_default(tmp_path: Path) -> None:
    config = tmp_path / "daemon.json"
    config.write_text('{"cluster-store": "etcd://10.0.0.1:2379,10.0.0.2:2379/prod", '
                      '"swarm-leader-lease": "3s", "cluster-store-serve": true}')
    settings = parse_args(["--config-file", str(config)]).store_settings
    assert settings.etcd.url == "etcd://10.0.0.1:2379,10.0.0.2:2379/prod"
    assert (settings.leader_lease, settings.serve) == (3.0, True)
    config.write_text("{}")
    default = parse_args(["--config-file", str(config)]).store_settings
    assert default.etcd is None
    store = default.opener()(tmp_path / "swarm" / "store.db")
    assert isinstance(store, SQLiteStore)
    await_close(store)


def await_close(store: Store) -> None:
    import asyncio

    asyncio.run(store.close())


def test_an_sqlite_swarm_is_not_silently_replaced_by_etcd(tmp_path: Path) -> None:
    """A node whose swarm is in store.db, started with --cluster-store: a clear error
    (the swarm goes to the error state), not an empty swarm on etcd."""
    from minke.swarm.store.settings import StoreSettings

    db = tmp_path / "swarm" / "store.db"
    db.parent.mkdir()
    db.write_bytes(b"")
    opener = StoreSettings.parse("etcd://127.0.0.1:1/x").opener()
    with pytest.raises(errors.Conflict, match="minke swarm migrate-store"):
        opener(db)
