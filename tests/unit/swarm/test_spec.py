"""Cluster and node specs: SwarmKit's defaults, the init merge, the update shape as dockerd
stores it, and bad input refused with a clear message (never another exception)."""

from __future__ import annotations

from typing import Any

import pytest

from minke import errors
from minke.swarm.manager import spec as specs


def test_update_stores_the_complete_spec_in_dockers_shape() -> None:
    # What dockerd 20.10 returned after POST /swarm/update with only a name and labels.
    assert specs.normalize_update_spec({"Name": "default", "Labels": {"a": "b"}}) == {
        "Name": "default", "Labels": {"a": "b"},
        "Orchestration": {"TaskHistoryRetentionLimit": 0},
        "Raft": {"KeepOldSnapshots": 0, "ElectionTick": 0, "HeartbeatTick": 0},
        "Dispatcher": {}, "CAConfig": {}, "TaskDefaults": {},
        "EncryptionConfig": {"AutoLockManagers": False},
    }


def test_update_round_trips_a_full_spec() -> None:
    full = specs.default_cluster_spec(autolock=True)
    full["TaskDefaults"] = {"LogDriver": {"Name": "json-file", "Options": {"max-size": "1m"}}}
    full["CAConfig"]["ExternalCAs"] = [{"Protocol": "cfssl", "URL": "https://ca.example"}]
    assert specs.normalize_update_spec(full) == full


def test_init_merges_non_zero_fields_over_defaults_and_drops_unknown_ones() -> None:
    merged = specs.merge_init_spec({"Raft": {"ElectionTick": 20, "Bogus": 1},
                                    "Dispatcher": {"HeartbeatPeriod": 0},
                                    "Colour": "blue"}, autolock=False)
    expected = specs.default_cluster_spec(autolock=False)
    expected["Raft"]["ElectionTick"] = 20
    assert merged == expected


@pytest.mark.parametrize("spec", [
    [], {"Name": 5}, {"Labels": ["a"]}, {"Labels": {"a": 1}}, {"Raft": []},
    {"Raft": {"ElectionTick": "ten"}}, {"Raft": {"HeartbeatTick": -1}},
    {"Raft": {"SnapshotInterval": True}}, {"Dispatcher": {"HeartbeatPeriod": 1.5}},
    {"Orchestration": {"TaskHistoryRetentionLimit": "5"}},
    {"CAConfig": {"NodeCertExpiry": "90d"}}, {"CAConfig": {"ExternalCAs": "x"}},
    {"CAConfig": {"ExternalCAs": [{"Protocol": "acme", "URL": "u"}]}},
    {"CAConfig": {"ExternalCAs": [{"URL": ""}]}}, {"CAConfig": {"ExternalCAs": [5]}},
    {"CAConfig": {"ForceRotate": "1"}}, {"TaskDefaults": {"LogDriver": "json-file"}},
    {"TaskDefaults": {"LogDriver": {"Name": "x", "Options": {"a": 1}}}},
    {"EncryptionConfig": {"AutoLockManagers": "yes"}}, {"EncryptionConfig": []},
])
def test_bad_cluster_specs_are_invalid_parameters(spec: Any) -> None:
    with pytest.raises(errors.InvalidParameter):
        specs.normalize_update_spec(spec)
    if spec and isinstance(spec, dict) and "EncryptionConfig" not in spec:
        with pytest.raises(errors.InvalidParameter):
            specs.merge_init_spec(spec, autolock=False)


@pytest.mark.parametrize("spec, message", [
    ([], "a JSON object is expected"),
    ({"Role": "manager"}, 'invalid Availability: ""'),
    ({"Role": "boss", "Availability": "active"}, 'invalid Role: "boss"'),
    ({"Role": "worker", "Availability": "active", "Labels": {"a": 1}}, "map of strings"),
    ({"Role": "worker", "Availability": "active", "Name": 5}, "Name must be a string"),
])
def test_bad_node_specs(spec: Any, message: str) -> None:
    with pytest.raises(errors.InvalidParameter, match=message):
        specs.validate_node_spec(spec)


def test_node_spec_keeps_dockers_fields_only() -> None:
    assert specs.validate_node_spec({"Role": "worker", "Availability": "drain", "Extra": 1,
                                     "Labels": {"a": "b"}, "Name": "n1"}) == \
        {"Name": "n1", "Labels": {"a": "b"}, "Role": "worker", "Availability": "drain"}
