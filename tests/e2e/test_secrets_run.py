"""A run whose endpoint needs a key: the key is sent, and it is in no file and no output."""

import pytest

from deployments.ports import free_port
from tests.e2e.harness import run_locust

pytestmark = pytest.mark.e2e

HEADER_KEY = "sk-header-0123456789abcdefXYZ"
BODY_KEY = "body-key-value-not-key-shaped"

KEYED_DEPLOYMENT = """\
extends: agg-dp1
name: keyed
request:
  headers:
    Authorization: "Bearer ${FAULTSUITE_TEST_API_KEY}"
  extra_body:
    api_key: "%s"
""" % BODY_KEY


def test_neither_a_header_key_nor_a_body_key_is_written_to_any_file_or_printed(tmp_path):
    (tmp_path / "keyed.yaml").write_text(KEYED_DEPLOYMENT, encoding="utf-8")
    result = run_locust(
        tmp_path, "--deployment", str(tmp_path / "keyed.yaml"), "--failure", "none", "--clients", "2", "--requests-per-client", "3",
        env_extra={"FAULTSUITE_TEST_API_KEY": HEADER_KEY},
    )  # fmt: skip

    assert result.returncode == 0, result.stderr[-3000:]
    assert result.summary["Success"] == 6
    for path in [p for p in result.run_dir.rglob("*") if p.is_file()]:
        text = path.read_bytes()
        assert HEADER_KEY.encode() not in text and BODY_KEY.encode() not in text, path
    assert HEADER_KEY not in result.stdout + result.stderr and BODY_KEY not in result.stdout + result.stderr


def test_credentials_in_host_are_not_printed(tmp_path):
    result = run_locust(tmp_path, "--host", f"http://user:SECRET-in-url@127.0.0.1:{free_port()}")

    assert (result.returncode, "SECRET-in-url" in result.stderr + result.stdout) == (2, False), result.stderr[-2000:]
