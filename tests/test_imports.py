"""Importing ssmhub changes no global state of the process it is imported into, drawing a
figure chooses no matplotlib backend, and no two modules import each other (a cycle works
only by the accident of import order, so it is removed by structure, not hidden)."""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# Runs in a fresh interpreter: this test process has long since imported everything.
PROBE = """
import importlib, json, multiprocessing, pathlib, pkgutil, sys, tempfile, warnings

import jax, matplotlib
import pymc.sampling.jax, pymc.sampling.mcmc

def state():
    return {
        "jax_enable_x64": bool(jax.config.jax_enable_x64),
        "matplotlib backend": str(matplotlib.rcParams["backend"]),
        "pyplot imported": "matplotlib.pyplot" in sys.modules,
        "start method": multiprocessing.get_start_method(allow_none=True),
        "warning filters": len(warnings.filters),
        "pymc functions": [
            id(pymc.sampling.mcmc._initialize_multiprocessing_context),
            id(pymc.sampling.jax._blackjax_inference_loop),
            id(pymc.sampling.jax._sample_blackjax_nuts),
        ],
    }

before = state()
imported = []
for package in sys.argv[1:]:
    root = importlib.import_module(package)
    imported.append(package)
    for info in pkgutil.walk_packages(root.__path__, package + "."):
        if not info.name.endswith("__main__"):
            importlib.import_module(info.name)
            imported.append(info.name)
from ssmhub.plots import save_figure, subplots
fig, ax = subplots(figsize=(2, 2))
ax.plot([0, 1])
save_figure(fig, pathlib.Path(tempfile.mkdtemp()) / "figure.png")
print(json.dumps({"before": before, "after": state(), "imported": imported}))
"""

PACKAGES = ["ssmhub", "ssmhub_registry", "ssmhub_ddm", "ssmhub_angle", "ssmhub_weibull"]


@pytest.mark.slow
def test_importing_every_ssmhub_module_and_drawing_change_no_global_state():
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *PACKAGES], capture_output=True, text=True, check=True
    )
    report = json.loads(done.stdout.splitlines()[-1])
    assert {"ssmhub.pymc", "ssmhub.ops", "ssmhub.plots", "ssmhub.sampling"} <= set(
        report["imported"]
    )
    assert report["after"] == report["before"]


def module_imports(root: Path, package: str) -> dict[str, set[str]]:
    """Each module of ``package`` (files under ``root``) with the modules of ``package`` it
    imports when it is imported: statements at module level, not under ``TYPE_CHECKING``
    and not inside functions. ``from a import b`` names ``a.b`` where that is a module."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path

    def executed(body: list[ast.stmt]) -> Iterator[ast.stmt]:
        for node in body:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                yield from executed(node.orelse)
            elif isinstance(node, ast.If | ast.Try | ast.With):
                for block in ("body", "orelse", "finalbody", "handlers"):
                    for inner in getattr(node, block, []):
                        yield from executed(getattr(inner, "body", [inner]))
            else:
                yield node

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges = graph.setdefault(name, set())
        for node in executed(ast.parse(path.read_text()).body):
            if isinstance(node, ast.Import):
                edges |= {a.name for a in node.names if a.name in modules}
            elif isinstance(node, ast.ImportFrom) and node.module in modules:
                for alias in node.names:
                    child = f"{node.module}.{alias.name}"
                    edges.add(child if child in modules else node.module)
    return graph


def cycle_in(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` as a path, or None."""
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return [*path[path.index(nxt) :], nxt] if nxt in path else [node, nxt]
            if nxt not in state and (found := visit(nxt, [*path, nxt])):
                return found
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start, [start])):
            return found
    return None


@pytest.mark.parametrize("package", ["ssmhub", "ssmhub_registry"])
def test_modules_import_each_other_without_a_cycle(package):
    root = Path(importlib.import_module(package).__file__).parent
    graph = module_imports(root, package)
    assert len(graph) > 5
    assert cycle_in(graph) is None, " -> ".join(cycle_in(graph) or [])


def test_the_cycle_check_finds_a_cycle(tmp_path):
    root = tmp_path / "pkg"
    root.mkdir()
    (root / "__init__.py").write_text("")
    (root / "a.py").write_text("from pkg.b import f\n")
    (root / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.c\n"
    )
    (root / "c.py").write_text("def g():\n    import pkg.a\n")
    assert cycle_in(module_imports(root, "pkg")) is None  # TYPE_CHECKING and functions
    (root / "c.py").write_text("from pkg import a\n")
    (root / "b.py").write_text("import pkg.c\n")
    assert cycle_in(module_imports(root, "pkg")) == ["pkg.a", "pkg.b", "pkg.c", "pkg.a"]
