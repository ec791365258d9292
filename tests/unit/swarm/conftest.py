"""Swarm unit tests: coroutine tests run in a fresh event loop each; ``etcd`` is a real
etcd member shared by the session (tests that use it are marked integration)."""

from tests.support.coroutines import pytest_pyfunc_call  # noqa: F401
from tests.support.etcd import etcd  # noqa: F401
