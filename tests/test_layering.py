"""Imports point one way, down the layers of `faultsuite.layers`, with no circle anywhere.

Imports are read from the source (`ast`), so those under `if TYPE_CHECKING:` and inside
functions count as much as the rest: a type the lower module needs is the lower module's.
"""

import ast
import importlib
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from faultsuite.layers import LAYERS, layer_of

REPO = Path(__file__).resolve().parents[1]
PACKAGES = [package for layer in LAYERS for package in layer]
#: Run only inside a backend's own virtual environment (Dynamo's), never imported by the suite.
BACKEND_ONLY = {"deployments.dynamo.event_broker", "deployments.dynamo.tiny_model", "deployments.vllm.tiny_model"}
#: Need the `bench` extra (openai, httpx) and OPENAI_API_KEY: a benchmark's, not the suite's.
BENCH_ONLY = {"benchmarks.locustfiles.openai_user"}


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for package in PACKAGES for path in sorted((REPO / package).rglob("*.py"))}


def imported(module: str) -> Iterator[str]:
    """Every suite module `module` imports, wherever the import statement stands."""
    path = MODULES[module]
    return imports_in(path.read_text(encoding="utf-8"), module, is_package=path.name == "__init__.py")


def imports_in(source: str, module: str, is_package: bool = False) -> Iterator[str]:
    """Every suite module that `source`, the text of `module`, imports."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
        else:
            continue
        for name in names:
            while name and name not in MODULES:
                name = name.rpartition(".")[0]
            if name and name != module:
                yield name


GRAPH = {module: set(imported(module)) for module in MODULES}


def top(module: str) -> str:
    return module.split(".")[0]


def test_every_top_level_package_of_the_suite_has_a_layer():
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    installed = {pattern.rstrip("*") for pattern in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    assert installed | {"benchmarks"} == set(PACKAGES)


@pytest.mark.parametrize("package", PACKAGES, ids=[f"{layer_of(p) + 1}-{p}" for p in PACKAGES])
def test_a_package_imports_only_itself_and_the_layers_below(package):
    wrong = sorted(
        f"{module} imports {target} (layer {layer_of(top(target)) + 1}, not below {layer_of(package) + 1})"
        for module, targets in GRAPH.items()
        if top(module) == package
        for target in targets
        if top(target) != package and layer_of(top(target)) >= layer_of(package)
    )
    assert wrong == []


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's components of more than one module: each is an import circle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return circles


def test_no_modules_import_each_other_in_a_circle():
    assert strongly_connected(GRAPH) == []


def test_the_circle_finder_finds_a_circle_through_three_modules():
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_imports_under_type_checking_inside_functions_and_relative_ones_all_count():
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from chaos.targets import Resolution\n"
        "def later():\n    import locustfiles.run\n"
        "from .models import Catalogue\n"
        "from reports import render\n"
    )
    assert set(imports_in(source, "chaos.injector")) == {"chaos.targets", "locustfiles.run", "chaos.models", "reports.render"}


def test_the_run_is_seen_importing_the_layers_below_it():
    assert {"chaos.injector", "deployments.factory", "samplers.watcher", "reports.render", "gate.expectations"} <= GRAPH["locustfiles.run"]


@pytest.mark.parametrize("module", sorted(set(MODULES) - BACKEND_ONLY - BENCH_ONLY))
def test_every_module_imports(module):
    importlib.import_module(module)
