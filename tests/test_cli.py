"""The ``ssmhub`` command, run as a user runs it: a fresh interpreter per call.

User errors must end with exit code 2 and one line naming the problem, never a traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest
from conftest import BUILT_IN_MODELS, INSTALLED_PLUGINS, TINY_DDM_SOURCE, first_cells, run_cli

THETA = "v=1,a=1.5,z=0.5,t=0.3"


def flat(text: str) -> str:
    """``text`` with its whitespace collapsed, so that rich's line wrapping does not matter."""
    return " ".join(text.split())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--theta", "v=1,a=1.5,z=0.5"], "model 'ddm' needs a value for 't'"),
        (
            ["--theta", THETA + ",q=2"],
            "unknown parameter(s) 'q' for model 'ddm'; it takes v, a, z, t",
        ),
        (
            ["--theta", "v=1,a=9,z=0.5,t=0.3"],
            "parameter 'a' = 9 lies outside its bounds [0.3, 2.5]",
        ),
        (["--theta", THETA, "-n", "0"], "n must be a positive whole number of trials, got 0"),
        (["--theta", THETA, "-n", "-4"], "n must be a positive whole number of trials, got -4"),
        (["--theta", "v1"], "--theta: 'v1' is not of the form name=value"),
        (["--theta", "v=fast,a=1,z=0.5,t=0.3"], "--theta: value of 'v' is not a number: 'fast'"),
    ],
    ids=["missing", "unknown", "outside", "n-zero", "n-negative", "malformed", "not-a-number"],
)
def test_bad_simulate_input_is_a_clean_error(args, message):
    result = run_cli("simulate", "ddm", *args)
    assert result.returncode == 2
    assert message in flat(result.stderr)
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize("command", ["simulate", "info"])
def test_unknown_model_lists_models_and_suggests(command):
    args = ["--theta", THETA] if command == "simulate" else []
    result = run_cli(command, "ddn", *args)
    assert result.returncode == 2
    message = flat(result.stderr)
    assert "unknown model 'ddn'. Did you mean 'ddm'?" in message
    assert f"Installed models: {', '.join(BUILT_IN_MODELS)}" in message
    assert "Traceback" not in result.stderr + result.stdout


def test_simulate_writes_csv_atomically(tmp_path):
    out = tmp_path / "results" / "trials.csv"
    result = run_cli(
        "simulate", "ddm", "--theta", THETA, "-n", "250", "--seed", "3", "-o", str(out)
    )
    assert result.returncode == 0, result.stderr
    assert "wrote 250 trials" in flat(result.stdout)
    data = pd.read_csv(out)
    assert list(data.columns) == ["rt", "response"]
    assert len(data) == 250
    assert set(data["response"]) <= {-1, 1}
    assert (data["rt"] > 0.3).all()
    assert [p.name for p in out.parent.iterdir()] == ["trials.csv"]  # no temporary file left


def test_simulate_prints_a_summary():
    result = run_cli("simulate", "ddm", "--theta", "v=2.5,a=2,z=0.5,t=0.3", "-n", "400")
    assert result.returncode == 0, result.stderr
    assert "ddm: 400 simulated trials" in result.stdout
    # With this drift nearly every trial ends at the upper bound: a row for response 1.
    assert "1" in first_cells(result.stdout)


def test_info_describes_a_model():
    result = run_cli("info", "angle")
    assert result.returncode == 0, result.stderr
    text = flat(result.stdout)
    assert "theta" in first_cells(result.stdout)
    assert "angle (ssmhub-angle" in text
    assert "choices: [-1, 1] (-1: lower bound, 1: upper bound)" in text
    assert "non-decision time: t" in text
    assert "lan recipe: estimator=pyddm" in text


def test_help_lists_the_commands():
    result = run_cli("--help")
    assert result.returncode == 0, result.stderr
    for command in ("models", "info", "plugins", "simulate"):
        assert command in result.stdout


COMMAND_PLUGIN = """
import typer

import ssmhub


@ssmhub.hookimpl
def register_commands(app):
    @app.command()
    def greet(name: str = typer.Option("world", help="Who to greet.")) -> None:
        \"\"\"Say hello from a plugin.\"\"\"
        print(f"hello {name}, from the greeter plugin")
"""


def test_plugin_adds_a_command(plugin_dists):
    plugin_dists.add("greeter", COMMAND_PLUGIN)
    result = run_cli("greet", "--name", "Ada", plugins=plugin_dists)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "hello Ada, from the greeter plugin"


@INSTALLED_PLUGINS  # lists exactly the built-in models
def test_plugin_command_that_fails_to_register_leaves_the_cli_working(plugin_dists):
    plugin_dists.add("badcommand", COMMAND_PLUGIN.replace("@app.command()", "1 / 0\n    @app"))
    result = run_cli("models", plugins=plugin_dists)
    assert result.returncode == 0, result.stderr
    assert first_cells(result.stdout) == BUILT_IN_MODELS


def test_the_cli_gives_jax_one_device_per_core_for_parallel_chains():
    code = (
        "import os, ssmhub.cli; ssmhub.cli.one_jax_device_per_core(); import jax; "
        "print(jax.local_device_count(), os.cpu_count())"
    )
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    devices, cores = out.stdout.split()
    assert devices == cores


def test_info_prints_a_plugins_text_verbatim(plugin_dists):
    """Descriptions are plain text: brackets are not rich markup to swallow."""
    source = TINY_DDM_SOURCE.replace(
        'description="the ddm, registered by a test plugin"',
        'description="guesses come in [t, t + 2 s]"',
    ).replace("default=0.0),", 'default=0.0, description="drift, per [s]"),', 1)
    plugin_dists.add("bracketed", source)
    result = run_cli("info", "tinyddm", plugins=plugin_dists)
    assert result.returncode == 0, result.stderr
    assert "guesses come in [t, t + 2 s]" in flat(result.stdout)
    assert "drift, per [s]" in flat(result.stdout)


# The tiny ddm with a CPN recipe of its own: a narrowed box and a seed that are not defaults.
NARROWED_DDM = TINY_DDM_SOURCE.replace(
    'ssms_model="ddm",',
    'ssms_model="ddm",\n    recipes=(ssmhub.Recipe(kind="cpn", box={"v": (-1.0, 1.0)}, '
    "n_simulations=50_000, seed=7),),",
)


def test_info_shows_the_recipe_in_force_box_included(plugin_dists):
    plugin_dists.add("narrowed", NARROWED_DDM)
    result = run_cli("info", "tinyddm", plugins=plugin_dists)
    assert result.returncode == 0, result.stderr
    text = flat(result.stdout)
    # 10,000 sets (the default) x 50,000 simulations (the plugin's)
    assert (
        "cpn recipe: estimator=kde, 10,000 parameter sets x 50,000 simulations = "
        "500,000,000 simulated trials; box: v [-1, 1] (narrowed), a [0.3, 2.5], z [0.1, 0.9], "
        "t [0, 2]"
    ) in text
    assert "lan recipe: estimator=kde, 10,000 parameter sets x 100,000 simulations" in text


def test_a_recipe_file_changes_only_the_fields_it_names(plugin_dists, tmp_path):
    plugin_dists.add("narrowed", NARROWED_DDM)
    recipe, out = tmp_path / "recipe.json", tmp_path / "data"
    changes = {"n_parameter_sets": 2, "shard_size": 2, "n_simulations": 100, "box": {"a": [1, 2]}}
    recipe.write_text(json.dumps(changes))
    result = run_cli(
        "generate",
        "tinyddm",
        "--kind",
        "cpn",
        "--recipe",
        str(recipe),
        "--out",
        str(out),
        "--workers",
        "1",
        plugins=plugin_dists,
    )
    assert result.returncode == 0, result.stderr
    text = flat(result.stdout)
    # The cost is announced before the work, whose summary is the last line.
    announced = text.index("2 parameter sets x 100 simulations = 200 simulated trials")
    assert announced < text.index("1 shards, 2 rows")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["box"] == {"v": [-1, 1], "a": [1, 2], "z": [0.1, 0.9], "t": [0, 2]}
    assert manifest["recipe"]["seed"] == 7  # the plugin's, kept
    assert manifest["recipe"]["n_simulations"] == 100  # the file's


@pytest.mark.parametrize(
    ("csv", "message"),
    [
        ("rt,response\n0.5,1\nabc,-1\n0.7,1\n", "line 3, column 'rt': 'abc' is not a number"),
        ("rt,response\n0.5,1\n0.6,1\n0.7,-1\n0.8,0\n", "line 5, column 'response': response"),
    ],
    ids=["text-rt", "unknown-choice"],
)
def test_a_bad_cell_in_a_data_file_names_its_line_and_column(tmp_path, csv, message):
    data = tmp_path / "trials.csv"
    data.write_text(csv)
    result = run_cli(
        "fit", str(data), "--model", "ddm", "--likelihood", "exact", "--out", str(tmp_path / "f")
    )
    assert result.returncode == 2
    assert f"{data}, {message}" in flat(result.stderr)
    assert "Traceback" not in result.stderr
