"""Coroutine tests without a plugin: a ``pytest_pyfunc_call`` hook that runs each
``async def`` test in a fresh event loop. A conftest enables it for its directory with
``from tests.support.coroutines import pytest_pyfunc_call``."""

from __future__ import annotations

import asyncio
import inspect

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    asyncio.run(pyfuncitem.obj(**{n: pyfuncitem.funcargs[n] for n in names}))
    return True
