"""A deployment component that holds GPU memory until it is killed: `python -m tests.gpu.holder`.

    --mib N          allocate N MiB on GPU 0 (plain device memory, through the CUDA driver API)
    --fake           allocate nothing (for machines without a GPU)
    --spawn-child    start one child (this program, same --mib/--fake) that holds the memory,
                     hold nothing here, and print `child <pid>` then `ready` once the child is
                     ready. The child is not tied to this process's life: kill this process
                     alone and the child lives on, an orphan still holding its memory.

Prints `ready` once holding, then sleeps until killed. Exits non-zero, with the failing CUDA
call and its error on stderr, when the memory cannot be had.
"""

import argparse
import ctypes
import subprocess
import sys
import time

MIB = 1024 * 1024


class CudaError(Exception):
    pass


def allocate_on_gpu(mib: int, device: int = 0) -> int:
    """Allocate and zero `mib` MiB on `device`; returns the device pointer. Never freed: the
    driver releases it when this process ends, however it ends."""
    try:
        cuda = ctypes.CDLL("libcuda.so.1")
    except OSError as exc:
        raise CudaError(f"cannot load libcuda.so.1 (no NVIDIA driver?): {exc}") from None

    def check(name: str, result: int) -> None:
        if result != 0:
            text = ctypes.c_char_p()
            described = cuda.cuGetErrorString(result, ctypes.byref(text)) == 0 and text.value
            raise CudaError(f"{name} failed: CUresult {result}" + (f" ({text.value.decode()})" if described else ""))

    cuda.cuMemAlloc_v2.argtypes = [ctypes.POINTER(ctypes.c_uint64), ctypes.c_size_t]
    cuda.cuMemsetD8_v2.argtypes = [ctypes.c_uint64, ctypes.c_ubyte, ctypes.c_size_t]
    check("cuInit", cuda.cuInit(0))
    handle = ctypes.c_int()
    check(f"cuDeviceGet({device})", cuda.cuDeviceGet(ctypes.byref(handle), device))
    context = ctypes.c_void_p()
    check("cuDevicePrimaryCtxRetain", cuda.cuDevicePrimaryCtxRetain(ctypes.byref(context), handle))
    check("cuCtxSetCurrent", cuda.cuCtxSetCurrent(context))
    pointer = ctypes.c_uint64()
    check(f"cuMemAlloc_v2({mib} MiB)", cuda.cuMemAlloc_v2(ctypes.byref(pointer), mib * MIB))
    # Touch every byte, so the memory is in use, not merely reserved.
    check("cuMemsetD8_v2", cuda.cuMemsetD8_v2(pointer, 0, mib * MIB))
    check("cuCtxSynchronize", cuda.cuCtxSynchronize())
    return pointer.value


def spawn_child(mib: int, fake: bool, device: int) -> int:
    """Start the child holder and return its pid once it printed `ready`; exit if it fails."""
    argv = [sys.executable, "-m", "tests.gpu.holder", "--mib", str(mib), "--device", str(device)] + (["--fake"] if fake else [])
    # No preexec_fn/PDEATHSIG: the child must outlive this process when only this one is killed.
    child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    for line in child.stdout:
        if line.strip() == "ready":
            return child.pid
    code = child.wait()
    sys.exit(f"holder: child pid {child.pid} ended before it was ready (exit code {code}); see its error above")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.gpu.holder", description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, required=True, help="MiB of GPU memory to hold")
    parser.add_argument("--fake", action="store_true", help="hold nothing (no GPU needed)")
    parser.add_argument("--spawn-child", action="store_true", help="let one child hold the memory instead")
    parser.add_argument("--device", type=int, default=0, help="CUDA device index (default 0)")
    args = parser.parse_args(argv)
    if args.spawn_child:
        pid = spawn_child(args.mib, args.fake, args.device)
        print(f"child {pid}", flush=True)
    elif not args.fake:
        try:
            allocate_on_gpu(args.mib, args.device)
        except CudaError as exc:
            sys.exit(f"holder: {exc}")
    print("ready", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
