"""One running replica of a component: its OS process, its process group and its logs.

Each replica leads a process group of its own that holds it and every subprocess it starts
(an engine child, say). Signals for the whole replica go to that group; the kernel kills the
leader if the runner dies (PDEATHSIG).

It stays in the runner's session. With the kernel's autogroup scheduling
(`/proc/sys/kernel/sched_autogroup_enabled`, on by default in many distributions) each
session is a CPU group of its own, weighed as one task against the others: a vLLM server in a
session of its own kept the load generator off the CPU for seconds at a time, its timers
(faults among them) up to 8 s late and every stream read whole at its end.
"""

import os
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from deployments.lifetime import die_with_parent

__all__ = ["ReplicaProcess", "describe_returncode", "running"]


def describe_returncode(returncode: int) -> str:
    """`exit code 3` or `killed by SIGKILL`, from a Popen return code."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"


def running(processes: list[psutil.Process]) -> list[psutil.Process]:
    """Those still running: not gone, not reused pids, not zombies waiting to be reaped."""
    alive = []
    for proc in processes:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(proc)
        except psutil.NoSuchProcess:
            continue
    return alive


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


@dataclass
class ReplicaProcess:
    """A started replica. `pid` is also its process group id."""

    argv: list[str]
    env: dict[str, str]
    cwd: str | None
    log_dir: Path
    popen: subprocess.Popen = field(init=False)
    #: The leader as psutil sees it: equal to a later look only if it is the same process
    #: (pid and start time since boot, which no change of the system clock moves).
    leader: psutil.Process = field(init=False)
    log_offsets: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.log_offsets = {name: _size(self.log_dir / name) for name in ("output.log", "error.log")}
        with (self.log_dir / "output.log").open("ab") as out, (self.log_dir / "error.log").open("ab") as err:
            self.popen = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                process_group=0,  # a group of its own, in the runner's session (see above)
                preexec_fn=die_with_parent(),
            )
        self.leader = psutil.Process(self.popen.pid)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def group_members(self) -> list[psutil.Process]:
        """Live processes of this replica: the leader and all its descendants."""
        try:
            if not self.leader.is_running():
                return []
            return [self.leader, *self.leader.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def signal_group(self, sig: signal.Signals) -> bool:
        """Send `sig` to the replica's whole process group; False, sending nothing, once the
        leader has been reaped: from then on its pid, and so the group id, may be anyone's.
        While the leader is unreaped (alive, or a zombie) no process can take its pid, and
        nothing can reap it between the check and the signal (no greenlet switch)."""
        if not self.alive():
            return False
        try:
            os.killpg(self.pid, sig)
            return True
        except ProcessLookupError:
            return False

    def last_error_line(self) -> str:
        """The last non-empty line of error.log, for one-line launch errors."""
        try:
            lines = (self.log_dir / "error.log").read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return ""
        return next((line.strip() for line in reversed(lines) if line.strip()), "")
