#!/usr/bin/env bash
# The GPU tests (pytest -m gpu, tests/gpu/test_gpu_nvml.py) on a machine with an NVIDIA GPU.
#
#   bash tests/gpu/device_check.sh [extra pytest arguments]
#
# Run from anywhere; it works in the repository root. The machine needs python3 (3.12) with
# psutil, pandas, pyyaml, nvidia-ml-py, pytest and pytest-timeout; what the suite needs
# beyond that (gevent and its dependencies, pydantic and its) comes as cp312 wheels in .whl/
# and is installed into /tmp/site, offline. Output goes to stdout and, when $OUT is set, to
# $OUT/gpu_tests.log. The exit status is pytest's (or 3 when the wheels cannot be installed).
#
# The wheels are not committed. Make them on a machine with pip access, in the repository root:
#   for w in gevent==26.9.0 greenlet==3.5.6 zope.interface==8.7 zope.event==6.2 pydantic==2.14.4 \
#            pydantic-core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5 typing-extensions==4.16.0; do
#     python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl "$w"; done
#
# FAULTSUITE_REQUIRE_GPU=1 makes the tests fail, not skip, when NVML does not answer, and a
# preflight prints NVML's and the CUDA driver's own view first, so nothing is skipped quietly.
set -u
cd "$(dirname "$0")/../.."
SITE=/tmp/site
LOG=/dev/null
if [ -n "${OUT:-}" ]; then
    mkdir -p "$OUT"
    LOG="$OUT/gpu_tests.log"
fi

{
echo "== wheels -> $SITE"
shopt -s nullglob
wheels=(.whl/*.whl)
if [ ${#wheels[@]} -eq 0 ]; then
    echo "no wheels in $PWD/.whl (run with carry: [\".whl\"])"
    exit 3
fi
if ! python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "${wheels[@]}"; then
    echo "pip install failed; unpacking the wheels instead"
    for wheel in "${wheels[@]}"; do python3 -m zipfile -e "$wheel" "$SITE" || exit 3; done
fi
export PYTHONPATH="$SITE:$PWD${PYTHONPATH:+:$PYTHONPATH}"
export FAULTSUITE_REQUIRE_GPU=1

echo "== nvidia-smi"
if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=index,name,driver_version,memory.total,memory.used,compute_mode --format=csv
    nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv
else
    echo "nvidia-smi not found"
fi

echo "== preflight"
python3 - <<'PY'
import importlib, os, sys
print("python", sys.version.split()[0], sys.executable)
print("pid 1:", open("/proc/1/comm").read().strip(), "| pid namespace:", os.readlink("/proc/self/ns/pid"))
for name in ("gevent", "greenlet", "pydantic", "pydantic_core", "psutil", "pandas", "numpy", "yaml", "pynvml", "pytest", "pytest_timeout"):
    try:
        module = importlib.import_module(name)
        print(f"  {name} {getattr(module, '__version__', '?')} from {os.path.dirname(module.__file__)}")
    except Exception as exc:
        print(f"  {name}: CANNOT IMPORT: {exc!r}")
try:
    import pynvml
    pynvml.nvmlInit()
    print("NVML ok: driver", pynvml.nvmlSystemGetDriverVersion(), "| devices", pynvml.nvmlDeviceGetCount())
except Exception as exc:
    print(f"NVML FAILED: {exc!r}: the gpu tests will fail (FAULTSUITE_REQUIRE_GPU=1)")
    sys.exit(0)
try:
    from tests.gpu.holder import allocate_on_gpu
    allocate_on_gpu(256)
    print(f"CUDA ok: this process (pid {os.getpid()}) allocated 256 MiB through libcuda.so.1")
except Exception as exc:
    print(f"CUDA FAILED: {exc!r}: the holder cannot allocate")
try:
    for i in range(pynvml.nvmlDeviceGetCount()):
        handle = pynvml.nvmlDeviceGetHandleByIndex(i)
        procs = {p.pid: p.usedGpuMemory for p in pynvml.nvmlDeviceGetComputeRunningProcesses(handle)}
        mine = os.getpid() in procs
        print(f"  gpu {i}: {pynvml.nvmlDeviceGetName(handle)}; compute processes (pid: bytes): {procs}")
        print(f"  this pid {'IS' if mine else 'is NOT'} listed by NVML" + ("" if mine else ": if other pids are, NVML sees another PID namespace and cannot attribute memory to our pids"))
except Exception as exc:
    print(f"NVML process listing FAILED: {exc!r}")
pynvml.nvmlShutdown()
PY

echo "== pytest"
# -W default: on this machine a warning from its own package versions is shown, not an error.
python3 -m pytest tests/gpu -m gpu -v -s -rs -p no:cacheprovider -W default "$@"
status=$?
echo "== pytest exit status $status"
exit $status
} 2>&1 | tee "$LOG"
exit "${PIPESTATUS[0]}"
