"""The results directory's files, each named once: what the run writes, what readers read.

    results/<deployment>/<failure>-<timestamp>/      RunLayout
      run.json  test.log.txt  client_<i>.jsonl  events.csv  watcher.csv  processes.csv
      gpu.csv  requests.csv  summary.csv  summary.json  summary.md  report.html
      <component>[_<n>]/output.log, error.log
    results/<deployment>/                            GroupLayout (a directory of runs)
      group_summary.md  group_summary.csv  group_report.html

A new results file is one `_File` line here; its writer and its reader take the path from
the layout, never spell the name themselves.
"""

from dataclasses import dataclass
from pathlib import Path

__all__ = ["GroupLayout", "RunLayout", "TrialsLayout"]

RECORDS_GLOB = "client_*.jsonl"


class _File:
    """A class attribute that reads, on an instance, as that directory's file of this name."""

    def __init__(self, name: str):
        self.name = name

    def __get__(self, layout, owner=None):
        return self if layout is None else layout.root / self.name


@dataclass(frozen=True)
class _Directory:
    root: Path

    @classmethod
    def file_names(cls) -> set[str]:
        """The name of every fixed-name file of this kind of directory."""
        return {value.name for value in vars(cls).values() if isinstance(value, _File)}


class RunLayout(_Directory):
    """The files of one run's results directory, `root` (its fixed-name files; client
    records and component logs by their methods)."""

    manifest = _File("run.json")
    log = _File("test.log.txt")
    events = _File("events.csv")
    watcher = _File("watcher.csv")
    processes = _File("processes.csv")
    replicas = _File("replicas.csv")
    gpu = _File("gpu.csv")
    requests = _File("requests.csv")
    bad_requests = _File("bad_requests.jsonl")
    summary_csv = _File("summary.csv")
    summary_json = _File("summary.json")
    summary_md = _File("summary.md")
    report = _File("report.html")

    def client_records(self, client: int) -> Path:
        """`client_<i>.jsonl`: one JSON line per request of client `client`."""
        return self.root / f"client_{client}.jsonl"

    def record_files(self) -> list[Path]:
        """Every client's records file there is, by name."""
        return sorted(self.root.glob(RECORDS_GLOB))

    def component_logs(self, instance: str) -> Path:
        """The folder of one replica's `output.log` and `error.log`."""
        return self.root / instance

    def is_run(self) -> bool:
        """A directory a run wrote to: it has a manifest, events or request records."""
        return self.root.is_dir() and (self.manifest.exists() or self.events.exists() or bool(self.record_files()))


class GroupLayout(_Directory):
    """The files of a directory of runs (one deployment's failures, as the matrix writes)."""

    summary_md = _File("group_summary.md")
    summary_csv = _File("group_summary.csv")
    report = _File("group_report.html")

    def runs(self) -> list[RunLayout]:
        """The run directories directly under `root`, by name."""
        return [layout for layout in (RunLayout(p) for p in sorted(self.root.iterdir())) if layout.is_run()]


class TrialsLayout(GroupLayout):
    """A group of runs that are the trials of one scenario (`--trials N`): `trial-<k>/` each,
    and the spread of their key metrics."""

    trials_md = _File("trials_summary.md")
    trials_csv = _File("trials_summary.csv")

    def trial(self, k: int) -> Path:
        """The results directory of trial `k`, from 1."""
        return self.root / f"trial-{k}"
