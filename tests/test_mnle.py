"""The `mnle` network kind: normalised by construction, trained on raw simulations, used by
`SSM` for trials with and without a reaction time, for two choices and for three."""

from __future__ import annotations

import json
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pymc as pm
import pytest
from cached_networks import use_cached_networks
from conftest import RACE3_SOURCE, run_cli

import ssmhub
from ssmhub import Recipe
from ssmhub.errors import SsmhubError, ThetaError
from ssmhub.fit_plots import plot_ppc
from ssmhub.generate import generate, read_manifest
from ssmhub.mnle import choice_index, log_choice_probability, log_rt_density
from ssmhub.network import Network, read_network
from ssmhub.observed import ObservedDataError
from ssmhub.ops import IMPOSSIBLE
from ssmhub.plugins import get_manager
from ssmhub.pymc import SSM
from ssmhub.trainer import TrainSettings
from ssmhub.training import complete_manifest

SETTINGS = TrainSettings(hidden=(32, 32), epochs=6, batch_size=2000, learning_rate=3e-3)


def tiny_recipe(**fields: object) -> Recipe:
    values = {
        "kind": "mnle",
        "estimator": "simulation",
        "n_parameter_sets": 1000,
        "n_simulations": 20,
        "shard_size": 500,
        **fields,
    }
    return Recipe.model_validate(values)


def train_tiny(model: str, root: Path, recipe: Recipe, settings: TrainSettings = SETTINGS) -> Path:
    data, out = root / f"data-{model}", root / "networks" / model / "mnle"
    generate(model, "mnle", data, recipe, n_workers=1)
    get_manager().trainers()["mnle"].train(data, out, settings)
    return out


def integrals(network: Network, thetas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per parameter row: the integral over rt of each choice's density (trapezoid rule in
    log decision time), and the sum of the choice and undecided probabilities."""
    y = np.linspace(np.log(1e-6), 8.0, 40_001)
    head = network.head(thetas.astype(np.float32))
    k = len(network.config.choices)
    mass = np.empty((len(thetas), k))
    for row in range(len(thetas)):
        one = type(head)(*(x[row : row + 1] for x in head))
        for choice in range(k):
            log_p = log_rt_density(one, jnp.full(y.size, choice), jnp.asarray(y, jnp.float32))
            mass[row, choice] = np.trapezoid(np.exp(np.asarray(log_p, np.float64) + y), y)
    total = np.exp(np.asarray(head.log_choice, np.float64)).sum(axis=1)
    return mass, total


def test_normalised_for_two_and_three_choices(tmp_path, monkeypatch, plugin_dists):
    plugin_dists.add("ssmhub-race3", RACE3_SOURCE)
    monkeypatch.setenv("SSMHUB_HOME", str(tmp_path))
    rng = np.random.default_rng(1)
    for model, choices in (("ddm", (-1, 1)), ("race3", (0, 1, 2))):
        path = train_tiny(model, tmp_path, tiny_recipe(n_parameter_sets=400, shard_size=400))
        network = read_network(path)
        assert network.config.choices == choices
        box = network.config.box
        lower, upper = (np.array([b[i] for b in box.values()]) for i in (0, 1))
        mass, total = integrals(network, rng.uniform(lower, upper, size=(5, len(box))))
        assert mass.shape == (5, len(choices))
        np.testing.assert_allclose(mass, 1.0, atol=1e-4)
        np.testing.assert_allclose(total, 1.0, atol=1e-5)


def test_density_is_zero_at_or_below_t_through_the_guard(mnle_home, monkeypatch):
    use_cached_networks(monkeypatch, mnle_home)
    theta = {"v": 1.0, "a": 1.2, "z": 0.5, "t": 0.3}
    data = np.array([[0.25, 1.0], [0.3, -1.0], [0.8, 1.0]])
    logp = pm.logp(SSM.dist("ddm", "mnle", **theta), data).eval()
    assert np.all(logp[:2] <= IMPOSSIBLE)  # a probability of 0 in floating point
    assert np.isfinite(logp[2])


def test_guards_refuse_parameters_outside_the_training_box(mnle_home, monkeypatch):
    use_cached_networks(monkeypatch, mnle_home)
    data = np.array([[0.8, 1.0], [np.nan, -1.0]])
    with pytest.raises(ThetaError, match=r"'a' = 2\.4 lies outside the training box"):
        SSM.dist("ddm", "mnle", v=1.0, a=2.4, z=0.5, t=0.3)
    dist = SSM.dist("ddm", "mnle", v=1.0, a=2.4, z=0.5, t=0.3, extrapolate=True)
    assert np.all(np.isfinite(pm.logp(dist, data).eval()))
    with pm.Model():
        a = pm.Uniform("a", 0.3, 2.5)
        with pytest.warns(ssmhub.pymc.OutsideTrainingBoxWarning, match="'a'"):
            SSM("y", "ddm", "mnle", v=1.0, a=a, z=0.5, t=0.3, observed=data)


def test_choice_only_rows_are_the_same_networks_choice_probability(mnle_home, monkeypatch):
    """A row without an rt scores log P(choice), which is what the densities integrate to:
    the sum over rt of the network's own joint density (quadrature), not another network."""
    use_cached_networks(monkeypatch, mnle_home)
    theta = {"v": 0.7, "a": 1.3, "z": 0.45, "t": 0.35}
    network = ssmhub.load_network("ddm", "mnle")
    dist = SSM.dist("ddm", "mnle", **theta)
    choice_only = pm.logp(dist, np.array([[np.nan, 1.0], [np.nan, -1.0]])).eval()
    tau = np.exp(np.linspace(np.log(1e-5), 6.0, 40_001))
    row = np.array([list(theta.values())], np.float32)
    for response, logp in zip((1.0, -1.0), choice_only, strict=True):
        joint = network.mnle_logp(row, jnp.asarray(theta["t"] + tau), jnp.full(tau.size, response))
        p = np.trapezoid(np.exp(np.asarray(joint, np.float64)) * tau, np.log(tau))
        assert logp == pytest.approx(np.log(p), abs=1e-3)
    # and the probabilities of the two choices and of no decision add up to one
    head = network.head(row)
    index = choice_index(jnp.array([1, -1]), (-1, 1))
    decided = np.exp(np.asarray(log_choice_probability(head, index), np.float64))
    np.testing.assert_allclose(decided, np.exp(choice_only), rtol=1e-5)


def test_a_shared_parameter_row_goes_through_the_network_once(mnle_home, monkeypatch):
    """Scalar parameters reach the likelihood as one row, and the values equal those of
    the same parameters given per trial."""
    use_cached_networks(monkeypatch, mnle_home)
    from ssmhub.ops import guard
    from ssmhub.pymc import trial_loglik

    spec = ssmhub.get_model("ddm")
    built = get_manager().likelihood(spec, "mnle")
    seen = []

    def counting(params, rt, response):
        seen.append(params.shape)
        return built.logp_rt(params, rt, response)

    likelihood = guard(built._replace(logp_rt=counting), spec, built.box)
    data = jnp.asarray(ssmhub.simulate("ddm", {"v": 1, "a": 1, "z": 0.5, "t": 0.3}, 50, seed=0))
    shared = trial_loglik(likelihood, None)(data, 1.0, 1.0, 0.5, 0.3)
    per_trial = trial_loglik(likelihood, None)(data, jnp.full(50, 1.0), 1.0, 0.5, 0.3)
    assert seen == [(1, 4), (50, 4)]
    np.testing.assert_allclose(shared, per_trial, rtol=1e-6)


def test_fit_with_the_mnle_recovers_the_truth(mnle_home, monkeypatch):
    """A tiny end-to-end fit: generate -> train -> save -> load (the fixture) -> SSM -> NUTS."""
    use_cached_networks(monkeypatch, mnle_home)
    truth = {"v": 1.0, "a": 1.2, "z": 0.5, "t": 0.3}
    data = ssmhub.simulate("ddm", truth, n=400, seed=3)
    data.loc[::4, "rt"] = np.nan  # a quarter of the trials without a reaction time
    with pm.Model():
        v = pm.Uniform("v", -2.5, 2.5)
        a = pm.Uniform("a", 0.6, 2.0)
        SSM("y", "ddm", "mnle", v=v, a=a, z=0.5, t=0.3, observed=data[["rt", "response"]])
        idata = pm.sample(200, tune=200, chains=1, random_seed=1, progressbar=False)
    posterior = idata.posterior
    for name in ("v", "a"):
        mean, sd = float(posterior[name].mean()), float(posterior[name].std())
        assert abs(mean - truth[name]) < 4 * sd + 0.1, name


@pytest.mark.filterwarnings("ignore:Numba will use object mode")  # the simulator, in draws
def test_a_three_choice_model_is_fitted_with_all_its_choices(tmp_path, monkeypatch, plugin_dists):
    plugin_dists.add("ssmhub-race3", RACE3_SOURCE)
    monkeypatch.setenv("SSMHUB_HOME", str(tmp_path))
    train_tiny("race3", tmp_path, tiny_recipe(n_parameter_sets=400, shard_size=400))
    theta = {"v0": 1.5, "v1": 0.5, "v2": 0.5, "a": 2.0, "z": 0.5, "t": 0.3}
    data = ssmhub.simulate("race3", theta, n=200, seed=0)
    assert set(data["response"]) == {0, 1, 2}
    with pm.Model():
        v0 = pm.Uniform("v0", 0.0, 2.5)
        rest = {k: val for k, val in theta.items() if k != "v0"}
        SSM("y", "race3", "mnle", v0=v0, **rest, observed=data[["rt", "response"]])
        idata = pm.sample(100, tune=100, chains=1, random_seed=1, progressbar=False)
        idata["posterior_predictive"] = pm.sample_posterior_predictive(
            idata, random_seed=2, progressbar=False
        )["posterior_predictive"]
    assert np.isfinite(idata.posterior["v0"]).all()
    predicted = np.asarray(idata.posterior_predictive["y"]).reshape(-1, 2)
    assert set(np.unique(predicted[:, 1])) == {0, 1, 2}
    plot_ppc(idata, data, tmp_path / "ppc.png", get_manager().catalog.get("race3"))
    assert (tmp_path / "ppc.png").stat().st_size > 0
    with pm.Model(), pytest.raises(ObservedDataError, match="response"):
        SSM("y", "race3", "mnle", **theta, observed=np.array([[0.5, 3.0]]))


def test_undecided_trials_are_an_outcome_not_a_choice(tmp_path):
    """Trials ssm-simulators ends at its horizon come back with a response it picked; the
    data keep them as undecided rows (NaN), and the network's card reports their share."""
    recipe = tiny_recipe(
        box={"v": (-0.1, 0.1), "a": (2.4, 2.5)}, max_rt=3.0, n_parameter_sets=200, shard_size=200
    )
    generate("ddm", "mnle", tmp_path / "data", recipe, n_workers=1)
    manifest = complete_manifest(tmp_path / "data", "mnle")
    rows = np.load(tmp_path / "data" / manifest.shards[0].file)
    rt, response = rows[:, 4], rows[:, 5]
    undecided = np.isnan(rt)
    assert 0.2 < undecided.mean() < 0.9  # a slow ddm with a 3 s horizon
    assert np.all(np.isnan(response[undecided]))
    assert np.all(rt[~undecided] - rows[~undecided, 3] < 3.0)
    assert set(np.unique(response[~undecided])) == {-1.0, 1.0}
    out = tmp_path / "net"
    get_manager().trainers()["mnle"].train(tmp_path / "data", out, SETTINGS)
    config = json.loads((out / "config.json").read_text())
    assert config["metrics"]["undecided_share"] == pytest.approx(undecided.mean(), abs=0.05)
    assert "undecided" in (out / "README.md").read_text()


def test_simulation_shards_do_not_depend_on_the_number_of_workers(tmp_path, cluster):
    recipe = tiny_recipe(n_parameter_sets=300, shard_size=100)
    generate("ddm", "mnle", tmp_path / "one", recipe, n_workers=1)
    generate("ddm", "mnle", tmp_path / "two", recipe, scheduler=cluster.scheduler_address)
    one, two = read_manifest(tmp_path / "one"), read_manifest(tmp_path / "two")
    assert [s.sha256 for s in one.shards] == [s.sha256 for s in two.shards]
    assert one.columns == ("v", "a", "z", "t", "rt", "response")


def test_recipes_pair_the_mnle_kind_with_raw_simulations():
    with pytest.raises(ValueError, match="'mnle' networks train on raw simulated trials"):
        Recipe(kind="mnle", estimator="kde")
    with pytest.raises(ValueError, match="estimator 'simulation' cannot make lan data"):
        Recipe(kind="lan", estimator="simulation")


def test_distillation_needs_an_exact_likelihood(tmp_path, monkeypatch, plugin_dists):
    plugin_dists.add("ssmhub-race3", RACE3_SOURCE)
    generate("race3", "mnle", tmp_path / "d", tiny_recipe(n_parameter_sets=100), n_workers=1)
    settings = SETTINGS.model_copy(update={"distill_weight": 1.0})
    with pytest.raises(SsmhubError, match=r"distill_weight: .* of model 'race3'"):
        get_manager().trainers()["mnle"].train(tmp_path / "d", tmp_path / "n", settings)


def test_cli_generates_trains_and_fits_with_mnle(tmp_path):
    recipe = tmp_path / "recipe.json"
    recipe.write_text(tiny_recipe(n_parameter_sets=400, shard_size=400).model_dump_json())
    data, net = tmp_path / "data", tmp_path / "net"
    gen = run_cli(
        "generate",
        "ddm",
        "--kind",
        "mnle",
        "--recipe",
        str(recipe),
        "--out",
        str(data),
        "--workers",
        "1",
    )
    assert gen.returncode == 0, gen.stderr
    trained = run_cli(
        "train",
        str(data),
        "--out",
        str(net),
        "--epochs",
        "2",
        "--hidden",
        "16",
        "--components",
        "3",
    )
    assert trained.returncode == 0, trained.stderr
    config = json.loads((net / "config.json").read_text())
    assert (config["kind"], config["components"], config["choices"]) == ("mnle", 3, [-1, 1])
    assert config["command"].startswith("ssmhub train")
