"""Bad command-line input: the real CLI prints one `error:` line, exits 2 and launches nothing.

Each case runs `locust -f locustfiles/fault_tolerance.py --headless ...` once, in a fresh
working directory; the tests below then check one thing each about that run.
"""

import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LOCUSTFILE = REPO / "locustfiles" / "fault_tolerance.py"

#: `model` is followed by an indented key, which YAML cannot parse.
MALFORMED_YAML = "name: broken\nmodel: sim-model\n  endpoint: x\n"

#: A valid one-component graph but for the `bogus` key in its component.
UNKNOWN_KEY_YAML = """\
name: tiny
model: sim-model
endpoint: "{urls[worker]}"
components:
  - {name: worker, command: ["{python}", "-m", "worker"], bogus: 1}
"""

#: A valid one-component graph but for what `{problem}` puts in it.
def tiny_graph(endpoint: str = '"{urls[worker]}"', name: str = "tiny", extra: str = "", port_flag: str = '"{port}"') -> str:
    return f"""\
name: {name}
model: sim-model
endpoint: {endpoint}
{extra}components:
  - {{name: worker, command: ["{{python}}", "-m", "deployments.sim.worker", "--port", {port_flag}]}}
"""


ALIAS_BOMB = tiny_graph(extra="request:\n  extra_body:\n    a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"    {chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8)
))


@dataclass(frozen=True)
class BadInput:
    """Arguments after `--headless` and a fragment of the expected error line.

    `{dir}` stands for the run's working directory and `{port}` for a closed loopback port.
    """

    args: list[str]
    says: str
    files: dict[str, str | bytes] = field(default_factory=dict)


CASES = {
    "unknown deployment": BadInput(
        ["--deployment", "no-such-deployment"],
        "--deployment: unknown deployment 'no-such-deployment'",
    ),
    "malformed deployment YAML": BadInput(
        ["--deployment", "{dir}/bad.yaml"],
        "{dir}/bad.yaml: invalid YAML at line 3",
        files={"bad.yaml": MALFORMED_YAML},
    ),
    "unknown key in a deployment": BadInput(
        ["--deployment", "{dir}/x.yaml"],
        "{dir}/x.yaml: components.0.bogus: unknown key",
        files={"x.yaml": UNKNOWN_KEY_YAML},
    ),
    "unknown failure": BadInput(
        ["--failure", "no-such-failure"],
        "--failure: unknown failure 'no-such-failure'",
    ),
    "a mistyped failure": BadInput(
        ["--failure", "decode_wroker"],
        "--failure: unknown failure 'decode_wroker' (did you mean 'decode_worker'",
    ),
    "a mistyped deployment": BadInput(
        ["--deployment", "agg-db4-migration"],
        "--deployment: unknown deployment 'agg-db4-migration' (did you mean 'agg-dp4-migration'",
    ),
    "zero clients": BadInput(["--clients", "0"], "--clients: must be greater than 0"),
    "unreachable host": BadInput(
        ["--host", "http://127.0.0.1:{port}"],
        "--host http://127.0.0.1:{port}: endpoint unreachable",
    ),
    "failure without a deployment": BadInput(
        ["--host", "http://127.0.0.1:{port}", "--failure", "decode_worker"],
        "--failure decode_worker: needs --deployment",
    ),
    "a template with a format spec": BadInput(
        ["--deployment", "{dir}/x.yaml"],
        "components.0.command.4: ",
        files={"x.yaml": tiny_graph(port_flag='"{port:zz}"')},
    ),
    "an empty endpoint": BadInput(
        ["--deployment", "{dir}/x.yaml"], "endpoint: expected an http:// or https:// URL, got ''", files={"x.yaml": tiny_graph(endpoint='""')}
    ),
    "a NUL in a deployment name": BadInput(
        ["--deployment", "{dir}/x.yaml"], "{dir}/x.yaml: name: string should match pattern", files={"x.yaml": tiny_graph(name='"a\\0b"')}
    ),
    "an absolute path as a deployment name": BadInput(
        ["--deployment", "{dir}/x.yaml"], "{dir}/x.yaml: name: string should match pattern", files={"x.yaml": tiny_graph(name="/tmp/elsewhere")}
    ),
    "a file nested 3,000 deep": BadInput(
        ["--deployment", "{dir}/x.yaml"], "{dir}/x.yaml: nested too deeply", files={"x.yaml": "name: " + "[" * 3000 + "]" * 3000 + "\n"}
    ),
    "a file that is not UTF-8": BadInput(["--deployment", "{dir}/x.yaml"], "{dir}/x.yaml: not UTF-8 text", files={"x.yaml": b"name: caf\xe9\n"}),
    "a file in UTF-16": BadInput(["--deployment", "{dir}/x.yaml"], "{dir}/x.yaml: not UTF-8 text", files={"x.yaml": "name: tiny\n".encode("utf-16")}),
    "an alias bomb in extra_body": BadInput(["--deployment", "{dir}/x.yaml"], "aliases expand to more than", files={"x.yaml": ALIAS_BOMB}),
    "an endless scenario file": BadInput(["--scenario", "/dev/zero"], "/dev/zero: larger than 1 MiB"),
    "a fault at nan": BadInput(["--fault-at", "nan"], "--fault-at: must be a finite number, got 'nan'"),
    "a fault at inf": BadInput(["--fault-at", "inf"], "--fault-at: must be a finite number, got 'inf'"),
    "a request timeout of nan": BadInput(["--request-timeout", "nan"], "--request-timeout: must be a finite number"),
    "a request timeout of inf": BadInput(["--request-timeout", "inf"], "--request-timeout: must be a finite number"),
    "a max run time of nan": BadInput(["--max-run-time", "nan"], "--max-run-time: must be a finite number"),
    "a ramp-up of inf": BadInput(["--ramp-up", "inf"], "--ramp-up: must be a finite number"),
    "a retry delay of nan": BadInput(["--retry-delay", "nan"], "--retry-delay: must be a finite number"),
    "an SLA latency of nan": BadInput(["--sla-latency", "nan"], "--sla-latency: must be a finite number"),
    "a prompt too long to build": BadInput(["--prompt-tokens", "1000000000"], "--prompt-tokens: must be at most 1e+06"),
    "inf in a scenario file": BadInput(
        ["--scenario", "{dir}/s.yaml"], "{dir}/s.yaml: load.fault_at: input should be a finite number", files={"s.yaml": "load:\n  fault_at: .inf\n"}
    ),
    "a results directory that is a file": BadInput(
        ["--results-dir", "{dir}/afile"], "--results-dir {dir}/afile: is a file", files={"afile": "x"}
    ),
    "a results directory under a file": BadInput(
        ["--results-dir", "{dir}/afile/run"], "--results-dir {dir}/afile/run: is under {dir}/afile, which is a file", files={"afile": "x"}
    ),
    "a results directory where nothing may be written": BadInput(
        ["--results-dir", "/proc/1/fault-results"], "--results-dir /proc/1/fault-results: /proc/1 is not writable"
    ),
    "a junit file under a file": BadInput(
        ["--junit", "{dir}/afile/junit.xml"], "--junit {dir}/afile/junit.xml: is under {dir}/afile, which is a file", files={"afile": "x"}
    ),
    "fault agent that is no worker": BadInput(
        ["--fault-agent", "gpu-node-1"],
        "--fault-agent: only a Locust worker (--worker) is a fault agent",
    ),
}


@dataclass(frozen=True)
class CliRun:
    workdir: Path
    returncode: int
    stderr: str
    expected: str

    @property
    def last_line(self) -> str:
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        return lines[-1] if lines else ""


def closed_port() -> int:
    """A loopback port nothing listens on (free when asked; nothing here binds it after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module", params=CASES.values(), ids=CASES.keys())
def cli_run(request, tmp_path_factory) -> CliRun:
    case: BadInput = request.param
    workdir = tmp_path_factory.mktemp("cli")
    for name, content in case.files.items():
        if isinstance(content, bytes):
            (workdir / name).write_bytes(content)
        else:
            (workdir / name).write_text(content, encoding="utf-8")
    values = {"dir": str(workdir), "port": str(closed_port())}
    args = [arg.format(**values) for arg in case.args]
    done = subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", *args],
        cwd=workdir,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return CliRun(workdir, done.returncode, done.stderr, case.says.format(**values))


def test_bad_input_exits_with_code_2(cli_run):
    assert cli_run.returncode == 2, cli_run.stderr


def test_bad_input_ends_stderr_with_an_error_line(cli_run):
    assert cli_run.last_line.startswith("error: "), cli_run.stderr


def test_the_error_line_names_the_problem(cli_run):
    assert cli_run.expected in cli_run.last_line, cli_run.stderr


def test_bad_input_prints_no_traceback(cli_run):
    assert "Traceback" not in cli_run.stderr, cli_run.stderr


def test_bad_input_launches_nothing(cli_run):
    assert not (cli_run.workdir / "results").exists()
