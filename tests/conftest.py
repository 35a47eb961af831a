"""Shared fixtures: throw-away plugin distributions and a runner for the real CLI.

A plugin is made "installed" the way pip would: a module (or package) on ``sys.path`` plus
a ``<name>-<version>.dist-info`` folder whose ``entry_points.txt`` names it in the group
``ssmhub``. `importlib.metadata` then finds it like any installed distribution, in this
process (``sys.path`` is prepended for the test) and in a CLI subprocess (``PYTHONPATH``).
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ssmhub.plugins import PLUGINS_ENV, get_manager

if TYPE_CHECKING:
    from dask.distributed import LocalCluster

# A valid model that ssm-simulators can simulate: the ddm under another name.
# `make test` runs the suite on two xdist workers. The tests that pip-install plugins into
# this environment, and those that expect exactly the built-in models installed, carry this
# mark: they share one worker (`--dist loadgroup`), so none sees another's plugins come and go.
INSTALLED_PLUGINS = pytest.mark.xdist_group("installed-plugins")

# The models of the workspace's plugins, as `ssmhub models` lists them.
BUILT_IN_MODELS = [
    "angle",
    "ddm",
    "ddm_sdv",
    "lba2",
    "lba3",
    "levy",
    "ornstein",
    "racing_diffusion_3",
    "weibull",
]

# A model with three choices (ssm-simulators' race_no_bias_3), for every layer's K-choice path.
RACE3_SOURCE = """
import ssmhub

SPEC = ssmhub.ModelSpec(
    name="race3",
    description="ssm-simulators' race_no_bias_3, three choices",
    parameters=(
        ssmhub.Parameter(name="v0", lower=0.0, upper=2.5, default=1.0),
        ssmhub.Parameter(name="v1", lower=0.0, upper=2.5, default=1.0),
        ssmhub.Parameter(name="v2", lower=0.0, upper=2.5, default=1.0),
        ssmhub.Parameter(name="a", lower=1.0, upper=3.0, default=2.0),
        ssmhub.Parameter(name="z", lower=0.1, upper=0.9, default=0.5),
        ssmhub.Parameter(name="t", lower=0.0, upper=2.0, default=0.3),
    ),
    non_decision_time="t",
    choices=(0, 1, 2),
    ssms_model="race_no_bias_3",
)


@ssmhub.hookimpl
def register_models(register):
    register(SPEC)
"""

TINY_DDM_SOURCE = """
import ssmhub

SPEC = ssmhub.ModelSpec(
    name="tinyddm",
    description="the ddm, registered by a test plugin",
    parameters=(
        ssmhub.Parameter(name="v", lower=-3.0, upper=3.0, default=0.0),
        ssmhub.Parameter(name="a", lower=0.3, upper=2.5, default=1.0),
        ssmhub.Parameter(name="z", lower=0.1, upper=0.9, default=0.5),
        ssmhub.Parameter(name="t", lower=0.0, upper=2.0, default=0.001),
    ),
    non_decision_time="t",
    ssms_model="ddm",
)


@ssmhub.hookimpl
def register_models(register):
    register(SPEC)
"""


class PluginDists:
    """Writes plugin distributions into one folder that is on ``sys.path`` for the test."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.modules: list[str] = []

    def add(
        self,
        dist: str,
        source: str,
        *,
        module: str | None = None,
        entry_point: str | None = None,
        version: str = "0.1",
    ) -> str:
        """Install distribution ``dist`` whose plugin module has ``source``; return the module.

        The entry point is named ``entry_point`` (default: the module's name).
        """
        module = module or dist.replace("-", "_")
        entry_point = entry_point or module
        (self.root / f"{module}.py").write_text(textwrap.dedent(source))
        info = self.root / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        (info / "entry_points.txt").write_text(f"[ssmhub]\n{entry_point} = {module}\n")
        self.modules.append(module)
        importlib.invalidate_caches()
        return module


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    """A real Dask cluster of two worker processes, shared by a module's tests."""
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0") as c:
        yield c


# The narrowed box of the tiny ddm networks of `network_home`.
TINY_BOX = {"v": (-2.5, 2.5), "a": (0.6, 2.0), "z": (0.3, 0.7), "t": (0.1, 0.6)}


@pytest.fixture(scope="session")
def network_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SSMHUB_HOME whose cache holds a tiny ddm LAN and CPN (exact labels, `TINY_BOX`),
    trained once per session, at ``networks/ddm/{lan,cpn}``."""
    from dask.distributed import LocalCluster

    from ssmhub import Recipe
    from ssmhub.generate import generate
    from ssmhub.trainer import TrainSettings
    from ssmhub.training import train

    home = tmp_path_factory.mktemp("ssmhub-home")
    settings = TrainSettings(hidden=(32, 32), epochs=8, batch_size=256, learning_rate=3e-3)
    with LocalCluster(
        n_workers=1, processes=False, threads_per_worker=1, dashboard_address=":0"
    ) as c:
        for kind, n_sets in (("lan", 40), ("cpn", 200)):
            recipe = Recipe(
                kind=kind,
                estimator="exact",
                box=TINY_BOX,
                n_parameter_sets=n_sets,
                shard_size=n_sets,
                n_simulations=1000,
                n_training_points=500,
            )
            data = home / f"data-{kind}"
            generate("ddm", kind, data, recipe, scheduler=c.scheduler_address)
            train(data, home / "networks" / "ddm" / kind, settings)
    return home


@pytest.fixture(scope="session")
def mnle_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SSMHUB_HOME whose cache holds a tiny ddm MNLE (distilled, `TINY_BOX`), trained
    once per session, at ``networks/ddm/mnle``."""
    from dask.distributed import LocalCluster

    from ssmhub import Recipe
    from ssmhub.generate import generate
    from ssmhub.trainer import TrainSettings

    home = tmp_path_factory.mktemp("mnle-home")
    settings = TrainSettings(
        hidden=(64, 64), epochs=20, batch_size=2000, learning_rate=1e-2, distill_weight=1.0
    )
    recipe = Recipe(
        kind="mnle",
        estimator="simulation",
        box=TINY_BOX,
        n_parameter_sets=4000,
        n_simulations=20,
        shard_size=2000,
    )
    with LocalCluster(
        n_workers=1, processes=False, threads_per_worker=1, dashboard_address=":0"
    ) as c:
        data = home / "data-ddm"
        generate("ddm", "mnle", data, recipe, scheduler=c.scheduler_address)
        get_manager().trainers()["mnle"].train(data, home / "networks" / "ddm" / "mnle", settings)
    return home


@pytest.fixture(autouse=True)
def _fresh_manager() -> Iterator[None]:
    """No plugin state leaks between tests: the process-wide manager is rebuilt on demand."""
    get_manager.cache_clear()
    yield
    get_manager.cache_clear()


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every installed plugin enabled, whatever the caller's shell says; an empty network
    cache of the test's own; no network. `run_cli` hands the same environment on."""
    monkeypatch.delenv(PLUGINS_ENV, raising=False)
    monkeypatch.setenv("SSMHUB_HOME", str(tmp_path / "ssmhub-home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture
def plugin_dists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PluginDists]:
    """A folder of plugin distributions, importable in this process and in `run_cli`."""
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    dists = PluginDists(root)
    yield dists
    for module in dists.modules:
        sys.modules.pop(module, None)
    importlib.invalidate_caches()


def run_cli(
    *args: str,
    plugins: PluginDists | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m ssmhub.cli *args`` in a fresh interpreter, as a user would.

    ``plugins`` puts those distributions on the child's PYTHONPATH; ``env`` adds variables
    (e.g. SSMHUB_PLUGINS). The terminal is wide so that tables do not wrap names.
    """
    child_env = {k: v for k, v in os.environ.items() if k not in (PLUGINS_ENV, "PYTHONPATH")}
    child_env["COLUMNS"] = "200"
    child_env["NO_COLOR"] = "1"
    child_env["HF_HUB_OFFLINE"] = "1"
    if plugins is not None:
        child_env["PYTHONPATH"] = str(plugins.root)
    child_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "ssmhub.cli", *args],
        capture_output=True,
        text=True,
        env=child_env,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def table_rows(output: str) -> list[list[str]]:
    """The cells of every body line of the rich tables in ``output`` (wrapped lines too)."""
    return [
        [cell.strip() for cell in line.strip()[1:-1].split("│")]
        for line in output.splitlines()
        if line.startswith("│")
    ]


def first_cells(output: str) -> list[str]:
    """The first cell of every row of a rich table, e.g. the model names of `ssmhub models`."""
    return [cells[0] for cells in table_rows(output) if cells[0]]
