"""The GPU engine profiles: attach files for a stack a user starts by hand on a GPU host
(`vllm-serve`, `sglang`, `dynamo-vllm`). No GPU runs them in CI, so what is checked here is the
files and, above all, their selectors: run over the command lines those projects document (and
the process titles their engines give themselves), each must find the role it is meant for and
no other, and every decoy (an editor, `grep`, a log tail, a wrapper, a benchmark client, another
module) must match nothing. Matching is done as `deployments.attached` and the chaos targets do
it: `re.search` over the command line joined by spaces.

The last tests start look-alike processes (same module names, same process titles) and attach
to them for real, down to which pid the `engine` failure would signal."""

import re
import shutil
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import psutil
import pytest

from chaos.models import Target, load_catalogue
from chaos.targets import resolve
from deployments.attached import AttachedDeployment
from deployments.models import DEPLOYMENTS_DIR, AttachSpec, available_deployments, load_deployment
from faultsuite.clock import RunClock
from faultsuite.events import EventLog
from tests.live import end_started, eventually

PROFILES = ["vllm-serve", "sglang", "dynamo-vllm"]

MODEL = "Qwen/Qwen3-0.6B"
KV_TRANSFER = '{"kv_connector":"NixlConnector","kv_role":"kv_both"}'
KV_EVENTS = '{"publisher":"zmq","topic":"kv-events","endpoint":"tcp://*:20081","enable_kv_cache_events":true}'


def title(name: str) -> list[str]:
    """A process renamed by setproctitle, as psutil reads it: the title, then the NUL padding of
    the old argument area as empty arguments (so the joined line ends in spaces)."""
    return [name, *[""] * 12]


def case(expected: set[str], *argv: str) -> pytest.param:
    line = " ".join(argv)
    return pytest.param(list(argv), expected, id=line.strip()[:90])


# Each case: a command line (argv) and what must match it: roles ("decode_worker") and child
# roles ("decode_worker.engine"), nothing else; an empty set for a decoy. A child role is only
# looked for among its role's descendants, so a title matching the child pattern of two roles
# (the engine of a decode and of a prefill worker) is right.

VLLM_SERVE_CASES = [
    # vllm serve, the console script: the kernel runs it under the interpreter of its shebang.
    case({"decode_worker"}, "/opt/venv/bin/python3", "/opt/venv/bin/vllm", "serve", MODEL, "--port", "8000"),
    case({"decode_worker"}, "/usr/bin/python3.12", "/usr/local/bin/vllm", "serve", "meta-llama/Llama-3.1-8B-Instruct",
         "--tensor-parallel-size", "2", "--host", "127.0.0.1"),
    case({"decode_worker"}, "/usr/bin/python3", "-u", "/usr/local/bin/vllm", "serve", MODEL),
    case({"decode_worker"}, "python3", "-m", "vllm.entrypoints.openai.api_server", "--model", MODEL, "--port", "8000"),
    case({"decode_worker"}, "python", "-X", "faulthandler", "-m", "vllm.entrypoints.openai.api_server", "--model", MODEL),
    case({"decode_worker"}, "python", "-m", "vllm.entrypoints.cli.main", "serve", MODEL),
    # Its engine and the engine's data-parallel and older names.
    case({"decode_worker.engine"}, *title("VLLM::EngineCore")),
    case({"decode_worker.engine"}, *title("VLLM::EngineCore_DP1")),
    case({"decode_worker.engine"}, *title("VLLM::DPEngineCore_0")),
    case({"decode_worker.engine"}, *title("MYPREFIX::EngineCore")),  # VLLM_PROCESS_NAME_PREFIX=MYPREFIX
    # Other vLLM processes: none is the server or its engine.
    case(set(), *title("VLLM::Worker_TP0")),
    case(set(), *title("VLLM::Worker_PP0_TP1")),
    case(set(), *title("VLLM::APIServer_0")),
    case(set(), *title("VLLM::EngineCoreMonitor")),
    case(set(), "/opt/venv/bin/python3", "-c", "from multiprocessing.spawn import spawn_main; spawn_main(tracker_fd=8, pipe_handle=10)",
         "--multiprocessing-fork"),
    case(set(), "/opt/venv/bin/python3", "-c", "from multiprocessing.resource_tracker import main;main(7)"),
    case(set(), "/opt/venv/bin/python3", "/opt/venv/bin/vllm", "bench", "serve", "--model", MODEL),
    case(set(), "/opt/venv/bin/python3", "/opt/venv/bin/vllm", "chat", "--url", "http://127.0.0.1:8000/v1"),
    case(set(), "/opt/venv/bin/python3", "/opt/venv/bin/vllm-serve-helper", "serve"),
    # Wrappers that stay up around the server, and bystanders naming it.
    case(set(), "uv", "run", "vllm", "serve", MODEL),
    case(set(), "timeout", "3600", "vllm", "serve", MODEL),
    case(set(), "bash", "-c", f"vllm serve {MODEL} --port 8000 2>&1 | tee vllm.log"),
    case(set(), "nohup-wrapper.sh", "vllm", "serve", MODEL),
    case(set(), "vim", "notes-about-vllm.txt"),
    case(set(), "grep", "-r", "vllm serve", "."),
    case(set(), "tail", "-f", "vllm.log"),
    case(set(), "less", "VLLM::EngineCore.log"),
    case(set(), "python", "-m", "pytest", "tests/entrypoints", "-k", "vllm serve"),
    case(set(), "python", "-c", "import subprocess; subprocess.run(['vllm', 'serve'])"),
]

SGLANG_CASES = [
    case({"decode_worker"}, "python", "-m", "sglang.launch_server", "--model-path", MODEL, "--port", "30000", "--enable-metrics"),
    case({"decode_worker"}, "python3", "-m", "sglang.launch_server", "--model-path", "meta-llama/Llama-3.1-8B-Instruct",
         "--tp", "2", "--host", "0.0.0.0", "--port", "30000"),
    case({"decode_worker"}, "/opt/venv/bin/python3", "/opt/venv/bin/sglang", "serve", "--model-path", MODEL, "--enable-metrics"),
    case({"decode_worker"}, "/opt/venv/bin/python3", "/opt/venv/bin/sglang", "serve", MODEL),
    # Its scheduler (the engine), one per rank, and its detokenizer.
    case({"decode_worker.engine"}, *title("sglang::scheduler")),
    case({"decode_worker.engine"}, *title("sglang::scheduler_TP1")),
    case({"decode_worker.engine"}, *title("sglang::scheduler_DP0_TP0")),
    case({"decode_worker.engine"}, *title("sglang::scheduler_DP1_PP0_TP3_EP3")),
    case({"decode_worker.detokenizer"}, *title("sglang::detokenizer")),
    # Other SGLang processes and clients.
    case(set(), *title("sglang::data_parallel_controller")),
    case(set(), *title("sglang::router")),
    case(set(), "python", "-m", "sglang.bench_serving", "--backend", "sglang", "--port", "30000"),
    case(set(), "python", "-m", "sglang_router.launch_server", "--model-path", MODEL, "--dp-size", "2"),
    case(set(), "python", "-m", "sglang.launch_server_test", "--model-path", MODEL),
    case(set(), "python", "-m", "sglang.check_env"),
    case(set(), "/opt/venv/bin/python3", "/opt/venv/bin/sglang", "generate", "--model-path", MODEL),
    case(set(), "/opt/venv/bin/python3", "-c", "from multiprocessing.spawn import spawn_main; spawn_main(tracker_fd=9, pipe_handle=12)",
         "--multiprocessing-fork"),
    # Wrappers and bystanders.
    case(set(), "uv", "run", "python", "-m", "sglang.launch_server", "--model-path", MODEL),
    case(set(), "timeout", "1h", "python3", "-m", "sglang.launch_server", "--model-path", MODEL),
    case(set(), "bash", "-c", f"python -m sglang.launch_server --model-path {MODEL} > sglang.log"),
    case(set(), "vim", "sglang.launch_server.md"),
    case(set(), "grep", "sglang::scheduler", "server.log"),
    case(set(), "tail", "-f", "sglang.log"),
]

DYNAMO_VLLM_CASES = [
    # The frontend: agg.sh and disagg.sh start it bare; the http port is its default, 8000.
    case({"frontend"}, "python", "-m", "dynamo.frontend"),
    case({"frontend"}, "python3", "-m", "dynamo.frontend", "--http-port", "8000"),
    case({"frontend"}, "/opt/dynamo/venv/bin/python", "-m", "dynamo.frontend", "--http-port=8000", "--router-mode", "kv"),
    # Decode workers: aggregated (no mode), decode, agg and pd (combined prefill and decode).
    case({"decode_worker"}, "python", "-m", "dynamo.vllm", "--model", MODEL, "--enforce-eager", "--max-model-len", "4096",
         "--max-num-seqs", "2"),
    case({"decode_worker"}, "python3", "-m", "dynamo.vllm", "--model", MODEL, "--enforce-eager", "--disaggregation-mode", "decode",
         "--kv-transfer-config", KV_TRANSFER),
    case({"decode_worker"}, "python3", "-m", "dynamo.vllm", "--model", MODEL, "--disaggregation-mode=decode"),
    case({"decode_worker"}, "python3", "-m", "dynamo.vllm", "--model", MODEL, "--disaggregation-mode", "agg"),
    case({"decode_worker"}, "python3", "-m", "dynamo.vllm", "--model", MODEL, "--disaggregation-mode", "pd"),
    case({"decode_worker"}, "python3", "-m", "dynamo.vllm", "--model", "my-org/prefill-distilled-7b", "--served-model-name", "prefill"),
    case({"decode_worker"}, "python3", "-m", "dynamo.vllm.unified_main", "--model", MODEL, "--disaggregation-mode", "decode"),
    case({"decode_worker"}, "python3", "-m", "dynamo.vllm", "--model", MODEL, "--is-decode-worker"),  # before Dynamo 1.x
    # Prefill workers: disagg.sh's, the = form, the unified entry point, and the pre-1.x flag.
    case({"prefill_worker"}, "python3", "-m", "dynamo.vllm", "--model", MODEL, "--enforce-eager", "--disaggregation-mode", "prefill",
         "--kv-transfer-config", KV_TRANSFER, "--kv-events-config", KV_EVENTS),
    case({"prefill_worker"}, "python3", "-m", "dynamo.vllm", "--model", MODEL, "--disaggregation-mode=prefill"),
    case({"prefill_worker"}, "python3", "-m", "dynamo.vllm.unified_main", "--model", MODEL, "--disaggregation-mode", "prefill"),
    case({"prefill_worker"}, "python3", "-m", "dynamo.vllm", "--model", MODEL, "--is-prefill-worker"),
    # The vLLM engine inside either kind of worker.
    case({"decode_worker.engine", "prefill_worker.engine"}, *title("VLLM::EngineCore")),
    case({"decode_worker.engine", "prefill_worker.engine"}, *title("VLLM::EngineCore_DP0")),
    case(set(), *title("VLLM::Worker_TP1")),
    # Other Dynamo processes: an encode worker, other modules, tests, clients.
    case(set(), "python3", "-m", "dynamo.vllm", "--model", "Qwen/Qwen2.5-VL-7B-Instruct", "--disaggregation-mode", "encode"),
    case(set(), "python3", "-m", "dynamo.vllm.omni", "--model", MODEL),
    case(set(), "python3", "-m", "dynamo.vllm.tests", "--model", MODEL),
    case(set(), "python3", "-m", "dynamo.frontend.tests"),
    case(set(), "python3", "-m", "dynamo.mocker", "--model-path", MODEL, "--disaggregation-mode", "prefill"),
    case(set(), "python3", "-m", "dynamo.router", "--endpoint", "dynamo.prefill.generate"),
    case(set(), "python3", "-m", "dynamo.sglang", "--model-path", MODEL),
    case(set(), "python", "-m", "pytest", "dynamo/vllm/tests", "-k", "disaggregation"),
    case(set(), "python", "-m", "pytest", "-m", "dynamo.vllm"),
    case(set(), "python", "-c", "import runpy; runpy.run_module('dynamo.vllm')", "-m", "dynamo.vllm"),
    # Wrappers and bystanders.
    case(set(), "uv", "run", "python", "-m", "dynamo.vllm", "--model", MODEL),
    case(set(), "timeout", "1h", "python3", "-m", "dynamo.frontend"),
    case(set(), "bash", "-c", f"python -m dynamo.vllm --model {MODEL} --disaggregation-mode prefill &"),
    case(set(), "bash", "examples/backends/vllm/launch/disagg.sh"),
    case(set(), "vim", "dynamo/vllm/args.py"),
    case(set(), "tail", "-f", "dynamo.vllm.log"),
    case(set(), "grep", "-e", "-m dynamo.vllm", "disagg.sh"),
    case(set(), "less", "+F", "dynamo.frontend.log"),
]

CASES = {"vllm-serve": VLLM_SERVE_CASES, "sglang": SGLANG_CASES, "dynamo-vllm": DYNAMO_VLLM_CASES}


def selectors(spec: AttachSpec) -> dict[str, str]:
    """Every regex of the file by label: `role` and `role.child`."""
    found = {}
    for role, selector in spec.processes.items():
        found[role] = selector.match
        for child, child_role in selector.children.items():
            found[f"{role}.{child}"] = child_role.match
    return found


def matched(spec: AttachSpec, argv: list[str]) -> set[str]:
    """The labels whose regex finds `argv`, matched as `deployments.attached` does."""
    cmdline = " ".join(argv)
    return {label for label, pattern in selectors(spec).items() if re.search(pattern, cmdline)}


def profile(name: str) -> AttachSpec:
    spec = load_deployment(name)
    assert isinstance(spec, AttachSpec)
    return spec


# -- the files ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", available_deployments())
def test_every_shipped_deployment_loads_under_its_own_name(name):
    assert load_deployment(name).name == name


@pytest.mark.parametrize("name", PROFILES)
def test_a_profile_is_an_attach_file_looking_at_this_host(name):
    spec = profile(name)
    assert spec.select_from == "host"
    assert spec.model and spec.endpoint.startswith("http://127.0.0.1:")


@pytest.mark.parametrize("name", PROFILES)
def test_a_profile_says_it_is_not_exercised_in_ci_and_how_to_start_its_stack(name):
    header = (DEPLOYMENTS_DIR / f"{name}.yaml").read_text(encoding="utf-8").split("\nkind:")[0]
    assert "NOT EXERCISED IN CI" in header
    assert f"--deployment {name} --failure engine" in header


@pytest.mark.parametrize(
    "name, endpoint, pending",
    [
        ("vllm-serve", "http://127.0.0.1:8000", "vllm:num_requests_waiting"),
        ("sglang", "http://127.0.0.1:30000", "sglang:num_queue_reqs"),
        ("dynamo-vllm", "http://127.0.0.1:8000", "dynamo_frontend_queued_requests"),
    ],
)
def test_a_profile_points_at_the_default_port_and_the_queue_series_of_its_server(name, endpoint, pending):
    spec = profile(name)
    assert spec.endpoint == endpoint
    assert spec.metrics is not None
    assert spec.metrics.url == f"{endpoint}/metrics"
    assert spec.metrics.pending == pending


@pytest.mark.parametrize(
    "name, roles",
    [
        ("vllm-serve", {"decode_worker": ["engine"]}),
        ("sglang", {"decode_worker": ["engine", "detokenizer"]}),
        ("dynamo-vllm", {"frontend": [], "decode_worker": ["engine"], "prefill_worker": ["engine"]}),
    ],
)
def test_a_profile_names_its_roles_as_the_failure_catalogue_does(name, roles):
    spec = profile(name)
    assert {role: list(spec.children_of(role)) for role in spec.roles} == roles


def applies(spec: AttachSpec, target: Target) -> bool:
    return target.role in spec.roles and (target.child is None or target.child in spec.children_of(target.role))


def applicable_failures(spec: AttachSpec) -> set[str]:
    failures = load_catalogue().failures
    return {name for name, failure in failures.items() if failure.injections and all(applies(spec, i.target) for i in failure.injections)}


@pytest.mark.parametrize("name", PROFILES)
def test_the_engine_and_decode_worker_failures_apply_to_every_profile(name):
    assert {"engine", "decode_worker", "decode_worker_sigterm", "decode_worker_hang"} <= applicable_failures(profile(name))


def test_frontend_and_prefill_failures_apply_to_dynamo_only():
    assert {"frontend", "prefill_worker"} <= applicable_failures(profile("dynamo-vllm"))
    for name in ["vllm-serve", "sglang"]:
        assert not {"frontend", "processor", "prefill_worker"} & applicable_failures(profile(name))


def test_no_profile_has_a_processor():
    assert not any("processor" in applicable_failures(profile(name)) for name in PROFILES)


# -- the selectors, over documented command lines -------------------------------------------


@pytest.mark.parametrize("argv, expected", VLLM_SERVE_CASES)
def test_vllm_serve_selectors(argv, expected):
    assert matched(profile("vllm-serve"), argv) == expected


@pytest.mark.parametrize("argv, expected", SGLANG_CASES)
def test_sglang_selectors(argv, expected):
    assert matched(profile("sglang"), argv) == expected


@pytest.mark.parametrize("argv, expected", DYNAMO_VLLM_CASES)
def test_dynamo_vllm_selectors(argv, expected):
    assert matched(profile("dynamo-vllm"), argv) == expected


@pytest.mark.parametrize("name", PROFILES)
def test_every_selector_of_a_profile_is_exercised_by_its_cases(name):
    hit = set().union(*(matched(profile(name), argv) for argv, _ in (p.values for p in CASES[name])))
    assert hit == set(selectors(profile(name)))


# -- attached for real, to look-alike processes ---------------------------------------------

#: A stand-in server: starts children renamed as the real ones are (argv[0] set to the title,
#: as ps shows a setproctitle'd process), then sleeps; on SIGTERM it ends them and exits.
LOOKALIKE = """\
import signal, subprocess, sys, time
children = [subprocess.Popen(["bash", "-c", 'exec -a "$0" sleep 60', name]) for name in {titles!r}]
def stop(*_):
    for child in children:
        child.kill()
        child.wait()
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
time.sleep(60)
"""

ENGINE_TITLES = {"vllm-serve": "VLLM::EngineCore", "sglang": "sglang::scheduler", "dynamo-vllm": "VLLM::EngineCore"}


def titled_children(pid: int, prefix: str) -> list[psutil.Process]:
    """`pid`'s children already renamed `prefix...` (bash has exec'd `sleep` under that name)."""
    found = []
    for child in psutil.Process(pid).children():
        try:
            if " ".join(child.cmdline()).startswith(prefix):
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


def lookalike_tree(root: Path) -> dict[str, list[str]]:
    """Look-alike modules and console scripts under `root`; the argv that starts each process
    of each profile, by profile and role. Each role's children are those of the real one."""
    python = sys.executable
    vllm = LOOKALIKE.format(titles=["VLLM::EngineCore", "VLLM::Worker_TP0"])
    sglang = LOOKALIKE.format(titles=["sglang::scheduler_TP0", "sglang::scheduler_TP1", "sglang::detokenizer"])
    files = {
        "bin/vllm": f"#!{python}\n{vllm}",
        "sglang/__init__.py": "",
        "sglang/launch_server.py": sglang,
        "dynamo/__init__.py": "",
        "dynamo/frontend/__init__.py": "",
        "dynamo/frontend/__main__.py": LOOKALIKE.format(titles=[]),
        "dynamo/vllm/__init__.py": "",
        "dynamo/vllm/__main__.py": vllm,
    }
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    (root / "bin/vllm").chmod(0o755)
    return {
        "vllm-serve": {"decode_worker": [str(root / "bin/vllm"), "serve", MODEL, "--port", "8000"]},
        "sglang": {"decode_worker": [python, "-m", "sglang.launch_server", "--model-path", MODEL, "--port", "30000"]},
        "dynamo-vllm": {
            "frontend": [python, "-m", "dynamo.frontend", "--http-port", "8000"],
            "decode_worker": [python, "-m", "dynamo.vllm", "--model", MODEL, "--disaggregation-mode", "decode"],
            "prefill_worker": [python, "-m", "dynamo.vllm", "--model", MODEL, "--disaggregation-mode", "prefill"],
        },
    }


@pytest.fixture
def lookalikes(tmp_path, request):
    """Starts the look-alike processes of a profile, each carrying a token; ends them by pid."""
    started: list[subprocess.Popen] = []
    request.addfinalizer(lambda: end_started(started))

    def start(name: str, token: str) -> dict[str, subprocess.Popen]:
        commands = lookalike_tree(tmp_path)[name]
        env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path), "PYTHONDONTWRITEBYTECODE": "1"}
        processes = {}
        for role, argv in commands.items():
            popen = subprocess.Popen([*argv, "--faultsuite-token", token], cwd=tmp_path, env=env, stdin=subprocess.DEVNULL)
            started.append(popen)
            processes[role] = popen
        return processes

    return start


def only_these(spec: AttachSpec, token: str) -> AttachSpec:
    """`spec` with each role's selector unchanged but also requiring `token`, so that a real
    stack of this user on the host is never attached (the children's selectors are as shipped)."""
    processes = {role: selector.model_copy(update={"match": f"(?=.*{re.escape(token)})" + selector.match})
                 for role, selector in spec.processes.items()}
    return spec.model_copy(update={"processes": processes})


@pytest.mark.skipif(shutil.which("bash") is None or shutil.which("sleep") is None, reason="needs bash and sleep")
@pytest.mark.parametrize("name", PROFILES)
def test_a_profile_attaches_to_look_alike_processes_and_aims_the_engine_failure_at_the_engine(name, lookalikes, tmp_path, request):
    token = f"token-{uuid.uuid4().hex}"
    spec = only_these(profile(name), token)
    processes = lookalikes(name, token)
    workers = [popen.pid for role, popen in processes.items() if role != "frontend"]
    assert eventually(lambda: all(titled_children(pid, ENGINE_TITLES[name]) for pid in workers))
    events = EventLog(tmp_path / "run" / "events.csv", RunClock())
    request.addfinalizer(events.close)
    deployment = AttachedDeployment(spec, events, f"{name}.yaml")
    deployment.rescan()
    assert {role: [r.pid for r in deployment.replicas_of(role)] for role in spec.roles} == {
        role: [popen.pid] for role, popen in processes.items()
    }

    (engine_failure,) = load_catalogue().failures["engine"].injections
    (target,) = resolve(deployment, engine_failure).targets
    assert target.scope == "child" and target.child == "engine"
    assert target.replica.role == "decode_worker"
    assert target.pid in {c.pid for c in psutil.Process(processes["decode_worker"].pid).children()}
    assert " ".join(psutil.Process(target.pid).cmdline()).startswith(ENGINE_TITLES[name])

    (hang,) = load_catalogue().failures["decode_worker_hang"].injections
    assert [(t.pid, t.scope) for t in resolve(deployment, hang).targets] == [(processes["decode_worker"].pid, "leader")]
