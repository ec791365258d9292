"""Registries: the OCI Distribution API v2 client (pull, push, login, remote inspect),
endpoints and TLS, authentication, and the layer metadata that lets push skip or mount.

The API layer calls ``ImageService.pull/push/login/inspect_remote``; this package holds the
work. Credentials arrive per call (what ``X-Registry-Auth`` carried), never from a file.
"""

from minke.engine.images.registry.endpoint import Endpoint, RegistryConfig
from minke.engine.images.registry.manifest import Platform, parse_platform
from minke.engine.images.registry.metadata import DistributionMetadata
from minke.engine.images.registry.pull import PullResult
from minke.engine.images.registry.push import PushResult

__all__ = [
    "DistributionMetadata",
    "Endpoint",
    "Platform",
    "PullResult",
    "PushResult",
    "RegistryConfig",
    "parse_platform",
]
