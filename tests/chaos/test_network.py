"""Network fault kinds as failure files name them: the toxic each asks the fault proxy for."""

from pathlib import Path

import pytest

from chaos.models import load_catalogue
from chaos.network import LimitDataInjection
from faultsuite.errors import ConfigError

LIMIT_DATA = """\
failures:
  cut:
    injections:
      - {{kind: limit_data, at_s: 1, caller: client, target: {{role: frontend}}, bytes: 2048, duration_s: 3{extra}}}
"""


def limit_data(tmp_path: Path, extra: str = "") -> LimitDataInjection:
    path = tmp_path / "failures.yaml"
    path.write_text(LIMIT_DATA.format(extra=extra), encoding="utf-8")
    (injection,) = load_catalogue(path).failures["cut"].injections
    return injection


def test_a_limit_data_cut_falls_at_the_end_of_an_event_unless_asked_otherwise(tmp_path):
    assert limit_data(tmp_path).toxic() == {"kind": "limit_data", "bytes": 2048, "at": "event"}


def test_a_limit_data_cut_may_fall_exactly_at_its_byte(tmp_path):
    assert limit_data(tmp_path, ", at: byte").toxic()["at"] == "byte"


def test_a_limit_data_cut_elsewhere_is_rejected_at_its_key_path(tmp_path):
    with pytest.raises(ConfigError, match=r"failures\.cut\.injections\.0\.at: .*'event' or 'byte'"):
        limit_data(tmp_path, ", at: word")
