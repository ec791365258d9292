"""The cluster and node specs in Docker's API shape: defaults, the merge ``swarm init``
does, the normalisation ``swarm update`` does, and validation in Docker's words.

``swarm init`` takes SwarmKit's defaults and overrides each field the request sets to a
non-zero value; ``swarm update`` stores the complete spec it is given (the docker CLI
sends back what it read), omitting zero values where Docker's JSON omits them.
"""

from __future__ import annotations

import copy
from typing import Any

from minke import errors

Spec = dict[str, Any]

SECOND = 1_000_000_000
DEFAULT_TASK_HISTORY = 5
# Docker's is 5 s, so a dead node is Down after 15 s; 1 s (Down after 3 s) costs a small
# request per node and second, which the dispatcher serves without a store write.
DEFAULT_HEARTBEAT = 1 * SECOND
DEFAULT_NODE_CERT_EXPIRY = 90 * 24 * 3600 * SECOND
DEFAULT_RAFT = {"SnapshotInterval": 10000, "KeepOldSnapshots": 0,
                "LogEntriesForSlowFollowers": 500, "ElectionTick": 10, "HeartbeatTick": 1}
CLUSTER_NAME = "default"

AVAILABILITIES = ("active", "pause", "drain")
ROLES = ("worker", "manager")


def default_cluster_spec(autolock: bool) -> Spec:
    return {
        "Name": CLUSTER_NAME, "Labels": {},
        "Orchestration": {"TaskHistoryRetentionLimit": DEFAULT_TASK_HISTORY},
        "Raft": dict(DEFAULT_RAFT),
        "Dispatcher": {"HeartbeatPeriod": DEFAULT_HEARTBEAT},
        "CAConfig": {"NodeCertExpiry": DEFAULT_NODE_CERT_EXPIRY},
        "TaskDefaults": {},
        "EncryptionConfig": {"AutoLockManagers": autolock},
    }


# Each spec section's fields (those Docker's API has; unknown ones are dropped, as Go's JSON
# decoder drops them) and whether Docker's JSON omits them when zero.
SECTIONS: dict[str, dict[str, bool]] = {
    "Orchestration": {"TaskHistoryRetentionLimit": False},
    "Raft": {"SnapshotInterval": True, "KeepOldSnapshots": False,
             "LogEntriesForSlowFollowers": True, "ElectionTick": False, "HeartbeatTick": False},
    "Dispatcher": {"HeartbeatPeriod": True},
    "CAConfig": {"NodeCertExpiry": True, "ExternalCAs": True, "SigningCACert": True,
                 "SigningCAKey": True, "ForceRotate": True},
    "TaskDefaults": {"LogDriver": True},
    "EncryptionConfig": {"AutoLockManagers": False},
}
ZERO: dict[str, Any] = {"ExternalCAs": [], "SigningCACert": "", "SigningCAKey": "",
                        "LogDriver": None, "AutoLockManagers": False}


def merge_init_spec(requested: Spec | None, autolock: bool) -> Spec:
    """SwarmKit's defaults with every non-zero field of ``requested`` laid over them."""
    spec = default_cluster_spec(autolock)
    requested = _check_object(requested or {}, "Spec")
    _check_name(requested)
    if requested.get("Labels"):
        spec["Labels"] = _labels(requested["Labels"], "Spec.Labels")
    elif requested.get("Labels") is not None:
        _labels(requested["Labels"], "Spec.Labels")
    for section, fields in SECTIONS.items():
        if section == "EncryptionConfig":
            continue  # the request's AutoLockManagers decides
        given = _optional_object(requested.get(section), f"Spec.{section}")
        for key in fields:
            if given.get(key) not in (None, 0, "", [], {}):
                spec[section][key] = copy.deepcopy(given[key])
    _validate(spec)
    check_ca_change(spec, None)
    return spec


def normalize_update_spec(requested: Spec) -> Spec:
    """The complete spec of a ``swarm update``, in the shape Docker stores and returns."""
    requested = _check_object(requested, "Spec")
    _check_name(requested)
    spec: Spec = {"Name": CLUSTER_NAME,
                  "Labels": _labels(_or_empty(requested.get("Labels")), "Spec.Labels")}
    for section, fields in SECTIONS.items():
        given = _optional_object(requested.get(section), f"Spec.{section}")
        spec[section] = {}
        for key, omit_zero in fields.items():
            value = given.get(key)
            if value in (None, 0, "", [], {}):
                if omit_zero:
                    continue
                value = ZERO.get(key, 0)
            spec[section][key] = copy.deepcopy(value)
    _validate(spec)
    return spec


def check_ca_change(new: Spec, old: Spec | None) -> None:
    """Refuse what the root CA cannot do yet rather than store a spec it ignores: a root
    given by the user (``SigningCACert``/``SigningCAKey``) and a rotation (``ForceRotate``
    changed). ``ExternalCAs`` are kept as data: nothing asks for a certificate yet."""
    ca = new.get("CAConfig", {})
    if ca.get("SigningCACert") or ca.get("SigningCAKey"):
        raise errors.NotSupported("a swarm root CA given by the user (CAConfig.SigningCACert, "
                                  "SigningCAKey) is not supported by minke yet")
    if old is not None and ca.get("ForceRotate", 0) != old.get("CAConfig", {}).get(
            "ForceRotate", 0):
        raise errors.NotSupported("rotating the swarm root CA (CAConfig.ForceRotate) is not "
                                  "supported by minke yet")


def node_cert_expiry(spec: Spec) -> int:
    return int(spec.get("CAConfig", {}).get("NodeCertExpiry") or DEFAULT_NODE_CERT_EXPIRY)


def validate_node_spec(spec: Any) -> Spec:
    """A node update's spec (``Name``, ``Labels``, ``Role``, ``Availability``), checked."""
    spec = _check_object(spec, "node spec")
    role = spec.get("Role", "")
    if role not in ROLES:
        raise errors.InvalidParameter(f'invalid Role: "{role}"')
    availability = spec.get("Availability", "")
    if availability not in AVAILABILITIES:
        raise errors.InvalidParameter(f'invalid Availability: "{availability}"')
    name = spec.get("Name") or ""
    if not isinstance(name, str):
        raise errors.InvalidParameter("invalid node spec: Name must be a string")
    out: Spec = {"Labels": _labels(_or_empty(spec.get("Labels")), "Labels"), "Role": role,
                 "Availability": availability}
    if name:
        out = {"Name": name, **out}
    return out


def _validate(spec: Spec) -> None:
    history = spec["Orchestration"].get("TaskHistoryRetentionLimit", 0)
    if not isinstance(history, int) or isinstance(history, bool):  # Go's int64: may be < 0
        raise errors.InvalidParameter(
            f"invalid Spec.Orchestration.TaskHistoryRetentionLimit: {history!r} (an integer)")
    # The other numbers are Go unsigned integers or durations: never negative.
    for section, key in (("Dispatcher", "HeartbeatPeriod"), ("CAConfig", "NodeCertExpiry"),
                         ("Raft", "SnapshotInterval"), ("Raft", "ElectionTick"),
                         ("Raft", "HeartbeatTick"), ("Raft", "KeepOldSnapshots"),
                         ("Raft", "LogEntriesForSlowFollowers")):
        value = spec[section].get(key, 0)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise errors.InvalidParameter(
                f"invalid Spec.{section}.{key}: {value!r} (a non-negative integer)")
    expiry = spec["CAConfig"].get("NodeCertExpiry")
    if expiry and expiry < 3600 * SECOND:
        # SwarmKit's ca.MinNodeCertExpiration
        raise errors.InvalidParameter(
            "rpc error: code = InvalidArgument desc = minimum certificate expiry time is: 1h0m0s")
    if not isinstance(spec["EncryptionConfig"].get("AutoLockManagers"), bool):
        raise errors.InvalidParameter("invalid Spec.EncryptionConfig.AutoLockManagers: "
                                      "a boolean")
    ca = spec["CAConfig"]
    for key in ("SigningCACert", "SigningCAKey"):
        if not isinstance(ca.get(key, ""), str):
            raise errors.InvalidParameter(f"invalid Spec.CAConfig.{key}: a PEM string")
    if not isinstance(ca.get("ForceRotate", 0), int) or ca.get("ForceRotate", 0) < 0:
        raise errors.InvalidParameter("invalid Spec.CAConfig.ForceRotate: a counter")
    for external in _check_list(ca.get("ExternalCAs", []), "Spec.CAConfig.ExternalCAs"):
        external = _check_object(external, "Spec.CAConfig.ExternalCAs entry")
        if external.get("Protocol", "cfssl") != "cfssl":
            raise errors.InvalidParameter(
                f"invalid protocol: {external.get('Protocol')!r} (only cfssl is known)")
        if not isinstance(external.get("URL"), str) or not external["URL"]:
            raise errors.InvalidParameter("invalid Spec.CAConfig.ExternalCAs entry: no URL")
        _labels(external.get("Options") or {}, "Spec.CAConfig.ExternalCAs Options")
    driver = spec["TaskDefaults"].get("LogDriver")
    if driver is not None:
        driver = _check_object(driver, "Spec.TaskDefaults.LogDriver")
        if not isinstance(driver.get("Name", ""), str):
            raise errors.InvalidParameter("invalid Spec.TaskDefaults.LogDriver: Name must be "
                                          "a string")
        _labels(driver.get("Options") or {}, "Spec.TaskDefaults.LogDriver.Options")


def _check_name(spec: Spec) -> None:
    name = spec.get("Name") or CLUSTER_NAME
    if name != CLUSTER_NAME:
        raise errors.InvalidParameter('swarm spec must be named "default"')


def _check_object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise errors.InvalidParameter(f"invalid {what}: a JSON object is expected")
    return value


def _optional_object(value: Any, what: str) -> dict[str, Any]:
    """A JSON object, or {} for null/absent (a wrong type is refused, as Go's decoder)."""
    return {} if value is None else _check_object(value, what)


def _or_empty(value: Any) -> Any:
    return {} if value is None else value


def _check_list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise errors.InvalidParameter(f"invalid {what}: a JSON array is expected")
    return value


def _labels(value: Any, what: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                              for k, v in value.items()):
        raise errors.InvalidParameter(f"invalid {what}: a map of strings is expected")
    return dict(value)
