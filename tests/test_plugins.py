"""Plugin discovery through entry points, broken plugins, and the typed hook calls.

Plugins here are real distributions (a module plus a ``dist-info`` folder with
``entry_points.txt``) found by `importlib.metadata`, in this process and in CLI subprocesses.
"""

from __future__ import annotations

import re
import textwrap

import pytest
from conftest import (
    BUILT_IN_MODELS,
    INSTALLED_PLUGINS,
    TINY_DDM_SOURCE,
    first_cells,
    run_cli,
    table_rows,
)

import ssmhub
from ssmhub.errors import ModelConflictError, SsmhubError
from ssmhub.plugins import BUILTIN, PluginManager
from ssmhub.scaffold import distribution_name

pytestmark = INSTALLED_PLUGINS

THETA = {"v": 1.0, "a": 1.0, "z": 0.5, "t": 0.3}
MODELS = BUILT_IN_MODELS
WITHOUT_DDM = [m for m in MODELS if m != "ddm"]


def records_of(manager: PluginManager, dist: str):
    return [r for r in manager.records.values() if r.distribution == dist]


# -- discovery ---------------------------------------------------------------------------------


def test_cli_discovers_an_installed_distribution(plugin_dists):
    plugin_dists.add("tinyplug", TINY_DDM_SOURCE, module="tinyplug_models")

    models = run_cli("models", plugins=plugin_dists)
    assert models.returncode == 0, models.stderr
    assert first_cells(models.stdout) == sorted([*MODELS, "tinyddm"])
    row = next(cells for cells in table_rows(models.stdout) if cells[0] == "tinyddm")
    assert row[1] == "v [-3, 3], a [0.3, 2.5], z [0.1, 0.9], t [0, 2]"
    assert row[2] == "tinyplug"

    plugins = run_cli("plugins", plugins=plugin_dists)
    assert plugins.returncode == 0, plugins.stderr
    rows = [cells for cells in table_rows(plugins.stdout) if cells[1] == "tinyplug"]
    assert rows == [["tinyplug_models", "tinyplug", "0.1", "register_models", "ok"]]


def test_discovered_plugin_in_process(plugin_dists):
    plugin_dists.add("tinyplug", TINY_DDM_SOURCE, module="tinyplug_models")
    manager = PluginManager()
    (record,) = records_of(manager, "tinyplug")
    assert (record.name, record.version, record.hooks, record.status) == (
        "tinyplug_models",
        "0.1",
        ["register_models"],
        "ok",
    )
    assert manager.catalog.owners["tinyddm"] == "tinyplug_models"
    # The public API sees it too, and ssm-simulators simulates it as the ddm it names.
    assert [s.name for s in ssmhub.list_models()] == sorted([*MODELS, "tinyddm"])
    data = ssmhub.simulate("tinyddm", THETA, n=100, seed=0)
    assert len(data) == 100
    assert set(data["response"]) <= {-1, 1}


def test_without_entry_points_only_the_core_loads():
    manager = PluginManager(entry_points=False)
    assert manager.catalog.names() == []
    assert {r.distribution for r in manager.records.values()} == {BUILTIN}


# -- broken plugins ----------------------------------------------------------------------------

IMPORT_RAISES = """
raise RuntimeError("boom at import")
"""

INVALID_SPEC = """
import ssmhub

@ssmhub.hookimpl
def register_models(register):
    register(
        ssmhub.ModelSpec(
            name="badspec",
            description="upside-down bounds",
            parameters=(ssmhub.Parameter(name="a", lower=2.0, upper=1.0, default=1.5),),
        )
    )
"""

UNKNOWN_HOOK = """
import ssmhub
from ssmhub_ddm import SPEC

@ssmhub.hookimpl
def register_models(register):
    register(SPEC.model_copy(update={"name": "ghost"}))

@ssmhub.hookimpl
def register_model(register):  # a typo: no such hook
    pass
"""

NOT_A_SPEC = """
import ssmhub

@ssmhub.hookimpl
def register_models(register):
    register({"name": "dictmodel"})
"""

# case: (distribution, module source, the error in full (regex), a phrase `plugins` shows)
BROKEN = {
    "import-raises": (
        "brokenimport",
        IMPORT_RAISES,
        r"import failed: RuntimeError: boom at import",
        "import failed: RuntimeError: boom at import",
    ),
    "invalid-spec": (
        "brokenspec",
        INVALID_SPEC,
        r"register_models failed: ValidationError: .*parameter 'a': lower \(2.0\) must be below",
        "parameter 'a': lower (2.0) must be below upper (1.0)",
    ),
    "unknown-hook": (
        "brokenhook",
        UNKNOWN_HOOK,
        r"rejected: PluginValidationError: unknown hook 'register_model' in plugin",
        "unknown hook 'register_model'",
    ),
    "not-a-spec": (
        "brokentype",
        NOT_A_SPEC,
        r"register_models failed: registered dict, expected a ssmhub.ModelSpec",
        "registered dict, expected a ssmhub.ModelSpec",
    ),
}


def status_text(output: str, dist: str) -> str:
    """The status cell of the `ssmhub plugins` row of ``dist``, unwrapped."""
    rows = table_rows(output)
    (start,) = [i for i, cells in enumerate(rows) if cells[1] == dist]
    lines = [rows[start][-1]]
    for cells in rows[start + 1 :]:
        if cells[0]:
            break
        lines.append(cells[-1])
    return " ".join(" ".join(lines).split())


@pytest.mark.parametrize("case", BROKEN)
def test_broken_plugin_is_reported_and_the_rest_works(plugin_dists, case):
    dist, source, error, shown = BROKEN[case]
    plugin_dists.add(dist, source)

    manager = PluginManager()
    (record,) = records_of(manager, dist)
    assert record.status == "error"
    assert len(record.errors) == 1
    assert re.search(error, record.errors[0], re.DOTALL), record.errors
    assert manager.catalog.names() == MODELS  # no ghost, no badspec
    for name in MODELS:
        assert records_of(manager, distribution_name(name))[0].status == "ok"

    models = run_cli("models", plugins=plugin_dists)
    assert models.returncode == 0, models.stderr
    assert first_cells(models.stdout) == MODELS

    plugins = run_cli("plugins", plugins=plugin_dists)
    assert plugins.returncode == 0, plugins.stderr
    status = status_text(plugins.stdout, dist)
    assert status.startswith("error ")
    assert shown in status
    for name in MODELS:
        assert status_text(plugins.stdout, distribution_name(name)) == "ok"


IMPORT_TIME_INVALID_SPEC = """
import ssmhub

SPEC = ssmhub.ModelSpec(
    name="early",
    description="default outside the bounds",
    parameters=(ssmhub.Parameter(name="drift", lower=0.0, upper=1.0, default=3.0),),
)
"""

WRONG_ARGUMENT = """
import ssmhub

@ssmhub.hookimpl
def register_models(add):  # the hook's argument is called register
    pass
"""

REGISTER_RAISES = """
import ssmhub
from ssmhub_ddm import SPEC

@ssmhub.hookimpl
def register_models(register):
    register(SPEC.model_copy(update={"name": "halfway"}))
    raise KeyError("lost my config")
"""


@pytest.mark.parametrize(
    ("source", "error"),
    [
        (IMPORT_TIME_INVALID_SPEC, r"^import failed: ValidationError: .*parameter 'drift'"),
        (WRONG_ARGUMENT, r"^rejected: PluginValidationError: .*{'add'} are declared"),
        (REGISTER_RAISES, r"^register_models failed: KeyError: 'lost my config'$"),
    ],
    ids=["import-time-spec", "wrong-argument", "register-raises"],
)
def test_more_broken_plugins_in_process(plugin_dists, source, error):
    plugin_dists.add("broken", source)
    manager = PluginManager()
    (record,) = records_of(manager, "broken")
    assert len(record.errors) == 1
    assert re.search(error, record.errors[0], re.DOTALL), record.errors
    # Nothing of a plugin that failed is used, not even what it registered before failing.
    assert manager.catalog.names() == MODELS


def test_duplicate_model_disables_both_and_names_both(plugin_dists):
    BOTH = r"\((myddm, ddm|ddm, myddm)\)"  # the two plugins' names, in either order
    source = """
        import ssmhub
        from ssmhub_ddm import SPEC

        @ssmhub.hookimpl
        def register_models(register):
            register(SPEC.model_copy(update={"description": "my own ddm"}))
    """
    plugin_dists.add("myddm", source, module="myddm")

    manager = PluginManager()
    assert manager.catalog.names() == WITHOUT_DDM
    for dist in ("myddm", "ssmhub-ddm"):
        (record,) = records_of(manager, dist)
        assert record.status == "error"
        (error,) = record.errors
        assert re.search(BOTH, error), error
        assert error.startswith("model 'ddm' is registered by more than one plugin")
    with pytest.raises(ModelConflictError, match=r"model 'ddm' .*" + BOTH):
        ssmhub.get_model("ddm")
    with pytest.raises(SsmhubError, match="more than one plugin"):
        ssmhub.simulate("ddm", THETA, n=10)

    models = run_cli("models", plugins=plugin_dists)
    assert first_cells(models.stdout) == WITHOUT_DDM
    plugins = run_cli("plugins", plugins=plugin_dists)
    rows = table_rows(plugins.stdout)
    assert {cells[1] for cells in rows if cells[-1] == "error"} == {"myddm", "ssmhub-ddm"}
    for dist in ("myddm", "ssmhub-ddm"):
        assert re.search(
            "model 'ddm' is registered by more than one plugin " + BOTH,
            status_text(plugins.stdout, dist),
        )
    result = run_cli("simulate", "ddm", "--theta", "v=1,a=1,z=0.5,t=0.3", plugins=plugin_dists)
    assert result.returncode == 2
    assert re.search("model 'ddm' .*" + BOTH, " ".join(result.stderr.split()))
    assert "Traceback" not in result.stderr + result.stdout


def test_taken_plugin_name_is_rejected_not_merged(plugin_dists):
    # Another distribution using the entry-point name "ddm": it comes first on sys.path, so
    # it keeps the name; the second is rejected, and each model stays with its real owner.
    source = """
        import ssmhub

        @ssmhub.hookimpl
        def register_models(register):
            register(ssmhub.ModelSpec(
                name="othermodel",
                description="x",
                parameters=(ssmhub.Parameter(name="a", lower=0.0, upper=1.0, default=0.5),),
                non_decision_time=None,
            ))
    """
    plugin_dists.add("other-dist", source, module="other_ddm", entry_point="ddm")
    manager = PluginManager()
    (winner,) = records_of(manager, "other-dist")
    (loser,) = records_of(manager, "ssmhub-ddm")
    assert winner.status == "ok"
    assert loser.errors == ["rejected: plugin name 'ddm' is already taken by other-dist"]
    assert manager.catalog.names() == sorted([*WITHOUT_DDM, "othermodel"])
    assert manager.records[manager.catalog.owners["othermodel"]].distribution == "other-dist"


# -- SSMHUB_PLUGINS ----------------------------------------------------------------------------


def test_env_restricts_plugins_cli():
    only_ddm = run_cli("models", env={"SSMHUB_PLUGINS": "ddm"})
    assert only_ddm.returncode == 0, only_ddm.stderr
    assert first_cells(only_ddm.stdout) == ["ddm"]
    none = run_cli("models", env={"SSMHUB_PLUGINS": ""})
    assert none.returncode == 0, none.stderr
    assert first_cells(none.stdout) == []
    assert "model" in none.stdout  # the (empty) table is still printed


@pytest.mark.parametrize(
    ("value", "models"),
    [
        ("ddm", ["ddm"]),
        ("", []),
        (" angle , weibull ", ["angle", "weibull"]),
        ("ddm,nosuchplugin", ["ddm"]),
        ("ssmhub-angle", ["angle"]),  # a distribution name works as well
    ],
)
def test_env_restricts_plugins_in_process(monkeypatch, value, models):
    monkeypatch.setenv("SSMHUB_PLUGINS", value)
    assert [s.name for s in ssmhub.list_models()] == models
    # Left-out plugins are not loaded at all, so they are not listed either.
    loaded = {r.name for r in ssmhub.plugins.get_manager().records.values()}
    assert not loaded & (set(MODELS) - set(models))


def test_manager_is_rebuilt_after_cache_clear(monkeypatch):
    assert "angle" in ssmhub.plugins.get_manager().catalog.names()
    monkeypatch.setenv("SSMHUB_PLUGINS", "ddm")
    assert "angle" in ssmhub.plugins.get_manager().catalog.names()  # cached: env read once
    ssmhub.plugins.get_manager.cache_clear()
    assert ssmhub.plugins.get_manager().catalog.names() == ["ddm"]


# -- model_recipe ------------------------------------------------------------------------------


def test_model_recipe_defaults():
    manager = PluginManager()
    ddm, angle = manager.catalog.get("ddm"), manager.catalog.get("angle")
    for kind in ("lan", "cpn"):
        assert manager.recipe(ddm, kind).estimator == "exact"
        assert manager.recipe(angle, kind).estimator == "pyddm"
        assert manager.recipe(ddm, kind).kind == kind
    bare = ssmhub.ModelSpec(
        name="bare",
        description="no recipes",
        parameters=(ssmhub.Parameter(name="v", lower=0.0, upper=1.0, default=0.5),),
        non_decision_time=None,
    )
    for kind in ("lan", "cpn"):
        recipe = manager.recipe(bare, kind)
        assert (recipe.kind, recipe.estimator) == (kind, "kde")
        assert recipe.resolved_box(bare) == {"v": (0.0, 1.0)}


def test_plugin_model_recipe_overrides_the_spec(plugin_dists):
    source = """
        import ssmhub

        @ssmhub.hookimpl
        def model_recipe(spec, kind):
            if spec.name == "ddm" and kind == "lan":
                return ssmhub.Recipe(kind=kind, estimator="kde", n_parameter_sets=123)
            return None
    """
    plugin_dists.add("tuner", source)
    manager = PluginManager()
    ddm = manager.catalog.get("ddm")
    assert (manager.recipe(ddm, "lan").estimator, manager.recipe(ddm, "lan").n_parameter_sets) == (
        "kde",
        123,
    )
    # Where the plugin answers None, the spec's own recipe still applies.
    assert manager.recipe(ddm, "cpn").estimator == "exact"
    assert manager.recipe(manager.catalog.get("angle"), "lan").estimator == "pyddm"


# -- register_trainers, register_likelihoods, locate_network ----------------------------------

TRAINERS = """
from dataclasses import dataclass

import ssmhub


@dataclass(frozen=True)
class EchoTrainer:
    kind: str = "echo"

    def train(self, data_dir, out_dir, settings):
        return out_dir


@ssmhub.hookimpl
def register_trainers(register):
    register(EchoTrainer())
"""

LIKELIHOODS = """
import ssmhub


class ConstantLikelihood:
    name = "constant"

    def supports(self, spec):
        return spec.name == "ddm"

    def build(self, spec):
        raise NotImplementedError


@ssmhub.hookimpl
def register_likelihoods(register):
    register(ConstantLikelihood())
"""

RAISING_REGISTRATIONS = """
import ssmhub


@ssmhub.hookimpl
def register_trainers(register):
    raise RuntimeError("no gpu here")


@ssmhub.hookimpl
def register_likelihoods(register):
    raise RuntimeError("no jax here")
"""


def test_register_trainers_reaches_the_manager(plugin_dists):
    plugin_dists.add("echo-trainer", TRAINERS)
    plugin_dists.add("raising", RAISING_REGISTRATIONS)
    manager = PluginManager()
    trainers = manager.trainers()
    assert trainers["echo"].kind == "echo"
    assert type(trainers["echo"]).__module__ == "echo_trainer"
    (bad,) = records_of(manager, "raising")
    assert bad.errors == ["register_trainers failed: RuntimeError: no gpu here"]
    (good,) = records_of(manager, "echo-trainer")
    assert good.status == "ok"
    assert manager.catalog.names() == MODELS
    manager.trainers()  # asking again reports the failure once, not once per call
    assert bad.errors == ["register_trainers failed: RuntimeError: no gpu here"]


def test_register_likelihoods_reaches_the_manager(plugin_dists):
    plugin_dists.add("const-lik", LIKELIHOODS)
    plugin_dists.add("raising", RAISING_REGISTRATIONS)
    manager = PluginManager()
    builders = {b.name: b for b in manager.likelihoods()}
    assert builders["constant"].supports(manager.catalog.get("ddm"))
    assert not builders["constant"].supports(manager.catalog.get("angle"))
    (bad,) = records_of(manager, "raising")
    assert bad.errors == ["register_likelihoods failed: RuntimeError: no jax here"]
    assert records_of(manager, "const-lik")[0].status == "ok"


def test_locate_network_asks_plugins(plugin_dists, tmp_path, monkeypatch):
    network = tmp_path / "shipped" / "tinyddm" / "lan"
    source = TINY_DDM_SOURCE + textwrap.dedent(f"""
        from pathlib import Path


        @ssmhub.hookimpl
        def locate_network(spec, kind):
            if spec.name == "tinyddm" and kind == "lan":
                return Path({str(network)!r})
            return None
    """)
    plugin_dists.add("shipper", source)
    # Only this plugin (and the core's own): no remote registry is asked.
    monkeypatch.setenv("SSMHUB_PLUGINS", "shipper")
    manager = PluginManager()
    (record,) = records_of(manager, "shipper")
    assert record.hooks == ["locate_network", "register_models"]
    tiny = manager.catalog.get("tinyddm")
    assert manager.locate_network(tiny, "lan") == network
    assert manager.locate_network(tiny, "cpn") is None


# The plugin owns its model (tinyddm), so no other plugin answers for it first.
RAISING_FIRST_RESULT = (
    TINY_DDM_SOURCE
    + """

@ssmhub.hookimpl
def model_simulator(spec):
    raise RuntimeError("simulator bug")


@ssmhub.hookimpl
def model_recipe(spec, kind):
    raise RuntimeError("recipe bug")


@ssmhub.hookimpl
def locate_network(spec, kind):
    raise RuntimeError("network bug")
"""
)


@pytest.mark.parametrize(
    ("call", "hook", "bug"),
    [
        (lambda m, spec: m.simulator(spec), "model_simulator", "simulator bug"),
        (lambda m, spec: m.recipe(spec, "lan"), "model_recipe", "recipe bug"),
        (lambda m, spec: m.locate_network(spec, "lan"), "locate_network", "network bug"),
    ],
    ids=["simulator", "recipe", "locate-network"],
)
def test_a_first_result_hook_that_raises_is_named_not_passed_over(plugin_dists, call, hook, bug):
    """Passing the call on could answer for a model the plugin owns (the default recipe)."""
    from ssmhub.errors import PluginError

    plugin_dists.add("buggy", RAISING_FIRST_RESULT)
    manager = PluginManager()
    (record,) = records_of(manager, "buggy")
    with pytest.raises(PluginError) as caught:
        call(manager, manager.catalog.get("tinyddm"))
    message = f"{hook} failed: RuntimeError: {bug}"
    assert str(caught.value).startswith(f"plugin {record.name!r} (buggy 0.1) {message}")
    assert record.errors == [message]  # `ssmhub plugins` shows it
