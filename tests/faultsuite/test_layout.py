"""The results directory's files are named in `faultsuite.layout` and nowhere else."""

import ast
from pathlib import Path

from faultsuite.layers import LAYERS
from faultsuite.layout import GroupLayout, RunLayout

REPO = Path(__file__).resolve().parents[2]
RUN_FILES = RunLayout.file_names()
GROUP_FILES = GroupLayout.file_names()


def test_a_layout_names_each_file_under_its_root(tmp_path):
    layout = RunLayout(tmp_path)
    assert (layout.events, layout.manifest, layout.client_records(3)) == (tmp_path / "events.csv", tmp_path / "run.json", tmp_path / "client_3.jsonl")
    assert {"run.json", "events.csv", "watcher.csv", "processes.csv", "gpu.csv", "requests.csv", "report.html", "test.log.txt"} <= RUN_FILES
    assert GROUP_FILES == {"group_summary.md", "group_summary.csv", "group_report.html"}


def test_a_directory_is_a_run_once_it_has_a_manifest_events_or_records(tmp_path):
    group = GroupLayout(tmp_path)
    for name, file in [("a", "run.json"), ("b", "events.csv"), ("c", "client_0.jsonl"), ("d", "notes.txt")]:
        (tmp_path / name).mkdir()
        (tmp_path / name / file).write_text("")
    assert [run.root.name for run in group.runs()] == ["a", "b", "c"]
    assert not RunLayout(tmp_path / "absent").is_run()


def string_constants(path: Path) -> list[tuple[int, str]]:
    """Every string in the module's code, docstrings left out (they may name files to people)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)
    }
    return [(n.lineno, n.value) for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings]


def test_no_module_but_the_layout_spells_a_results_file_name():
    names = RUN_FILES | GROUP_FILES | {"client_", ".jsonl"}
    spelled = [
        f"{path.relative_to(REPO)}:{line} {value!r}"
        for package in (p for layer in LAYERS for p in layer)
        for path in sorted((REPO / package).rglob("*.py"))
        if path != REPO / "faultsuite" / "layout.py"
        for line, value in string_constants(path)
        if value in names
    ]
    assert spelled == []
