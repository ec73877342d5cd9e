"""The project's own fuzz: seeded random mutations of the shipped files and of the options.

Every case must end one of two ways, as the CLI would: refused with one ConfigError line
(exit 2), or accepted as a scenario whose every template fills and whose failures resolve (a
valid run). Anything else (another exception, a message over several lines, a hang) is a
defect. The cases run in-process through the same validation the CLI runs; a sample of them
also runs through the real CLI, in tests/e2e/test_fuzz_cli.py.
"""

import copy
import random
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from chaos.models import CATALOGUE_PATH, load_catalogue
from deployments.launcher import LaunchedDeployment
from deployments.models import DEPLOYMENTS_DIR, DeploymentSpec, available_deployments
from faultsuite.clock import RunClock
from faultsuite.errors import ConfigError
from faultsuite.events import EventLog
from locustfiles.scenario import scenario_from_options
from tests.locustfiles.test_scenario import parse

SEED = 20261203
CASES = 400
SCENARIO_FILE = {"deployment": "agg-dp1", "failure": "decode_worker", "load": {"clients": 2, "fault_at": 1}, "expect": ["failed <= 2"]}

#: Values that have broken parsers before: non-finite, huge, empty, odd text, wrong types.
ODD_VALUES: list[object] = [
    None, True, 0, -1, 1e12, 10**30, float("nan"), float("inf"), -float("inf"), "", " ", "\0", "a\0b",
    "x" * 10_000, "/etc/passwd", "../../..", "{port:zz}", "{bogus}", "{urls[nowhere]}", "{", "}", "%s",
    "ünïcødé", "😀", [], [1, "two"], {}, {"nested": {"deeper": [None]}}, "nan", "inf", "1e999", "-0", "0x10",
]  # fmt: skip
#: Values for options, as the command line gives them: always text.
ODD_OPTION_VALUES = ["nan", "inf", "-inf", "-1", "0", "1e12", "1e999", "", "abc", "1.5", "99999999999999999999", "\u00b2", "0x10", " 3 "]
NUMERIC_OPTIONS = [
    "--clients", "--ramp-up", "--requests-per-client", "--max-tokens", "--prompt-tokens", "--request-timeout",
    "--retry-delay", "--sla-latency", "--max-run-time", "--fault-at", "--fault-count", "--rate", "--duration",
    "--max-concurrency", "--seed", "--trace-speedup",
]  # fmt: skip
TEXT_OPTIONS = ["--deployment", "--failure", "--model", "--expect", "--abort-if", "--deployment-host", "--results-dir", "--junit", "--trace", "--rate-stages", "--arrival"]


def paths(data: object, prefix: tuple = ()) -> list[tuple]:
    """Every key path in a YAML document."""
    found = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            found += paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += paths(value, (*prefix, index))
    return found


def mutate_tree(data: object, rng: random.Random) -> object:
    """One structural change at a random key path: a value replaced, a key removed or added,
    a list item repeated, a mapping turned into a list."""
    data = copy.deepcopy(data)
    path = rng.choice(paths(data)[1:] or [()])
    if not path:
        return rng.choice(ODD_VALUES)
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    last = path[-1]
    action = rng.randrange(5)
    if action == 0:
        parent[last] = rng.choice(ODD_VALUES)
    elif action == 1:
        del parent[last]
    elif action == 2 and isinstance(parent, dict):
        parent[rng.choice(["bogus", "kind", "extends", "name", "1"])] = rng.choice(ODD_VALUES)
    elif action == 3 and isinstance(parent, list):
        parent.append(copy.deepcopy(parent[last]))
    else:
        parent[last] = [parent[last]] if not isinstance(parent[last], list) else {"0": parent[last]}
    return data


def mutate_text(text: str, rng: random.Random) -> bytes:
    """One byte-level change: cut short, a byte flipped, bytes inserted, another encoding,
    a line indented wrongly, or a deep nest or alias bomb appended."""
    data = text.encode()
    at = rng.randrange(len(data))
    action = rng.randrange(7)
    if action == 0:
        return data[:at]
    if action == 1:
        return data[:at] + bytes([data[at] ^ (1 << rng.randrange(8))]) + data[at + 1 :]
    if action == 2:
        return data[:at] + bytes(rng.randrange(256) for _ in range(rng.randrange(1, 8))) + data[at:]
    if action == 3:
        return text.encode(rng.choice(["utf-16", "utf-32", "latin-1"]), errors="replace")
    if action == 4:
        lines = text.splitlines()
        index = rng.randrange(len(lines))
        lines[index] = " " * rng.randrange(1, 5) + lines[index]
        return "\n".join(lines).encode()
    if action == 5:
        depth = rng.choice([50, 500, 5000])
        return data + b"\nbogus_deep: " + b"[" * depth + b"]" * depth + b"\n"
    bomb = "\nbomb:\n  a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"  {chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(7)
    )
    return data + bomb.encode()


@dataclass(frozen=True)
class Case:
    """One mutated input: what it is, and how to try it against the validation. A case of
    options and files (`cli_options` set) can also be given to the real CLI; `{dir}` in
    them stands for the directory its files are written to."""

    description: str
    attempt: Callable[[Path], None]
    cli_options: list[str] | None = None
    files: dict[str, bytes] | None = None

    def write_files(self, workdir: Path) -> list[str]:
        """Write the case's files into `workdir`; its options, with `{dir}` filled."""
        for name, content in (self.files or {}).items():
            (workdir / name).write_bytes(content)
        return [arg.replace("{dir}", str(workdir)) for arg in self.cli_options or []]


def fill_every_template(spec) -> None:
    """What the launcher renders, rendered here without starting anything."""
    if not isinstance(spec, DeploymentSpec):
        return
    with tempfile.TemporaryDirectory() as run_dir:
        events = EventLog(Path(run_dir) / "events.csv", RunClock())
        try:
            deployment = LaunchedDeployment(spec, Path(run_dir), events)
            for replica in deployment.replicas:
                for part in replica.component.command:
                    deployment.render(part, replica)
                for value in {**spec.env, **replica.component.env}.values():
                    deployment.render(value, replica)
            _ = deployment.endpoint, deployment.metrics_url
        except OSError:
            pass  # no free port in a port range: a launch failure, exit 1 with one line
        finally:
            events.close()


def scenario_case(description: str, options: list[str], files: dict[str, bytes]) -> Case:
    def attempt(workdir: Path) -> None:
        scenario = scenario_from_options(parse(*case.write_files(workdir)))
        if scenario.deployment is not None:
            fill_every_template(scenario.deployment)

    case = Case(description, attempt, options, files)
    return case


def catalogue_case(content: bytes) -> Callable[[Path], None]:
    def attempt(workdir: Path) -> None:
        path = workdir / "failures.yaml"
        path.write_bytes(content)
        catalogue = load_catalogue(path)
        for name in catalogue.names():
            catalogue.resolve(name)
            for injection in catalogue.resolve(name)[1].injections:
                injection.schedule()

    return attempt


def generate_cases(seed: int = SEED, count: int = CASES) -> list[Case]:
    rng = random.Random(seed)
    deployments = {name: (DEPLOYMENTS_DIR / f"{name}.yaml").read_text() for name in available_deployments()}
    catalogue_text = CATALOGUE_PATH.read_text()
    scenario_text = yaml.safe_dump(SCENARIO_FILE)
    cases = []
    for index in range(count):
        kind = rng.randrange(6)
        if kind <= 1:  # a shipped deployment, mutated (its `extends:` still finds the shipped base)
            name = rng.choice(sorted(deployments))
            text = deployments[name]
            content = mutate_text(text, rng) if kind == 0 else yaml.safe_dump(mutate_tree(yaml.safe_load(text), rng), allow_unicode=True).encode()
            description = f"{index}: deployments/{name}.yaml, {'bytes' if kind == 0 else 'tree'} mutated"
            cases.append(scenario_case(description, ["--deployment", "{dir}/d.yaml"], {"d.yaml": content}))
        elif kind == 2:  # the failure catalogue, mutated
            content = mutate_text(catalogue_text, rng) if rng.random() < 0.5 else yaml.safe_dump(mutate_tree(yaml.safe_load(catalogue_text), rng)).encode()
            cases.append(Case(f"{index}: chaos/failures.yaml mutated", catalogue_case(content)))
        elif kind == 3:  # a scenario file, mutated
            content = mutate_text(scenario_text, rng) if rng.random() < 0.5 else yaml.safe_dump(mutate_tree(SCENARIO_FILE, rng)).encode()
            cases.append(scenario_case(f"{index}: a scenario file mutated", ["--scenario", "{dir}/s.yaml"], {"s.yaml": content}))
        elif kind == 4:  # a numeric option
            option, value = rng.choice(NUMERIC_OPTIONS), rng.choice(ODD_OPTION_VALUES)
            cases.append(scenario_case(f"{index}: {option}={value!r}", [f"{option}={value}"], {}))
        else:  # a text option
            option = rng.choice(TEXT_OPTIONS)
            value = str(rng.choice(ODD_VALUES))[:200] if rng.random() < 0.7 else rng.choice(["{dir}", "{dir}/x/../y", "/proc/1/x"])
            cases.append(scenario_case(f"{index}: {option}={value!r}", [f"{option}={value}"], {}))
    return cases


def outcome(case: Case, workdir: Path) -> str:
    """`refused` or `valid`; raises for anything that is neither."""
    try:
        case.attempt(workdir)
    except ConfigError as exc:
        message = str(exc)
        assert message and "\n" not in message, f"{case.description}: a ConfigError over several lines: {message!r}"
        return "refused"
    return "valid"


def test_the_fuzz_makes_enough_cases_of_every_kind():
    descriptions = [case.description for case in generate_cases()]

    assert len(descriptions) >= 300
    assert all(any(part in d for d in descriptions) for part in ("deployments/", "failures.yaml", "scenario file", "--"))


@pytest.mark.parametrize("block", range(8))
def test_every_fuzzed_input_is_refused_in_one_line_or_valid(block, tmp_path):
    cases = generate_cases()[block::8]
    outcomes = []
    for index, case in enumerate(cases):
        workdir = tmp_path / str(index)
        workdir.mkdir()
        outcomes.append(outcome(case, workdir))

    assert set(outcomes) <= {"refused", "valid"}
    assert "refused" in outcomes  # the mutations do break things: a fuzz that breaks nothing tests nothing

