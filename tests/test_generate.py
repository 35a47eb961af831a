"""Training data on a real Dask cluster: determinism, resuming, integrity, bad recipes."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest
from pydantic import ValidationError

from ssmhub import Recipe
from ssmhub.errors import SsmhubError
from ssmhub.generate import MANIFEST, generate, load_shard, read_manifest
from ssmhub.recipe import SolverGrid, load_recipe

TINY = {"n_parameter_sets": 6, "shard_size": 2, "n_simulations": 1000, "n_training_points": 50}


def lan_recipe(**changes) -> Recipe:
    return Recipe(kind="lan", **{"estimator": "kde", **TINY, **changes})


@pytest.mark.slow
def test_shards_do_not_depend_on_the_number_of_workers(tmp_path, cluster):
    two = generate(
        "ddm", "lan", tmp_path / "two", lan_recipe(), scheduler=cluster.scheduler_address
    )
    one = generate("ddm", "lan", tmp_path / "one", lan_recipe(), n_workers=1)
    assert [s.sha256 for s in one.shards] == [s.sha256 for s in two.shards]
    assert two.complete
    assert len(two.shards) == 3
    rows = np.concatenate([load_shard(tmp_path / "two", s) for s in two.shards])
    assert rows.shape[1] == 4 + 3
    assert 0.8 * 6 * 50 <= len(rows) <= 6 * 50  # rows at rt <= t are dropped
    assert np.all(rows[:, 4] > rows[:, 3])
    assert rows.dtype == np.float32
    # Parameters lie in the box, responses are choices, labels are finite log-likelihoods.
    lower, upper = np.array([-3, 0.3, 0.1, 0.0]), np.array([3, 2.5, 0.9, 2.0])
    assert np.all((rows[:, :4] >= lower - 1e-6) & (rows[:, :4] <= upper + 1e-6))
    assert set(np.unique(rows[:, 5])) <= {-1.0, 1.0}
    assert np.all(np.isfinite(rows[:, 6]))
    assert len(np.unique(rows[:, :4], axis=0)) == 6


@pytest.mark.slow
def test_rerun_redoes_only_missing_or_corrupt_shards(tmp_path, cluster):
    out = tmp_path / "data"
    first = generate("ddm", "lan", out, lan_recipe(), scheduler=cluster.scheduler_address)
    (out / first.shards[1].file).unlink()
    corrupt = out / first.shards[2].file
    corrupt.write_bytes(corrupt.read_bytes()[:100])
    with pytest.raises(SsmhubError, match=first.shards[2].file):
        load_shard(out, first.shards[2])
    mtime = (out / first.shards[0].file).stat().st_mtime_ns
    redone = []
    again = generate(
        "ddm",
        "lan",
        out,
        lan_recipe(),
        scheduler=cluster.scheduler_address,
        on_shard=lambda shard, manifest: redone.append(shard.index),
    )
    assert sorted(redone) == [1, 2]
    assert (out / first.shards[0].file).stat().st_mtime_ns == mtime
    assert [s.sha256 for s in again.shards] == [s.sha256 for s in first.shards]
    assert read_manifest(out).complete


@pytest.mark.slow
def test_growing_a_data_set_keeps_the_shards_it_already_has(tmp_path, cluster):
    # 5 sets end in a half shard, which the 8-set recipe must redo as a full one.
    out, address = tmp_path / "grown", cluster.scheduler_address
    generate("ddm", "lan", out, lan_recipe(n_parameter_sets=5), scheduler=address)
    redone = []
    grown = generate(
        "ddm",
        "lan",
        out,
        lan_recipe(n_parameter_sets=8),
        scheduler=address,
        on_shard=lambda shard, manifest: redone.append(shard.index),
    )
    fresh = generate(
        "ddm", "lan", tmp_path / "fresh", lan_recipe(n_parameter_sets=8), scheduler=address
    )
    assert sorted(redone) == [2, 3]
    assert [s.sha256 for s in grown.shards] == [s.sha256 for s in fresh.shards]
    assert grown.recipe_sha256 == fresh.recipe_sha256


def test_cpn_labels_are_choice_probabilities(tmp_path, cluster):
    # theta near 0 makes angle a ddm, whose P(upper) has a closed form to compare with.
    recipe = Recipe(
        kind="cpn",
        estimator="kde",
        n_parameter_sets=4,
        shard_size=4,
        n_simulations=4000,
        box={"theta": (0.0, 1e-4), "a": (0.5, 1.5)},
    )
    manifest = generate("angle", "cpn", tmp_path, recipe, scheduler=cluster.scheduler_address)
    rows = load_shard(tmp_path, manifest.shards[0])
    assert rows.shape == (4, 5 + 1)
    assert manifest.columns[-1] == "p_upper"
    v, a, z = rows[:, 0].astype(float), rows[:, 1].astype(float), rows[:, 2].astype(float)
    big_a = 2 * a + 2 * 0.5826 * np.sqrt(0.001)  # Euler continuity correction, dt = 1 ms
    start = z * 2 * a + 0.5826 * np.sqrt(0.001)
    p_upper = -np.expm1(-2 * v * start) / -np.expm1(-2 * v * big_a)
    se = np.sqrt(p_upper * (1 - p_upper) / 4000)
    assert np.all(np.abs(rows[:, -1] - p_upper) <= 4 * se + 1e-3)


def test_a_directory_of_another_recipe_is_refused(tmp_path, cluster):
    generate(
        "ddm",
        "cpn",
        tmp_path,
        Recipe(kind="cpn", n_parameter_sets=2, shard_size=2, n_simulations=100),
        scheduler=cluster.scheduler_address,
    )
    with pytest.raises(SsmhubError, match=r"another build.*recipe\.seed is 0 there, 1 now"):
        generate(
            "ddm",
            "cpn",
            tmp_path,
            Recipe(kind="cpn", n_parameter_sets=2, shard_size=2, n_simulations=100, seed=1),
        )
    with pytest.raises(SsmhubError, match="ddm cpn data, not ddm lan"):
        generate("ddm", "lan", tmp_path, lan_recipe())


CPN = Recipe(kind="cpn", n_parameter_sets=2, shard_size=1, n_simulations=100)


@pytest.fixture(scope="module")
def made(tmp_path_factory, cluster):
    """A finished ddm CPN data directory of `CPN`, made once; tests change copies of it."""
    root = tmp_path_factory.mktemp("made")
    generate("ddm", "cpn", root, CPN, scheduler=cluster.scheduler_address)
    return root


def copy_of(made, tmp_path):
    shutil.copytree(made, tmp_path / "data")
    return tmp_path / "data"


def test_the_same_build_resumes_and_keeps_every_shard(made, tmp_path, cluster):
    out = copy_of(made, tmp_path)
    (out / read_manifest(out).shards[1].file).unlink()
    redone = []
    again = generate(
        "ddm",
        "cpn",
        out,
        CPN,
        scheduler=cluster.scheduler_address,
        on_shard=lambda shard, manifest: redone.append(shard),
    )
    assert [s.index for s in redone] == [1]
    assert again == read_manifest(made)


def test_a_narrowed_box_is_refused_naming_the_box(made, tmp_path):
    out = copy_of(made, tmp_path)
    before = (out / MANIFEST).read_text()
    narrowed = CPN.model_copy(update={"box": {"v": (-1.0, 1.0)}})
    with pytest.raises(SsmhubError, match=r"box\['v'\] is \[-3, 3\] there, \[-1, 1\] now"):
        generate("ddm", "cpn", out, narrowed)
    assert (out / MANIFEST).read_text() == before  # the old box is not overwritten


# Another build, simulated by editing the manifest on disk: the directory's record of how
# its shards were made is all that `generate` can compare with.
@pytest.mark.parametrize(
    ("edit", "message"),
    [
        # a plugin upgrade that moved the spec's bounds: the recipe itself is unchanged
        (
            lambda m: m["box"].update(a=[0.5, 2.5]),
            r"box\['a'\] is \[0.5, 2.5\] there, \[0.3, 2.5\] now",
        ),
        (
            lambda m: m["versions"].update({"ssmhub-ddm": "0.0.9"}),
            r"versions\['ssmhub-ddm'\] is '0.0.9' there, '[^']+' now",
        ),
        (
            lambda m: m["versions"].update({"ssm-simulators": "0.9.0"}),
            r"versions\['ssm-simulators'\] is '0.9.0' there, '[^']+' now",
        ),
        # data made before an estimator's labels changed (labels.LABELS_REVISION)
        (lambda m: m.update(labels_revision=0), r"labels_revision is 0 there, 1 now"),
    ],
    ids=["box", "plugin-version", "ssm-simulators-version", "labels-revision"],
)
def test_a_directory_of_another_build_is_refused_naming_the_difference(
    made, tmp_path, edit, message
):
    out = copy_of(made, tmp_path)
    manifest = json.loads((out / MANIFEST).read_text())
    edit(manifest)
    (out / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(SsmhubError, match=message):
        generate("ddm", "cpn", out, CPN)
    assert json.loads((out / MANIFEST).read_text()) == manifest


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"n_parameter_sets": 0}, "n_parameter_sets"),
        ({"n_simulations": -5}, "n_simulations"),
        ({"estimator": "histogram"}, "estimator"),
        ({"box": {"v": (1.0, 1.0)}}, "box"),
        ({"mixture": (0.5, 0.5, 0.5)}, "mixture"),
    ],
)
def test_invalid_recipes_name_the_field(changes, field):
    with pytest.raises(ValidationError, match=field):
        lan_recipe(**changes)


def test_a_recipe_file_overlays_the_plugins_recipe(tmp_path):
    plugins = Recipe(
        kind="lan",
        estimator="pyddm",
        box={"v": (-1.0, 1.0)},
        grid=SolverGrid(dt=0.002, dx=0.004),
        n_training_points=300,
    )
    path = tmp_path / "recipe.json"
    path.write_text('{"box": {"a": [1, 2]}, "grid": {"dx": 0.01}, "seed": 3}')
    assert load_recipe(path, base=plugins) == Recipe(
        kind="lan",
        estimator="pyddm",
        box={"v": (-1.0, 1.0), "a": (1.0, 2.0)},
        grid=SolverGrid(dt=0.002, dx=0.01),
        n_training_points=300,
        seed=3,
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1, 2]", "must be a JSON object of Recipe fields, got list"),
        ("{n_parameter_sets: 2}", "not JSON"),
        ('{"n_simulation": 10}', "n_simulation"),
        ('{"box": {"v": [1, 0]}}', r"box\['v'\]: lower \(1.0\) must be below upper"),
    ],
    ids=["not-an-object", "not-json", "unknown-field", "bad-box"],
)
def test_a_bad_recipe_file_is_named_with_its_fault(tmp_path, text, message):
    path = tmp_path / "recipe.json"
    path.write_text(text)
    with pytest.raises(
        SsmhubError, match=rf"(?s){re.escape(str(path))}: invalid recipe: .*{message}"
    ):
        load_recipe(path, base=lan_recipe())


@pytest.mark.parametrize(
    ("model", "recipe", "message"),
    [
        ("ddm", lan_recipe(box={"q": (0.0, 1.0)}), "recipe.box: .*unknown parameter"),
        ("ddm", lan_recipe(box={"v": (-5.0, 1.0)}), "recipe.box: .*outside"),
        ("angle", lan_recipe(estimator="exact"), "recipe.estimator: 'exact'"),
    ],
)
def test_bad_recipes_fail_before_any_work(tmp_path, model, recipe, message):
    with pytest.raises(SsmhubError, match=message):
        generate(model, "lan", tmp_path / "out", recipe)
    assert not (tmp_path / "out" / MANIFEST).exists()


def test_manifest_records_recipe_and_versions(tmp_path, cluster):
    recipe = Recipe(kind="cpn", n_parameter_sets=2, shard_size=1, n_simulations=100)
    generate("ddm", "cpn", tmp_path, recipe, scheduler=cluster.scheduler_address)
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    assert manifest["recipe_sha256"] == recipe.digest()
    assert Recipe.model_validate(manifest["recipe"]) == recipe
    assert {"ssmhub", "ssm-simulators", "ssmhub-ddm"} <= set(manifest["versions"])
    assert [s["rows"] for s in manifest["shards"]] == [1, 1]


@pytest.mark.slow
def test_generate_killed_mid_run_leaves_only_good_shards_and_a_rerun_finishes(tmp_path):
    """SIGKILL (no cleanup runs) once some shards are written; every shard the manifest
    lists must load with its checksum, and a rerun keeps them and makes the rest."""
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "data"
    command = [sys.executable, "-m", "ssmhub.cli", "generate", "ddm", "--kind", "mnle"]
    command += ["--out", str(out), "--parameter-sets", "30000", "--workers", "1"]
    victim = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if (out / MANIFEST).exists() and read_manifest(out).shards:
                break
            assert victim.poll() is None, "generate ended before it could be killed"
            time.sleep(0.2)
        os.killpg(victim.pid, signal.SIGKILL)  # the Dask worker processes too
        victim.wait(timeout=60)
    finally:
        if victim.poll() is None:
            os.killpg(victim.pid, signal.SIGKILL)
    killed = read_manifest(out)
    assert 1 <= len(killed.shards) < killed.n_shards == 3
    for shard in killed.shards:
        load_shard(out, shard, mmap=False)  # checks its sha256
    written = {shard.file: (out / shard.file).stat().st_mtime_ns for shard in killed.shards}
    finished = generate("ddm", "mnle", out, n_workers=1, recipe=_mnle_recipe(30_000))
    assert finished.complete
    assert len(finished.shards) == 3
    for shard in finished.shards:
        load_shard(out, shard, mmap=False)
    assert {f: (out / f).stat().st_mtime_ns for f in written} == written  # kept, not redone
    # Nothing shard-like besides the manifest's (an interrupted write leaves a hidden temp).
    assert sorted(p.name for p in out.glob("shard-*")) == sorted(s.file for s in finished.shards)


def _mnle_recipe(n_parameter_sets: int) -> Recipe:
    from ssmhub import get_model

    recipe = get_model("ddm").recipe("mnle")
    return recipe.model_copy(update={"n_parameter_sets": n_parameter_sets})
