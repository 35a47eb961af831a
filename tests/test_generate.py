"""Training data on a real Dask cluster: determinism, resuming, integrity, bad recipes."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pydantic import ValidationError

from ssmhub import Recipe
from ssmhub.errors import SsmhubError
from ssmhub.generate import MANIFEST, generate, load_shard, read_manifest

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
    with pytest.raises(SsmhubError, match="another recipe"):
        generate(
            "ddm",
            "cpn",
            tmp_path,
            Recipe(kind="cpn", n_parameter_sets=2, shard_size=2, n_simulations=100, seed=1),
        )
    with pytest.raises(SsmhubError, match="ddm cpn data, not ddm lan"):
        generate("ddm", "lan", tmp_path, lan_recipe())


def test_shards_of_other_labels_are_not_mixed_in(tmp_path, cluster):
    """Data made before an estimator's labels changed (labels.LABELS_REVISION)."""
    recipe = Recipe(kind="cpn", n_parameter_sets=2, shard_size=2, n_simulations=100)
    generate("ddm", "cpn", tmp_path, recipe, scheduler=cluster.scheduler_address)
    manifest = read_manifest(tmp_path)
    stale = manifest.model_copy(update={"labels_revision": manifest.labels_revision - 1})
    (tmp_path / MANIFEST).write_text(stale.model_dump_json())
    with pytest.raises(
        SsmhubError, match=r"'kde' labels of revision 0; this ssmhub makes revision 1"
    ):
        generate("ddm", "cpn", tmp_path, recipe)


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
