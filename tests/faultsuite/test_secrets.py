"""Credentials never reach what the suite writes: redaction of values, text and URLs, and
headers filled from the environment."""

import pytest

from faultsuite.errors import ConfigError
from faultsuite.secrets import fill_environment, redact, redact_text, redact_url


def test_userinfo_of_a_url_is_redacted():
    assert redact_url("http://user:s3cret@127.0.0.1:8000/v1") == "http://***@127.0.0.1:8000/v1"


@pytest.mark.parametrize(
    "secret",
    [
        "sk-proj-abcdefghijklmnop1234",
        "hf_abcdefghijklmnopqrstu",
        "Bearer abcdefghijklmnop",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.signature",
        "a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3",
    ],
)
def test_text_that_looks_like_a_key_is_redacted(secret):
    assert secret not in redact_text(f"the key was {secret} here")


@pytest.mark.parametrize("harmless", ["meta-llama/Llama-3.1-8B-Instruct", "decode_worker_2", "sim-model", "agg-dp4 × decode_worker"])
def test_names_a_run_uses_are_left_alone(harmless):
    assert redact_text(harmless) == harmless


def test_values_under_credential_keys_are_redacted_at_any_depth_and_the_rest_kept():
    body = {"api_key": "plain", "nested": {"Authorization": "x", "max_tokens": 3}, "ignore_eos": True, "list": [{"password": "p", "x_token": "t"}]}

    assert redact(body) == {
        "api_key": "***", "nested": {"Authorization": "***", "max_tokens": 3}, "ignore_eos": True, "list": [{"password": "***", "x_token": "***"}],
    }  # fmt: skip


def test_environment_references_are_filled_and_a_missing_one_is_one_line(monkeypatch):
    monkeypatch.setenv("FAULTSUITE_TEST_KEY", "k-123")
    monkeypatch.delenv("FAULTSUITE_NOT_SET", raising=False)

    assert fill_environment("Bearer ${FAULTSUITE_TEST_KEY}", "x.yaml") == "Bearer k-123"
    with pytest.raises(ConfigError, match=r"^x.yaml: environment variable FAULTSUITE_NOT_SET is not set$"):
        fill_environment("Bearer ${FAULTSUITE_NOT_SET}", "x.yaml")
