"""Shared test setup.

gevent monkey-patches the standard library the moment Locust is imported. Doing it first,
here, makes every test see the same patched world whatever order modules are imported in.
"""

from gevent import monkey

monkey.patch_all()
