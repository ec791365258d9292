"""Runs the coroutine tests of this directory, each in a fresh event loop (no plugin needed)."""

from __future__ import annotations

from tests.support.coroutines import pytest_pyfunc_call

__all__ = ["pytest_pyfunc_call"]  # a hook: pytest finds it by name in this conftest
