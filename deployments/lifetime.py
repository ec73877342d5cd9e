"""Tie a child process's life to its parent's, so nothing outlives the process that started it.

Linux's PR_SET_PDEATHSIG makes the kernel send SIGKILL to the child the moment its parent
dies, even when the parent was itself SIGKILLed and ran no cleanup. It is set in the child
between fork and exec (it survives exec), and the parent pid is checked afterwards to close
the race where the parent died before the call.
"""

import ctypes
import os
import signal
from typing import Callable

__all__ = ["die_with_parent"]

PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def die_with_parent() -> Callable[[], None]:
    """A `preexec_fn` for Popen that SIGKILLs the child when the calling process dies."""
    parent_pid = os.getpid()

    def arm() -> None:
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent_pid:
            os._exit(1)

    return arm
