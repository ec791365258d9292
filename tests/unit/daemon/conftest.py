"""Daemon unit tests: coroutine tests run in a fresh event loop each."""

from tests.support.coroutines import pytest_pyfunc_call  # noqa: F401
