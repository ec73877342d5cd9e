"""The failure catalogue: the shipped entries, name lookup, shifting, and rejected files."""

from pathlib import Path

import pytest

from chaos.kinds import SignalInjection
from chaos.models import Failure, Target, load_catalogue
from faultsuite.errors import ConfigError

SHIPPED_FAILURES = {"none", "frontend", "processor", "decode_worker", "engine"}

WORKER = Target(role="decode_worker")

#: Two injections 3 s apart, declared in their firing order.
TWO_KILLS = Failure(injections=[SignalInjection(at_s=5, target=WORKER), SignalInjection(at_s=8, target=WORKER)])
SHIFT_TO_S = 20.0

INJECTION_WITH_UNKNOWN_KEY = """\
failures:
  slow_worker:
    injections:
      - {at_s: 1, target: {role: decode_worker}, bogus: 2}
"""

#: `kill` is both a failure name and an alias of `crash`.
DUPLICATE_ALIAS = """\
failures:
  crash: {aliases: [kill]}
  kill: {}
"""

ZERO_COUNT = """\
failures:
  slow_worker:
    injections:
      - {at_s: 1, target: {role: decode_worker}, count: 0}
"""


def rejection(tmp_path: Path, text: str) -> tuple[Path, str]:
    """The catalogue file written from `text` and the message its loading is rejected with."""
    path = tmp_path / "failures.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_catalogue(path)
    return path, str(caught.value)


def test_the_shipped_catalogue_has_the_documented_failures():
    assert SHIPPED_FAILURES <= set(load_catalogue().failures)


def test_vllm_worker_is_an_alias_of_engine():
    assert load_catalogue().resolve("vllm_worker")[0] == "engine"


def test_an_unknown_failure_lists_the_available_names():
    catalogue = load_catalogue()
    with pytest.raises(ConfigError) as caught:
        catalogue.resolve("no-such-failure")
    available = str(caught.value).split("available: ")[-1].split(", ")
    assert available == catalogue.names()


def test_an_unknown_failure_is_named_in_the_message():
    with pytest.raises(ConfigError, match=r"^--failure: unknown failure 'no-such-failure'; "):
        load_catalogue().resolve("no-such-failure")


def test_shifting_moves_the_first_injection_to_the_given_time():
    assert TWO_KILLS.shifted_to(SHIFT_TO_S).injections[0].at_s == SHIFT_TO_S


def test_shifting_keeps_the_spacing_between_injections():
    moved = TWO_KILLS.shifted_to(SHIFT_TO_S).injections
    assert moved[1].at_s - moved[0].at_s == 3.0


def test_shifting_leaves_the_original_failure_unchanged():
    TWO_KILLS.shifted_to(SHIFT_TO_S)
    assert [i.at_s for i in TWO_KILLS.injections] == [5.0, 8.0]


def test_shifting_a_failure_without_injections_changes_nothing():
    assert Failure().shifted_to(SHIFT_TO_S) == Failure()


def test_an_unknown_key_in_an_injection_is_rejected_with_its_key_path(tmp_path):
    path, message = rejection(tmp_path, INJECTION_WITH_UNKNOWN_KEY)
    assert message == f"{path}: failures.slow_worker.injections.0.bogus: unknown key"


def test_a_duplicate_alias_is_rejected(tmp_path):
    path, message = rejection(tmp_path, DUPLICATE_ALIAS)
    assert message.startswith(f"{path}: ") and message.endswith("failure name or alias 'kill' is used twice")


def test_a_count_of_zero_is_rejected(tmp_path):
    path, message = rejection(tmp_path, ZERO_COUNT)
    assert message == f"{path}: failures.slow_worker.injections.0.count: input should be greater than or equal to 1"


def test_leader_only_with_a_child_is_rejected(tmp_path):
    path, message = rejection(tmp_path, """\
failures:
  odd:
    injections:
      - {at_s: 1, target: {role: decode_worker, child: engine, leader_only: true}}
""")
    assert str(path) in message and "leader_only" in message and "\n" not in message


@pytest.mark.parametrize(("repeat", "says"), [("{every_s: 1, times: 1000000000000}", "times: input should be less than or equal to 10000"),
                                             ("{every_s: .inf, times: 2}", "every_s: input should be a finite number")])  # fmt: skip
def test_a_repeat_that_could_not_fit_in_memory_or_never_ends_is_rejected(tmp_path, repeat, says):
    path, message = rejection(tmp_path, f"""\
failures:
  storm:
    injections:
      - {{at_s: 1, target: {{role: decode_worker}}, repeat: {repeat}}}
""")
    assert message == f"{path}: failures.storm.injections.0.repeat.{says}"


def test_a_failure_name_that_is_not_one_path_segment_is_rejected(tmp_path):
    path, message = rejection(tmp_path, "failures:\n  ../../elsewhere: {}\n")
    assert str(path) in message and "should match pattern" in message
