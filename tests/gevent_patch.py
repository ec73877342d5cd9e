"""gevent's monkey-patching, loaded as a pytest plugin before installed packages' plugins.

gevent must patch the standard library before anything imports `ssl`. The plugins that
installed packages register are imported before any conftest.py (anyio's, which openai and
httpx bring in, imports ssl), and patching after that raises gevent's MonkeyPatchWarning, an
error under `filterwarnings = error`. pyproject.toml's `addopts` loads this module with `-p`,
which pytest imports before those plugins.
"""

from gevent import monkey

monkey.patch_all()
