"""The versions minke reports and accepts on the Docker Engine API."""

from __future__ import annotations

from minke import __version__

API_VERSION = "1.41"  # the newest Docker Engine API version minke implements
MIN_API_VERSION = "1.24"  # the oldest accepted, as dockerd accepts
DOCKER_COMPAT_VERSION = "20.10.24"  # the Docker release whose API minke matches
MINKE_VERSION = __version__


def parse(version: str) -> tuple[int, int]:
    major, _, minor = version.partition(".")
    return int(major), int(minor or 0)
