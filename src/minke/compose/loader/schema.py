"""The compose-spec JSON schema (draft 2020-12), stated by minke.

This is the newest schema of the Compose Specification: compose-go's
``schema/compose-spec.json``, which the spec's own repository names its source of truth
(it adds ``pre_start`` hooks, ``build.no_cache_filter`` and null service ``models`` to the
copy in github.com/compose-spec/compose-spec). It is written as Python, property by
property, so that minke ships what it validates against and nothing it does not need at
run time (descriptions are left out). ``tests/unit/compose/test_schema.py`` checks it
against both reference files: equal to compose-go's, a superset of compose-spec's, and
every key it adds handled by the loader. Built once, on first use.
"""

from __future__ import annotations

from functools import cache
from typing import Any

X = {"^x-": {}}  # every object of the spec admits x- extensions
NAME = "^[a-zA-Z0-9._-]+$"


def t(*types: str) -> dict[str, Any]:
    return {"type": types[0] if len(types) == 1 else list(types)}


def ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/$defs/{name}"}


def strings(unique: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "array", "items": t("string")}
    if unique:
        out["uniqueItems"] = True
    return out


def one_of(*options: dict[str, Any]) -> dict[str, Any]:
    return {"oneOf": list(options)}


def obj(properties: dict[str, Any], *, required: list[str] | None = None,
        extensions: bool = True, closed: bool = True, types: Any = "object") -> dict[str, Any]:
    out: dict[str, Any] = {"type": types, "properties": properties}
    if required:
        out["required"] = required
    if closed:
        out["additionalProperties"] = False
    if extensions:
        out["patternProperties"] = dict(X)
    return out


def opts(*types: str) -> dict[str, Any]:
    """A free-form options map (driver_opts, logging options...)."""
    return {"type": "object", "patternProperties": {"^.+$": t(*types)}}


BOOL = t("boolean", "string")  # booleans may come from interpolation, as strings
INT = t("integer", "string")
NUM = t("number", "string")
EXTERNAL = {"type": ["boolean", "string", "object"], "properties": {"name": t("string")}}


def _service() -> dict[str, Any]:
    build = obj({
        "context": t("string"), "dockerfile": t("string"), "dockerfile_inline": t("string"),
        "entitlements": strings(), "args": ref("list_or_dict"), "ssh": ref("list_or_dict"),
        "labels": ref("list_or_dict"), "cache_from": strings(), "cache_to": strings(),
        "no_cache": BOOL, "additional_contexts": ref("list_or_dict"), "network": t("string"),
        "provenance": t("string", "boolean"), "sbom": t("string", "boolean"), "pull": BOOL,
        "target": t("string"), "shm_size": INT, "extra_hosts": ref("extra_hosts"),
        "isolation": t("string"), "privileged": BOOL, "no_cache_filter": ref("string_or_list"),
        "secrets": ref("service_config_or_secret"), "tags": strings(),
        "ulimits": ref("ulimits"), "platforms": strings(),
    })
    blkio = {
        "type": "object", "additionalProperties": False, "properties": {
            "device_read_bps": {"type": "array", "items": ref("blkio_limit")},
            "device_read_iops": {"type": "array", "items": ref("blkio_limit")},
            "device_write_bps": {"type": "array", "items": ref("blkio_limit")},
            "device_write_iops": {"type": "array", "items": ref("blkio_limit")},
            "weight": INT,
            "weight_device": {"type": "array", "items": ref("blkio_weight")},
        }}
    depends_on = one_of(ref("list_of_strings"), {
        "type": "object", "additionalProperties": False,
        "patternProperties": {NAME: obj({
            "restart": BOOL, "required": {"type": "boolean", "default": True},
            "condition": {"type": "string", "enum": [
                "service_started", "service_healthy", "service_completed_successfully"]},
        }, required=["condition"])}})
    network_attachment = obj({
        "aliases": ref("list_of_strings"), "interface_name": t("string"),
        "ipv4_address": t("string"), "ipv6_address": t("string"),
        "link_local_ips": ref("list_of_strings"), "mac_address": t("string"),
        "driver_opts": opts("string", "number"), "priority": t("number"),
        "gw_priority": t("number"),
    })
    volume = obj({
        "type": {"type": "string",
                 "enum": ["bind", "volume", "tmpfs", "cluster", "npipe", "image"]},
        "source": t("string"), "target": t("string"), "read_only": BOOL,
        "consistency": t("string"),
        "bind": obj({"propagation": t("string"), "create_host_path": BOOL,
                     "recursive": {"type": "string",
                                   "enum": ["enabled", "disabled", "writable", "readonly"]},
                     "selinux": {"type": "string", "enum": ["z", "Z"]}}),
        "volume": obj({"labels": ref("list_or_dict"), "nocopy": BOOL, "subpath": t("string")}),
        "tmpfs": obj({"size": one_of({"type": "integer", "minimum": 0}, t("string")),
                      "mode": NUM}),
        "image": obj({"subpath": t("string")}),
    }, required=["type"])
    port = obj({"name": t("string"), "mode": t("string"), "host_ip": t("string"),
                "target": INT, "published": t("string", "integer"), "protocol": t("string"),
                "app_protocol": t("string")})
    properties: dict[str, Any] = {
        "develop": ref("development"), "deploy": ref("deployment"),
        "annotations": ref("list_or_dict"), "attach": BOOL,
        "build": one_of(t("string"), build), "blkio_config": blkio,
        "cap_add": strings(True), "cap_drop": strings(True),
        "cgroup": {"type": "string", "enum": ["host", "private"]},
        "cgroup_parent": t("string"), "command": ref("command"),
        "configs": ref("service_config_or_secret"),
        "container_name": {"type": "string", "pattern": "[a-zA-Z0-9][a-zA-Z0-9_.-]+"},
        "cpu_count": one_of(t("string"), {"type": "integer", "minimum": 0}),
        "cpu_percent": one_of(t("string"), {"type": "integer", "minimum": 0, "maximum": 100}),
        **{k: NUM for k in ("cpu_shares", "cpu_quota", "cpu_period", "cpu_rt_period",
                            "cpu_rt_runtime", "cpus")},
        "cpuset": t("string"),
        "credential_spec": obj({"config": t("string"), "file": t("string"),
                                "registry": t("string")}),
        "depends_on": depends_on, "device_cgroup_rules": ref("list_of_strings"),
        "devices": {"type": "array", "items": one_of(t("string"), obj(
            {"source": t("string"), "target": t("string"), "permissions": t("string")},
            required=["source"]))},
        "dns": ref("string_or_list"), "dns_opt": strings(True),
        "dns_search": ref("string_or_list"), "domainname": t("string"),
        "entrypoint": ref("command"), "env_file": ref("env_file"),
        "label_file": ref("label_file"), "environment": ref("list_or_dict"),
        "expose": {"type": "array", "items": t("string", "number"), "uniqueItems": True},
        "extends": one_of(t("string"), obj({"service": t("string"), "file": t("string")},
                                            required=["service"], extensions=False)),
        "provider": obj({"type": t("string"), "options": {
            "type": "object", "patternProperties": {"^.+$": one_of(
                t("string", "number", "boolean"),
                {"type": "array", "items": t("string", "number", "boolean")})}}},
            required=["type"]),
        "external_links": strings(True), "extra_hosts": ref("extra_hosts"),
        "gpus": ref("gpus"),
        "group_add": {"type": "array", "items": t("string", "number"), "uniqueItems": True},
        "healthcheck": ref("healthcheck"), "hostname": t("string"), "image": t("string"),
        "init": BOOL, "ipc": t("string"), "isolation": t("string"),
        "labels": ref("list_or_dict"), "links": strings(True),
        "logging": obj({"driver": t("string"), "options": opts("string", "number", "null")}),
        "mac_address": t("string"), "mem_limit": NUM, "mem_reservation": t("string", "integer"),
        "mem_swappiness": INT, "memswap_limit": NUM, "network_mode": t("string"),
        "models": one_of(ref("list_of_strings"), {"type": "object", "patternProperties": {
            NAME: one_of(obj({"endpoint_var": t("string"), "model_var": t("string")}),
                         t("null"))}}),
        "networks": one_of(ref("list_of_strings"), {
            "type": "object", "additionalProperties": False,
            "patternProperties": {NAME: one_of(network_attachment, t("null"))}}),
        "oom_kill_disable": BOOL,
        "oom_score_adj": one_of(t("string"),
                                {"type": "integer", "minimum": -1000, "maximum": 1000}),
        "pid": t("string", "null"), "pids_limit": NUM, "platform": t("string"),
        "ports": {"type": "array", "uniqueItems": True,
                  "items": one_of(t("number"), t("string"), port)},
        "post_start": {"type": "array", "items": ref("service_hook")},
        "pre_start": {"type": "array", "items": ref("pre_start_hook")},
        "pre_stop": {"type": "array", "items": ref("service_hook")},
        "privileged": BOOL, "profiles": ref("list_of_strings"),
        "pull_policy": {"type": "string", "pattern": "always|never|build|if_not_present|"
                        "missing|refresh|daily|weekly|every_([0-9]+[wdhms])+"},
        "pull_refresh_after": t("string"), "read_only": BOOL, "restart": t("string"),
        "runtime": t("string"), "scale": INT, "security_opt": strings(True),
        "shm_size": NUM, "secrets": ref("service_config_or_secret"),
        "sysctls": ref("list_or_dict"), "stdin_open": BOOL,
        "stop_grace_period": t("string"), "stop_signal": t("string"),
        "storage_opt": {"type": "object"}, "tmpfs": ref("string_or_list"), "tty": BOOL,
        "ulimits": ref("ulimits"), "use_api_socket": t("boolean"), "user": t("string"),
        "uts": t("string"), "userns_mode": t("string"),
        "volumes": {"type": "array", "uniqueItems": True, "items": one_of(t("string"), volume)},
        "volumes_from": strings(True), "working_dir": t("string"),
    }
    return obj(properties)


def _update_config() -> dict[str, Any]:
    return obj({"parallelism": INT, "delay": t("string"), "failure_action": t("string"),
                "monitor": t("string"), "max_failure_ratio": NUM,
                "order": {"type": "string", "enum": ["start-first", "stop-first"]}})


def _device_request(required: bool) -> dict[str, Any]:
    props = {"capabilities": ref("list_of_strings"), "count": t("string", "integer"),
             "device_ids": ref("list_of_strings"), "driver": t("string"),
             "options": ref("list_or_dict")}
    if required:
        return obj(props, required=["capabilities"])
    return {"type": "object", "properties": props}


def _definitions() -> dict[str, Any]:
    hook = obj({"command": ref("command"), "user": t("string"), "privileged": BOOL,
                "working_dir": t("string"), "environment": ref("list_or_dict")},
               required=["command"])
    return {
        "service": _service(),
        "healthcheck": obj({"disable": BOOL, "interval": t("string"), "retries": NUM,
                            "test": one_of(t("string"), strings()), "timeout": t("string"),
                            "start_period": t("string"), "start_interval": t("string")}),
        "development": obj({"watch": {"type": "array", "items": obj({
            "ignore": ref("string_or_list"), "include": ref("string_or_list"),
            "path": t("string"),
            "action": {"type": "string", "enum": [
                "rebuild", "sync", "restart", "sync+restart", "sync+exec"]},
            "target": t("string"), "exec": ref("service_hook"),
            "initial_sync": t("boolean")}, required=["path", "action"])}},
            types=["object", "null"]),
        "deployment": obj({
            "mode": t("string"), "endpoint_mode": t("string"), "replicas": INT,
            "labels": ref("list_or_dict"), "rollback_config": _update_config(),
            "update_config": _update_config(),
            "resources": obj({
                "limits": obj({"cpus": NUM, "memory": t("string"), "pids": INT}),
                "reservations": obj({"cpus": NUM, "memory": t("string"),
                                     "generic_resources": ref("generic_resources"),
                                     "devices": ref("devices")})}),
            "restart_policy": obj({"condition": t("string"), "delay": t("string"),
                                   "max_attempts": INT, "window": t("string")}),
            "placement": obj({
                "constraints": strings(),
                "preferences": {"type": "array", "items": obj({"spread": t("string")})},
                "max_replicas_per_node": INT}),
        }, types=["object", "null"]),
        "generic_resources": {"type": "array", "items": obj({
            "discrete_resource_spec": obj({"kind": t("string"), "value": NUM})})},
        "devices": {"type": "array", "items": _device_request(True)},
        "gpus": one_of({"type": "string", "enum": ["all"]},
                       {"type": "array", "items": _device_request(False),
                        "additionalProperties": False, "patternProperties": dict(X)}),
        "include": one_of(t("string"), obj({
            "path": ref("string_or_list"), "env_file": ref("string_or_list"),
            "project_directory": t("string")}, extensions=False)),
        "network": obj({
            "name": t("string"), "driver": t("string"), "driver_opts": opts("string", "number"),
            "ipam": obj({
                "driver": t("string"),
                "config": {"type": "array", "items": obj({
                    "subnet": t("string"), "ip_range": t("string"), "gateway": t("string"),
                    "aux_addresses": {"type": "object", "additionalProperties": False,
                                      "patternProperties": {"^.+$": t("string")}}})},
                "options": {"type": "object", "additionalProperties": False,
                            "patternProperties": {"^.+$": t("string")}}}),
            "external": {**EXTERNAL, "additionalProperties": False,
                         "patternProperties": dict(X)},
            "internal": BOOL, "enable_ipv4": BOOL, "enable_ipv6": BOOL, "attachable": BOOL,
            "labels": ref("list_or_dict")}, types=["object", "null"]),
        "volume": obj({
            "name": t("string"), "driver": t("string"), "driver_opts": opts("string", "number"),
            "external": {**EXTERNAL, "additionalProperties": False,
                         "patternProperties": dict(X)},
            "labels": ref("list_or_dict")}, types=["object", "null"]),
        "secret": obj({
            "name": t("string"), "environment": t("string"), "file": t("string"),
            "external": dict(EXTERNAL), "labels": ref("list_or_dict"), "driver": t("string"),
            "driver_opts": opts("string", "number"), "template_driver": t("string")}),
        "config": obj({
            "name": t("string"), "content": t("string"), "environment": t("string"),
            "file": t("string"), "external": dict(EXTERNAL), "labels": ref("list_or_dict"),
            "template_driver": t("string")}),
        "model": obj({"name": t("string"), "model": t("string"),
                      "context_size": t("integer"), "runtime_flags": strings()},
                     required=["model"]),
        "command": one_of(t("null"), t("string"), strings()),
        "service_hook": hook,
        "pre_start_hook": obj({"command": ref("command"), "image": t("string"),
                               "user": t("string"), "privileged": BOOL,
                               "working_dir": t("string"), "environment": ref("list_or_dict"),
                               "per_replica": BOOL}),
        "env_file": one_of(t("string"), {"type": "array", "items": one_of(t("string"), {
            "type": "object", "additionalProperties": False,
            "properties": {"path": t("string"), "format": t("string"),
                           "required": {"type": ["boolean", "string"], "default": True}},
            "required": ["path"]})}),
        "label_file": one_of(t("string"), strings()),
        "string_or_list": one_of(t("string"), ref("list_of_strings")),
        "list_of_strings": strings(True),
        "list_or_dict": one_of(
            {"type": "object", "additionalProperties": False,
             "patternProperties": {".+": t("string", "number", "boolean", "null")}},
            strings(True)),
        "extra_hosts": one_of(
            {"type": "object", "additionalProperties": False, "patternProperties": {
                ".+": one_of(t("string"), {"type": "array", "items": t("string"),
                                           "uniqueItems": False})}},
            strings(True)),
        "blkio_limit": obj({"path": t("string"), "rate": INT}, extensions=False),
        "blkio_weight": obj({"path": t("string"), "weight": INT}, extensions=False),
        "service_config_or_secret": {"type": "array", "items": one_of(t("string"), obj({
            "source": t("string"), "target": t("string"), "uid": t("string"),
            "gid": t("string"), "mode": NUM}))},
        "ulimits": {"type": "object", "patternProperties": {"^[a-z]+$": one_of(
            INT, obj({"hard": INT, "soft": INT}, required=["soft", "hard"]))}},
    }


def _named(definition: str, closed: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "patternProperties": {NAME: ref(definition)}}
    if closed:
        out["additionalProperties"] = False
    return out


@cache
def compose_schema() -> dict[str, Any]:
    """The whole schema, as ``jsonschema`` takes it."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "compose_spec.json",
        "type": "object",
        "title": "Compose Specification",
        "properties": {
            "version": t("string"), "name": t("string"),
            "include": {"type": "array", "items": ref("include")},
            "services": _named("service"), "models": _named("model", closed=False),
            "networks": _named("network", closed=False), "volumes": _named("volume"),
            "secrets": _named("secret"), "configs": _named("config"),
        },
        "patternProperties": dict(X),
        "additionalProperties": False,
        "$defs": _definitions(),
    }
