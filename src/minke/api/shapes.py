"""Typed shapes of the API's JSON request bodies, checked once at the boundary.

Owns what type every field of a write endpoint's body has (Docker's Go types: the create
config with its ``HostConfig`` and ``NetworkingConfig``, exec create and start, network
create and connect, volume create, container update, commit, auth) and the one check of a
decoded body against its shape. A value of the wrong JSON type is an ``InvalidParameter``
naming the field's path (``HostConfig.RestartPolicy.Name: expected string, got array``),
so that the engine only ever sees the types it was written for. What a value *means* (a
valid subnet, a known capability) stays the engine's to judge.

As Go decodes JSON, fields not listed here are ignored, ``null`` leaves a field unset, and
``null`` in a list or map of strings, numbers or booleans is that type's zero value (``""``,
``0``, ``false``: the body is amended in place). Other ``null`` items (an object in a list)
are refused unless the Go type is a pointer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from minke.errors import InvalidParameter

__all__ = [
    "AUTH", "COMMIT", "CONTAINER_CREATE", "CONTAINER_UPDATE", "EXEC_CREATE", "EXEC_START",
    "NETWORK_CONNECT", "NETWORK_CREATE", "NETWORK_DISCONNECT", "VOLUME_CREATE", "Shape",
    "check",
]


def _kind(value: Any) -> str:
    """The JSON type of a decoded value, in JSON's words."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return f"number {value!r}" if isinstance(value, float) else "integer"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


class Shape:
    """A JSON type. Inside a list or a map, ``null`` is kept where ``nullable`` (a Go
    pointer), becomes ``zero`` where the type has one, and is refused otherwise (struct
    fields may always be ``null``)."""

    expected = "any value"
    nullable = True
    zero: Any = None

    def accepts(self, value: Any) -> bool:
        return True

    def check(self, value: Any, path: str) -> None:
        if not self.accepts(value):
            raise InvalidParameter(f"{path}: expected {self.expected}, got {_kind(value)}")

    def check_item(self, container: Any, key: Any, path: str) -> None:
        """``container[key]``, an element of a list or a value of a map."""
        value = container[key]
        if value is not None:
            self.check(value, path)
        elif self.zero is not None:
            container[key] = self.zero
        elif not self.nullable:
            raise InvalidParameter(f"{path}: expected {self.expected}, got null")


class _Str(Shape):
    expected = "string"
    zero = ""

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str)


class _Bool(Shape):
    expected = "boolean"
    zero = False

    def accepts(self, value: Any) -> bool:
        return isinstance(value, bool)


class Int(Shape):
    """A Go integer type: a JSON number without a fraction, within ``bits`` (signed or not)."""

    expected = "integer"
    zero = 0

    def __init__(self, bits: int = 64, *, signed: bool = True) -> None:
        self.low = -(1 << (bits - 1)) if signed else 0
        self.high = (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1

    def check(self, value: Any, path: str) -> None:
        super().check(value, path)
        if not self.low <= value <= self.high:
            raise InvalidParameter(
                f"{path}: {value} is out of range (expected {self.low} to {self.high})")

    def accepts(self, value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)


class ListOf(Shape):
    def __init__(self, item: Shape, *, nullable: bool = False) -> None:
        self.item = item
        self.nullable = nullable
        self.expected = f"array of {item.expected}s" if isinstance(item, _Str | _Bool | Int) \
            else "array"

    def check(self, value: Any, path: str) -> None:
        if not isinstance(value, list):
            raise InvalidParameter(f"{path}: expected {self.expected}, got {_kind(value)}")
        for index in range(len(value)):
            self.item.check_item(value, index, f"{path}[{index}]")


class MapOf(Shape):
    """A JSON object with any keys (a Go map)."""

    def __init__(self, value: Shape, *, nullable: bool = False) -> None:
        self.value = value
        self.nullable = nullable
        self.expected = "object of strings" if isinstance(value, _Str) else "object"

    def check(self, value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise InvalidParameter(f"{path}: expected {self.expected}, got {_kind(value)}")
        for key in value:
            self.value.check_item(value, key, f"{path}[{json.dumps(key, ensure_ascii=False)}]")


class Struct(Shape):
    """A JSON object with named fields (a Go struct): unknown fields are ignored, ``null``
    leaves a field unset."""

    expected = "object"

    def __init__(self, fields: Mapping[str, Shape], *, nullable: bool = False,
                 bases: tuple[Struct, ...] = ()) -> None:
        self.fields: dict[str, Shape] = {}
        for base in bases:
            self.fields.update(base.fields)
        self.fields.update(fields)
        self.nullable = nullable

    def check(self, value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise InvalidParameter(f"{path or 'body'}: expected object, got {_kind(value)}")
        fields = self.fields
        for key, item in value.items():
            shape = fields.get(key)
            if shape is not None and item is not None:
                shape.check(item, _child(path, key))


class _StrSlice(Shape):
    """Docker's ``strslice.StrSlice``: a string or an array of strings."""

    expected = "string or array of strings"

    def check(self, value: Any, path: str) -> None:
        if isinstance(value, str):
            return
        if not isinstance(value, list):
            raise InvalidParameter(f"{path}: expected {self.expected}, got {_kind(value)}")
        for index in range(len(value)):
            STR.check_item(value, index, f"{path}[{index}]")


STR = _Str()
BOOL = _Bool()
INT = Int(64)
UINT16 = Int(16, signed=False)
UINT32 = Int(32, signed=False)
UINT64 = Int(64, signed=False)
STRS = ListOf(STR)
STR_MAP = MapOf(STR)
STR_SLICE = _StrSlice()
EMPTY = Struct({}, nullable=True)  # Go's struct{}: ExposedPorts' and Volumes' values


def check(shape: Shape, body: Any) -> None:
    """Raise ``InvalidParameter`` naming the first field of ``body`` that ``shape`` refuses."""
    shape.check(body, "")


# -- the create config (``container.Config``) -----------------------------------------------

HEALTH_CONFIG = Struct({
    "Test": STRS, "Interval": INT, "Timeout": INT, "StartPeriod": INT,
    "StartInterval": INT, "Retries": INT,
})

CONFIG = Struct({
    "Hostname": STR, "Domainname": STR, "User": STR,
    "AttachStdin": BOOL, "AttachStdout": BOOL, "AttachStderr": BOOL,
    "ExposedPorts": MapOf(EMPTY), "Tty": BOOL, "OpenStdin": BOOL, "StdinOnce": BOOL,
    # Docker's Env is []string; minke has always also taken one string, as for Cmd.
    "Env": STR_SLICE, "Cmd": STR_SLICE, "Healthcheck": HEALTH_CONFIG, "ArgsEscaped": BOOL,
    "Image": STR, "Volumes": MapOf(EMPTY), "WorkingDir": STR, "Entrypoint": STR_SLICE,
    "NetworkDisabled": BOOL, "MacAddress": STR, "OnBuild": STRS, "Labels": STR_MAP,
    "StopSignal": STR, "StopTimeout": INT, "Shell": STR_SLICE,
})

# -- HostConfig (``container.HostConfig`` with its embedded ``Resources``) ------------------

THROTTLE_DEVICE = Struct({"Path": STR, "Rate": UINT64})
WEIGHT_DEVICE = Struct({"Path": STR, "Weight": UINT16})
DEVICE_MAPPING = Struct({"PathOnHost": STR, "PathInContainer": STR, "CgroupPermissions": STR})
DEVICE_REQUEST = Struct({
    "Driver": STR, "Count": INT, "DeviceIDs": STRS, "Capabilities": ListOf(STRS),
    "Options": STR_MAP,
})
ULIMIT = Struct({"Name": STR, "Hard": INT, "Soft": INT})

RESOURCES = Struct({
    "CpuShares": INT, "Memory": INT, "NanoCpus": INT, "CgroupParent": STR,
    "BlkioWeight": UINT16, "BlkioWeightDevice": ListOf(WEIGHT_DEVICE),
    "BlkioDeviceReadBps": ListOf(THROTTLE_DEVICE), "BlkioDeviceWriteBps": ListOf(THROTTLE_DEVICE),
    "BlkioDeviceReadIOps": ListOf(THROTTLE_DEVICE),
    "BlkioDeviceWriteIOps": ListOf(THROTTLE_DEVICE),
    "CpuPeriod": INT, "CpuQuota": INT, "CpuRealtimePeriod": INT, "CpuRealtimeRuntime": INT,
    "CpusetCpus": STR, "CpusetMems": STR, "Devices": ListOf(DEVICE_MAPPING),
    "DeviceCgroupRules": STRS, "DeviceRequests": ListOf(DEVICE_REQUEST),
    "KernelMemory": INT, "KernelMemoryTCP": INT, "MemoryReservation": INT, "MemorySwap": INT,
    "MemorySwappiness": INT, "OomKillDisable": BOOL, "PidsLimit": INT,
    "Ulimits": ListOf(ULIMIT), "CpuCount": INT, "CpuPercent": INT,
    "IOMaximumIOps": UINT64, "IOMaximumBandwidth": UINT64,
})

RESTART_POLICY = Struct({"Name": STR, "MaximumRetryCount": INT})
LOG_CONFIG = Struct({"Type": STR, "Config": STR_MAP})
PORT_BINDING = Struct({"HostIp": STR, "HostPort": STR})

MOUNT = Struct({
    "Target": STR, "Source": STR, "Type": STR, "ReadOnly": BOOL, "Consistency": STR,
    "BindOptions": Struct({"Propagation": STR, "NonRecursive": BOOL,
                           "CreateMountpoint": BOOL}),
    "VolumeOptions": Struct({
        "NoCopy": BOOL, "Labels": STR_MAP, "Subpath": STR,
        "DriverConfig": Struct({"Name": STR, "Options": STR_MAP}),
    }),
    "TmpfsOptions": Struct({"SizeBytes": INT, "Mode": UINT32}),
})

HOST_CONFIG = Struct({
    "Binds": STRS, "ContainerIDFile": STR, "LogConfig": LOG_CONFIG, "NetworkMode": STR,
    "PortBindings": MapOf(ListOf(PORT_BINDING, nullable=True)),
    "RestartPolicy": RESTART_POLICY, "AutoRemove": BOOL, "VolumeDriver": STR,
    "VolumesFrom": STRS, "Mounts": ListOf(MOUNT), "ConsoleSize": ListOf(UINT64),
    "Annotations": STR_MAP, "CapAdd": STR_SLICE, "CapDrop": STR_SLICE, "CgroupnsMode": STR,
    "Dns": STRS, "DnsOptions": STRS, "DnsSearch": STRS, "ExtraHosts": STRS, "GroupAdd": STRS,
    "IpcMode": STR, "Cgroup": STR, "Links": STRS, "OomScoreAdj": INT, "PidMode": STR,
    "Privileged": BOOL, "PublishAllPorts": BOOL, "ReadonlyRootfs": BOOL, "SecurityOpt": STRS,
    "StorageOpt": STR_MAP, "Tmpfs": STR_MAP, "UTSMode": STR, "UsernsMode": STR,
    "ShmSize": INT, "Sysctls": STR_MAP, "Runtime": STR, "Isolation": STR,
    "MaskedPaths": STRS, "ReadonlyPaths": STRS, "Init": BOOL,
}, bases=(RESOURCES,))

# -- networking (``network.EndpointSettings``) ----------------------------------------------

ENDPOINT_SETTINGS = Struct({
    "IPAMConfig": Struct({"IPv4Address": STR, "IPv6Address": STR, "LinkLocalIPs": STRS}),
    "Links": STRS, "Aliases": STRS, "MacAddress": STR, "DriverOpts": STR_MAP,
    "NetworkID": STR, "EndpointID": STR, "Gateway": STR, "IPAddress": STR,
    "IPPrefixLen": INT, "IPv6Gateway": STR, "GlobalIPv6Address": STR,
    "GlobalIPv6PrefixLen": INT, "DNSNames": STRS,
}, nullable=True)  # EndpointsConfig maps to *EndpointSettings

NETWORKING_CONFIG = Struct({"EndpointsConfig": MapOf(ENDPOINT_SETTINGS)})

# -- the bodies -----------------------------------------------------------------------------

CONTAINER_CREATE = Struct({"HostConfig": HOST_CONFIG, "NetworkingConfig": NETWORKING_CONFIG},
                          bases=(CONFIG,))

CONTAINER_UPDATE = Struct({"RestartPolicy": RESTART_POLICY}, bases=(RESOURCES,))

COMMIT = CONFIG

EXEC_CREATE = Struct({
    "AttachStdin": BOOL, "AttachStdout": BOOL, "AttachStderr": BOOL,
    "ConsoleSize": ListOf(UINT64), "DetachKeys": STR, "Tty": BOOL,
    "Env": STRS, "Cmd": STR_SLICE, "Privileged": BOOL, "User": STR, "WorkingDir": STR,
})

EXEC_START = Struct({"Detach": BOOL, "Tty": BOOL, "ConsoleSize": ListOf(UINT64)})

IPAM_CONFIG = Struct({"Subnet": STR, "IPRange": STR, "Gateway": STR,
                      "AuxiliaryAddresses": STR_MAP})

NETWORK_CREATE = Struct({
    "Name": STR, "CheckDuplicate": BOOL, "Driver": STR, "Scope": STR, "Internal": BOOL,
    "Attachable": BOOL, "Ingress": BOOL, "ConfigOnly": BOOL,
    "ConfigFrom": Struct({"Network": STR}), "EnableIPv6": BOOL, "EnableIPv4": BOOL,
    "IPAM": Struct({"Driver": STR, "Config": ListOf(IPAM_CONFIG), "Options": STR_MAP}),
    "Options": STR_MAP, "Labels": STR_MAP,
})

NETWORK_CONNECT = Struct({"Container": STR, "EndpointConfig": ENDPOINT_SETTINGS})

NETWORK_DISCONNECT = Struct({"Container": STR, "Force": BOOL})

VOLUME_CREATE = Struct({"Name": STR, "Driver": STR, "DriverOpts": STR_MAP, "Labels": STR_MAP})

AUTH = Struct({
    "username": STR, "password": STR, "auth": STR, "email": STR, "serveraddress": STR,
    "identitytoken": STR, "registrytoken": STR,
})
