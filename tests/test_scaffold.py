"""``ssmhub new-plugin``: what it refuses, what it writes, and that what it writes installs
with pip and passes its own conformance tests as generated."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import tomllib
import types

import pytest
from conftest import INSTALLED_PLUGINS, first_cells, run_cli

import ssmhub
from ssmhub.plugins import get_manager
from ssmhub.scaffold import ScaffoldError, new_plugin, render
from ssmhub.spec import ModelSpec

pytestmark = INSTALLED_PLUGINS


def load_spec(text: str) -> ModelSpec:
    """The SPEC of a generated module, run without installing it."""
    module = types.ModuleType("generated_plugin")
    sys.modules[module.__name__] = module  # dataclasses look their module up there
    try:
        exec(compile(text, "generated.py", "exec"), module.__dict__)
    finally:
        del sys.modules[module.__name__]
    return module.SPEC


# -- what it refuses ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Ornstein", "2fast", "my-model", "my model", "", "_x"])
def test_a_bad_name_is_refused_naming_the_rule(tmp_path, name):
    with pytest.raises(ScaffoldError) as caught:
        new_plugin(name, tmp_path)
    assert str(caught.value).startswith(
        f"plugin name {name!r}: must be lowercase letters, digits and underscores, starting "
        "with a letter"
    )
    assert list(tmp_path.iterdir()) == []


def test_an_existing_folder_is_refused(tmp_path):
    (tmp_path / "mine").mkdir()
    with pytest.raises(ScaffoldError, match=r"mine already exists; choose another --dir or name"):
        new_plugin("mine", tmp_path)
    assert list((tmp_path / "mine").iterdir()) == []


def test_an_installed_model_name_is_refused(tmp_path):
    with pytest.raises(ScaffoldError, match="a model named 'ddm' is already installed"):
        new_plugin("ddm", tmp_path, "ddm")
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_ssms_model_lists_close_names(tmp_path):
    with pytest.raises(
        ScaffoldError,
        match=r"ssm-simulators 0\.15\.0 has no model 'ornstien'; the closest names: "
        r"ornstein, ornstein_angle, ",
    ):
        new_plugin("mine", tmp_path, "ornstien")
    assert list(tmp_path.iterdir()) == []


def test_cli_errors_exit_2_without_a_traceback(tmp_path):
    result = run_cli("new-plugin", "My-Model", "--dir", str(tmp_path))
    assert result.returncode == 2
    assert "plugin name 'My-Model': must be lowercase" in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr + result.stdout


# -- what it writes ----------------------------------------------------------------------------


@pytest.mark.parametrize(("model", "estimator"), [("ornstein", "pyddm"), ("levy", "kde")])
def test_from_ssms_fills_the_spec_from_model_config(model, estimator):
    from ssms.config import model_config

    files = render("mine", model)
    spec = load_spec(files["src/ssmhub_mine/__init__.py"])
    config = model_config[model]
    assert spec.name == "mine"
    assert spec.ssms_model == model
    assert list(spec.parameter_names) == config["params"]
    assert [(p.lower, p.upper) for p in spec.parameters] == [
        config["param_bounds_dict"][n] for n in config["params"]
    ]
    assert [p.default for p in spec.parameters] == config["default_params"]
    assert list(spec.choices) == config["choices"]
    assert spec.non_decision_time == "t"  # what ssm-simulators adds to every decision time
    assert {(r.kind, r.estimator) for r in spec.recipes} == {
        ("mnle", "simulation"),
        ("lan", estimator),
        ("cpn", estimator),
    }


def test_a_model_with_three_choices_gets_an_mnle_recipe_alone():
    # LAN and CPN represent two choices: a spec with their recipes would not even validate.
    text = render("mine", "race_no_bias_3")["src/ssmhub_mine/__init__.py"]
    spec = load_spec(text)
    assert spec.choices == (0, 1, 2)
    assert [(r.kind, r.estimator) for r in spec.recipes] == [("mnle", "simulation")]
    assert "No LAN or CPN: they represent two choices, and the model has 3." in " ".join(
        line.strip(" #") for line in text.splitlines()
    )


def test_an_ssms_model_without_t_has_no_non_decision_time():
    spec = load_spec(render("race", "lba2")["src/ssmhub_race/__init__.py"])
    assert "t" not in spec.parameter_names
    assert spec.non_decision_time is None


def test_a_default_outside_the_bounds_becomes_the_midpoint_with_a_comment():
    # ssm-simulators' default alpha (0) lies outside its own bounds [0.31, 4.99].
    text = render("mine", "ddm_par2_weibull_no_bias")["src/ssmhub_mine/__init__.py"]
    spec = load_spec(text)
    assert spec.parameter("alpha").default == pytest.approx((0.31 + 4.99) / 2)
    assert "# ssm-simulators' default 0 lies outside the bounds, so the midpoint is used" in text


@pytest.mark.parametrize("model", [None, "levy"], ids=["skeleton", "from-ssms"])
def test_the_distribution_agrees_with_itself(model):
    files = render("mine", model)
    assert set(files) == {
        "pyproject.toml",
        "README.md",
        "src/ssmhub_mine/__init__.py",
        "tests/test_mine.py",
    }
    project = tomllib.loads(files["pyproject.toml"])
    assert project["project"]["name"] == "ssmhub-mine"
    assert project["project"]["entry-points"]["ssmhub"] == {"mine": "ssmhub_mine"}
    assert "ssmhub" in project["project"]["dependencies"]
    assert project["build-system"]["build-backend"] == "hatchling.build"
    assert project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"] == ["src/ssmhub_mine"]
    assert (
        'class TestConformance(PluginConformance):\n    model = "mine"'
        in files["tests/test_mine.py"]
    )
    assert load_spec(files["src/ssmhub_mine/__init__.py"]).name == "mine"


@pytest.mark.parametrize("from_ssms", [False, True], ids=["skeleton", "from-ssms"])
def test_generated_python_keeps_the_line_length_even_for_the_longest_names(from_ssms):
    from ssms.config import model_config

    longest = max(model_config, key=len)  # 56 characters in ssm-simulators 0.15
    files = render(longest, longest if from_ssms else None)
    for path, text in files.items():
        if path.endswith(".py"):
            too_long = [line for line in text.splitlines() if len(line) > 100]
            assert not too_long, (path, too_long)


def test_the_distribution_name_is_normalised():
    project = tomllib.loads(render("my_model")["pyproject.toml"])["project"]
    assert project["name"] == "ssmhub-my-model"  # as pip and PyPI spell it
    assert project["entry-points"]["ssmhub"] == {"my_model": "ssmhub_my_model"}
    assert render("my_model")["README.md"].startswith("# ssmhub-my-model\n")


@pytest.mark.parametrize(
    ("model", "has_reference"), [("ornstein", True), ("levy", False), (None, False)]
)
def test_the_readme_says_whether_ssmhub_evaluate_can_measure_the_networks(model, has_reference):
    readme = render("mine", model)["README.md"]
    assert ("`ssmhub evaluate runs/mine-mnle` then measures the network" in readme) == has_reference
    assert ("this model has neither: check its networks by parameter recovery" in readme) != (
        has_reference
    )


def test_cli_writes_the_plugin(tmp_path):
    result = run_cli("new-plugin", "mine", "--from-ssms", "levy", "--dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    root = tmp_path / "mine"
    written = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert written == sorted(render("mine", "levy"))
    for path in written:
        assert f"wrote {root / path}" in result.stdout
    assert f"pip install -e '{root}[test]'" in " ".join(result.stdout.split())


# -- what it writes works ----------------------------------------------------------------------


@pytest.fixture(params=[("scaffoldlevy", "levy"), ("scaffoldskel", None)], ids=["levy", "skeleton"])
def installed_plugin(request, tmp_path):
    """A generated plugin, pip-installed into this environment (offline) for the test only."""
    name, model = request.param
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    try:  # the finaliser also removes what an interrupted earlier run left installed
        root = new_plugin(name, tmp_path, model)
        installed = subprocess.run(
            [*pip, "install", "-q", "--no-build-isolation", "--no-deps", "--no-index", str(root)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert installed.returncode == 0, installed.stdout + installed.stderr
        importlib.invalidate_caches()
        get_manager.cache_clear()  # new_plugin loaded the plugins before this one was there
        yield name, root
    finally:
        subprocess.run(
            [*pip, "uninstall", "-y", "-q", f"ssmhub-{name}"],
            capture_output=True,
            timeout=300,
            check=False,
        )
        sys.modules.pop(f"ssmhub_{name}", None)
        importlib.invalidate_caches()


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_generated_plugin_installs_and_passes_its_own_tests(installed_plugin):
    name, root = installed_plugin
    spec = ssmhub.get_model(name)  # found through its entry point, in this process too

    models = run_cli("models")
    assert models.returncode == 0, models.stderr
    assert name in first_cells(models.stdout)

    theta = ",".join(f"{p.name}={p.default}" for p in spec.parameters)
    simulated = run_cli("simulate", name, "--theta", theta, "-n", "200", "--seed", "0")
    assert simulated.returncode == 0, simulated.stderr
    assert f"{name}: 200 simulated trials" in simulated.stdout

    env = {k: v for k, v in os.environ.items() if k not in ("SSMHUB_PLUGINS", "PYTHONPATH")}
    own = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(root / "tests")],
        capture_output=True,
        text=True,
        cwd=root,
        env=env | {"HF_HUB_OFFLINE": "1"},
        timeout=300,
        check=False,
    )
    assert own.returncode == 0, own.stdout + own.stderr
    # Registration, spec, simulator and the three recipes pass; no networks ship yet.
    assert "6 passed, 4 skipped" in own.stdout
