"""generate -> train -> save -> load, and networks that must not load."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import TINY_DDM_SOURCE
from pydantic import ValidationError

import ssmhub
from ssmhub import Recipe
from ssmhub.errors import SsmhubError
from ssmhub.generate import generate
from ssmhub.network import CONFIG, WEIGHTS, NetworkConfig, features, read_network, shipped_network
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


def test_labels_below_the_floor_are_trained_as_the_floor(trained, lan_data, tmp_path):
    # A run that cannot move (learning rate 1e-12) records the loss of its start against
    # the floored labels; the floor sits at the labels' median, so it matters.
    import optax

    from ssmhub.generate import read_manifest
    from ssmhub.training import _split

    network, start, _ = trained
    rows = np.concatenate(
        list(_split(read_manifest(lan_data), lan_data, network.config.settings, True, None))
    )
    floor = float(np.median(rows[:, -1]))
    still = TrainSettings(
        hidden=(16, 16), epochs=1, batch_size=64, learning_rate=1e-12, init=start, label_floor=floor
    )
    recorded = train(lan_data, tmp_path / "floored", still).config.metrics["validation_loss"]
    out = network(rows[:, :-1])
    floored = float(optax.huber_loss(out, np.maximum(rows[:, -1], floor)).mean())
    as_generated = float(optax.huber_loss(out, rows[:, -1]).mean())
    assert recorded == pytest.approx(floored, rel=1e-4)
    assert abs(floored - as_generated) > 0.01 * as_generated


def _gradient_error(network, rows: np.ndarray) -> float:
    """Mean squared error of the LAN's parameter gradient against the exact ddm's, per SD."""
    from ssmhub_ddm.exact import logpdf

    sd = np.array([6, 2.2, 0.8, 2]) / np.sqrt(12)  # the ddm box's widths
    theta, rest = rows[:, :4], rows[:, 4:6]
    ours = jax.grad(lambda p: network(jnp.concatenate([p, rest], axis=1)).sum())(theta) * sd
    exact = jax.grad(lambda p: logpdf(p, rest[:, 0], rest[:, 1]).sum())(theta) * sd
    keep = np.all(np.abs(exact) < 10, axis=1)
    return float(np.mean(np.sum((ours - exact)[keep] ** 2, axis=1)))


@pytest.mark.slow
def test_sobolev_training_fits_the_exact_gradient(trained, lan_data, tmp_path):
    # The same start and data, fine-tuned with and without the gradient loss; the error is
    # measured on the training rows: this is about fitting, not generalising.
    from ssmhub.generate import load_shard, read_manifest

    _, start, _ = trained
    settings = TrainSettings(
        hidden=(16, 16), epochs=30, batch_size=64, learning_rate=3e-3, init=start
    )
    manifest = read_manifest(lan_data)
    rows = np.concatenate([load_shard(lan_data, s) for s in manifest.shards])
    errors = {
        weight: _gradient_error(
            train(
                lan_data,
                tmp_path / str(weight),
                settings.model_copy(update={"gradient_weight": weight}),
            ),
            rows,
        )
        for weight in (0.0, 10.0)
    }
    assert errors[10.0] < 0.5 * errors[0.0]
    assert read_network(tmp_path / "10.0").config.settings.gradient_weight == 10.0


@pytest.mark.slow
def test_fine_tuning_starts_from_the_given_network(trained, lan_data, tmp_path):
    network, start, _ = trained
    still = TrainSettings(hidden=(16, 16), epochs=1, batch_size=64, learning_rate=1e-12, init=start)
    tuned = train(lan_data, tmp_path / "tuned", still)
    x = np.array([[1.0, 1.5, 0.5, 0.3, 1.0, 1.0], [-1.0, 0.8, 0.4, 0.2, 0.6, -1.0]], np.float32)
    np.testing.assert_allclose(tuned(x), network(x), atol=1e-4)
    assert (
        f"Fine-tuned from the network in `{start}`"
        in (tmp_path / "tuned" / "README.md").read_text()
    )
    with pytest.raises(SsmhubError, match=r"its hidden is \(16, 16\), not \(8,\)"):
        train(lan_data, tmp_path / "other", still.model_copy(update={"hidden": (8,)}))


def test_sobolev_training_needs_an_exact_likelihood(tmp_path):
    generate(
        "angle",
        "cpn",
        tmp_path,
        Recipe(kind="cpn", n_parameter_sets=2, shard_size=2, n_simulations=100),
        n_workers=1,
    )
    with pytest.raises(SsmhubError, match=r"gradient_weight: .*'angle' cpn has none"):
        train(tmp_path, tmp_path / "run", TrainSettings(hidden=(4,), epochs=1, gradient_weight=1.0))


# -- the non-decision time a network records ---------------------------------------------------


def legacy_config(**changes) -> dict:
    """The ddm's shipped LAN config as JSON data without ``non_decision_time`` (as configs
    were written before it was recorded), with ``changes``."""
    config = json.loads((shipped_network("ssmhub_ddm", "lan") / CONFIG).read_text())
    config.pop("non_decision_time", None)
    return {**config, **changes}


def test_a_config_from_before_the_field_takes_t_as_its_training_code_did():
    assert NetworkConfig.model_validate(legacy_config()).non_decision_time == "t"
    other = legacy_config(parameter_names=["v", "a", "z", "ndt"])
    other["settings"]["rt_feature"] = "rt"
    assert NetworkConfig.model_validate(other).non_decision_time is None


def test_a_config_naming_an_unknown_non_decision_time_is_refused():
    with pytest.raises(ValidationError, match=r"non_decision_time 'ndt' is not one of the network"):
        NetworkConfig.model_validate(legacy_config(non_decision_time="ndt"))


def test_a_lan_without_a_non_decision_time_cannot_see_log_decision_time():
    config = legacy_config(non_decision_time=None)
    config["settings"]["rt_feature"] = "log_decision_time"
    with pytest.raises(ValidationError, match="'log_decision_time' needs a non_decision_time"):
        NetworkConfig.model_validate(config)


def test_log_decision_time_subtracts_the_recorded_non_decision_time():
    inputs = ("ndt", "v", "rt", "response")
    x = np.array([[0.3, 1.0, 0.8, 1.0]], np.float32)
    got = np.asarray(features(inputs, "log_decision_time", "ndt", x))
    np.testing.assert_allclose(got, [[0.3, 1.0, np.log(0.5), 1.0]], rtol=1e-6)
