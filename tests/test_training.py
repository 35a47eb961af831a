"""generate -> train -> save -> load, and networks that must not load."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest
from conftest import TINY_DDM_SOURCE

import ssmhub
from ssmhub import Recipe
from ssmhub.errors import SsmhubError
from ssmhub.generate import generate
from ssmhub.network import CONFIG, WEIGHTS, read_network
from ssmhub.plugins import get_manager
from ssmhub.trainer import TrainSettings
from ssmhub.training import train


@pytest.fixture(scope="module")
def lan_data(tmp_path_factory):
    out = tmp_path_factory.mktemp("lan-data")
    recipe = Recipe(
        kind="lan",
        estimator="kde",
        n_parameter_sets=6,
        shard_size=3,
        n_simulations=1000,
        n_training_points=100,
    )
    generate("ddm", "lan", out, recipe, n_workers=1)
    return out


@pytest.fixture(scope="module")
def trained(lan_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    settings = TrainSettings(hidden=(16, 16), epochs=2, batch_size=64)
    reports = []
    network = train(lan_data, out, settings, on_epoch=reports.append)
    return network, out, reports


@pytest.mark.slow
def test_round_trip_gives_identical_outputs(trained):
    network, out, reports = trained
    assert [r.epoch for r in reports] == [1, 2]
    loaded = ssmhub.load_network("ddm", "lan", out)
    x = (
        np.random.default_rng(0)
        .uniform([-3, 0.3, 0.1, 0, 0, -1], [3, 2.5, 0.9, 2, 5, 1], size=(50, 6))
        .astype(np.float32)
    )
    np.testing.assert_array_equal(np.asarray(network(x)), np.asarray(loaded(x)))
    config = json.loads((out / CONFIG).read_text())
    assert config["parameter_names"] == ["v", "a", "z", "t"]
    assert config["inputs"] == ["v", "a", "z", "t", "rt", "response"]
    assert config["metrics"]["epochs"] == 2
    assert config["box"]["a"] == [0.3, 2.5]


@pytest.mark.slow
def test_loaded_network_is_a_pure_jax_function(trained):
    _, out, _ = trained
    net = ssmhub.load_network("ddm", "lan", out)
    x = np.tile(np.array([[1.0, 1.5, 0.5, 0.3, 1.0, 1.0]], np.float32), (4, 1))
    np.testing.assert_allclose(jax.jit(net)(x), net(x), rtol=1e-6)
    grad = jax.grad(lambda rows: net(rows).sum())(x)
    assert grad.shape == x.shape
    assert np.all(np.isfinite(grad))
    np.testing.assert_allclose(jax.vmap(lambda row: net(row[None])[0])(x), net(x), rtol=1e-6)


@pytest.mark.slow
def test_trainer_hook_trains_through_the_registered_trainer(lan_data, tmp_path):
    trainer = get_manager().trainers()["lan"]
    path = trainer.train(lan_data, tmp_path, TrainSettings(hidden=(8,), epochs=1, batch_size=64))
    assert read_network(path).config.hidden == (8,)


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["missing weights", "wrong shape", "other parameters"])
def test_damaged_network_directories_fail_clearly(trained, tmp_path, damage):
    _, out, _ = trained
    for name in (CONFIG, WEIGHTS, "README.md"):
        (tmp_path / name).write_bytes((out / name).read_bytes())
    config = json.loads((tmp_path / CONFIG).read_text())
    if damage == "missing weights":
        (tmp_path / WEIGHTS).unlink()
        expected = "weights.safetensors is missing"
    elif damage == "wrong shape":
        config["hidden"] = [16, 17]
        expected = "shape"
    else:
        config["parameter_names"] = ["v", "a", "t", "z"]
        expected = "installed model 'ddm'"
    (tmp_path / CONFIG).write_text(json.dumps(config))
    with pytest.raises(SsmhubError, match=expected):
        ssmhub.load_network("ddm", "lan", tmp_path)


def test_missing_network_says_how_to_get_one(monkeypatch, tmp_path, plugin_dists):
    plugin_dists.add("tinyplug", TINY_DDM_SOURCE)  # a model that ships no networks
    monkeypatch.setenv("SSMHUB_HOME", str(tmp_path))
    with pytest.raises(SsmhubError, match="ssmhub train"):
        ssmhub.load_network("tinyddm", "cpn")


@pytest.mark.slow
def test_saved_network_reproduces_the_recorded_validation_loss(trained, lan_data):
    # The input standardisation used in training is folded into the first layer on saving;
    # the saved network must score the held-out rows exactly as the trained model did.
    import optax

    from ssmhub.generate import read_manifest
    from ssmhub.training import _split

    network, _, _ = trained
    settings = network.config.settings
    rows = np.concatenate(list(_split(read_manifest(lan_data), lan_data, settings, True, None)))
    loss = float(optax.huber_loss(network(rows[:, :-1]), rows[:, -1]).mean())
    assert loss == pytest.approx(network.config.metrics["validation_loss"], rel=1e-4)
