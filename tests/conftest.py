"""Shared test setup.

gevent monkey-patches the standard library the moment Locust is imported. Doing it first makes
every test see the same patched world whatever order modules are imported in: pyproject.toml
loads tests/gevent_patch.py as a plugin (`-p`) before any other, and importing it here patches
too when `addopts` is overridden.
"""

from tests import (
    gevent_patch,  # noqa: F401  (patch_all, before everything else)
    loopback_guard,  # imported after patch_all, like everything else
)


def pytest_configure(config):
    """Nothing may listen on a non-loopback address during the tests (tests/loopback_guard.py)."""
    if loopback_guard.enabled() and not config.pluginmanager.has_plugin("loopback-guard"):
        config.pluginmanager.register(loopback_guard.SessionGuard(), "loopback-guard")
