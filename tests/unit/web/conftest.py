from tests.support.coroutines import pytest_pyfunc_call  # noqa: F401
