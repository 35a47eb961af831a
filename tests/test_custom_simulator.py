"""The worked example of docs/custom-simulator.md: a model that brings its own simulator.

The plugin, docs/examples/ddm_lapse.py, is installed the way pip would install it and its
simulator is checked against theory: the ddm's closed forms (ssmhub_ddm.exact) for the
diffusion, a uniform guess for the lapses. The walkthrough, docs/examples/fit_ddm_lapse.py,
then runs at toy sizes: KDE training data, a LAN, and a short PyMC run with it. The page
includes both files, so what it shows is what runs here.
"""

from __future__ import annotations

import importlib
import importlib.util
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import PluginDists
from scipy import stats

import ssmhub
from ssmhub.plugins import get_manager
from ssmhub_ddm import exact

EXAMPLES = Path(__file__).parents[1] / "docs" / "examples"
MODULE = "ssmhub_ddm_lapse"


@pytest.fixture(scope="module", autouse=True)
def plugin(tmp_path_factory):
    """The example installed as the distribution ssmhub-ddm-lapse, entry point ddm_lapse."""
    root = tmp_path_factory.mktemp("site")
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(root))
        PluginDists(root).add(
            "ssmhub-ddm-lapse",
            (EXAMPLES / "ddm_lapse.py").read_text(),
            module=MODULE,
            entry_point="ddm_lapse",
        )
        get_manager.cache_clear()
        yield importlib.import_module(MODULE)
        sys.modules.pop(MODULE, None)
    importlib.invalidate_caches()
    get_manager.cache_clear()


@pytest.fixture(scope="module")
def walkthrough():
    spec = importlib.util.spec_from_file_location("fit_ddm_lapse", EXAMPLES / "fit_ddm_lapse.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def simulate(theta, n, seed):
    """(K, n) trials straight from the simulator the plugin hands the core."""
    manager = get_manager()
    spec = manager.catalog.get("ddm_lapse")
    return manager.simulator(spec)(spec.check_theta(theta), n, seed)


def binomial_tolerance(p, n):
    """Four standard errors of a proportion p estimated from n trials."""
    return 4 * np.sqrt(p * (1 - p) / n)


def ks_critical(n):
    """The Kolmogorov-Smirnov distance exceeded by chance with probability 0.001."""
    return 1.95 / np.sqrt(n)


# --- the plugin -------------------------------------------------------------------------------


def test_the_plugin_registers_a_model_with_its_own_simulator(plugin):
    manager = get_manager()
    record = manager.records["ddm_lapse"]
    assert record.errors == []
    assert record.distribution == "ssmhub-ddm-lapse"
    assert record.hooks == ["model_simulator", "register_models"]
    spec = ssmhub.get_model("ddm_lapse")
    assert spec.ssms_model is None
    assert spec.parameter_names == ("v", "a", "z", "t", "p_lapse")
    simulator = manager.simulator(spec)
    assert isinstance(simulator, plugin.DdmLapseSimulator)
    assert pickle.loads(pickle.dumps(simulator)) == simulator  # it goes to Dask workers
    assert manager.simulator(ssmhub.get_model("ddm")) is not simulator  # others' models stay
    for kind in ("lan", "cpn"):
        recipe = manager.recipe(spec, kind)
        assert recipe.estimator == "kde"
        assert recipe.resolved_box(spec)["p_lapse"] == (0.0, 0.3)


def test_simulate_keeps_the_simulator_contract():
    theta = {"v": [1.0, -1.0, 0.0], "a": 1.0, "z": 0.5, "t": [0.2, 0.4, 0.6], "p_lapse": 0.2}
    frame = ssmhub.simulate("ddm_lapse", theta, n=300, seed=5)
    assert len(frame) == 900
    assert set(frame["response"]) == {-1, 1}
    assert (frame["rt"] > frame["t"]).all()
    assert frame.equals(ssmhub.simulate("ddm_lapse", theta, n=300, seed=5))
    assert not frame.equals(ssmhub.simulate("ddm_lapse", theta, n=300, seed=6))
    by_row = frame.groupby("t")["response"].mean()  # rows in order: v = 1, -1, 0
    assert by_row[0.2] > 0.3 > -0.3 > by_row[0.4]


# --- the simulator against theory -------------------------------------------------------------


def guess_delay(plugin):
    """The delay of a lapse's response after t."""
    return stats.gamma(plugin.GUESS_SHAPE, scale=plugin.GUESS_SCALE)


def test_lapses_alone_are_fair_guesses(plugin):
    n, t = 20_000, 0.4
    # A strong drift to the upper bound, which a guess must ignore.
    sim = simulate({"v": 2.5, "a": 0.8, "z": 0.8, "t": t, "p_lapse": 1.0}, n, seed=1)
    rt, response = sim.rt[0], sim.response[0]
    assert rt.min() > t
    assert stats.kstest(rt - t, guess_delay(plugin).cdf).statistic < ks_critical(n)
    assert abs(np.mean(response == 1) - 0.5) < binomial_tolerance(0.5, n)


# v, a, z, t: drifts of both signs, biased starts, narrow and wide bounds.
DDM_ROWS = np.array(
    [[1.0, 1.0, 0.5, 0.3], [-0.5, 0.6, 0.3, 0.2], [2.0, 2.0, 0.7, 0.5], [0.0, 1.5, 0.5, 0.1]]
)


def mean_decision_time(v, a, z):
    """E[T] of a Wiener process with drift v between 0 and A = 2a, starting at zA."""
    big_a, x = 2 * a, 2 * a * z
    if v == 0:
        return x * (big_a - x)
    p_upper = -np.expm1(-2 * v * x) / -np.expm1(-2 * v * big_a)
    return (big_a * p_upper - x) / v


def test_without_lapses_choices_and_decision_times_follow_the_ddm(plugin):
    n = 10_000
    theta = {name: DDM_ROWS[:, i] for i, name in enumerate("vazt")} | {"p_lapse": 0.0}
    sim = simulate(theta, n, seed=2)
    p_upper = np.exp(np.asarray(exact.log_choice_probability(DDM_ROWS, np.ones(len(DDM_ROWS)))))
    dt = plugin.DdmLapseSimulator().dt
    for row, rt, response, p in zip(DDM_ROWS, sim.rt, sim.response, p_upper, strict=True):
        v, a, z, t = row
        assert abs(np.mean(response == 1) - p) < binomial_tolerance(p, n), row
        decision = rt - t
        expected = mean_decision_time(v, a, z)
        assert abs(decision.mean() - expected) < 4 * decision.std() / np.sqrt(n) + dt, row


def test_with_lapses_the_trials_follow_the_mixture(plugin):
    """(rt, response) against the exact mixture, as one distribution of response * rt."""
    n = 20_000
    v, a, z, t, p_lapse = 0.8, 0.9, 0.4, 0.3, 0.3
    sim = simulate({"v": v, "a": a, "z": z, "t": t, "p_lapse": p_lapse}, n, seed=3)

    tau = np.linspace(0.0, 20.0, 200_001)[1:]  # decision times
    params = np.tile([v, a, z, 0.0], (tau.size, 1))
    cdf = {}  # P(response, rt <= t + tau)
    for response in (-1, 1):
        density = np.exp(np.asarray(exact.logpdf(params, tau, np.full(tau.size, response))))
        ddm = np.concatenate([[0.0], np.cumsum((density[1:] + density[:-1]) / 2 * np.diff(tau))])
        guess = 0.5 * guess_delay(plugin).cdf(tau)
        cdf[response] = (1 - p_lapse) * ddm + p_lapse * guess
    lower_total = cdf[-1][-1]

    def signed_cdf(y):
        """P(response * rt <= y): lower responses on the negative axis, slowest first."""
        below = np.interp(np.abs(y) - t, tau, cdf[-1], left=0.0)
        above = np.interp(y - t, tau, cdf[1], left=0.0)
        return np.where(y < 0, lower_total - below, lower_total + above)

    signed = (sim.response * sim.rt)[0]
    assert stats.kstest(signed, signed_cdf).statistic < ks_critical(n)


# --- the walkthrough: training data, a LAN, PyMC ----------------------------------------------


@pytest.fixture(scope="module")
def trained(walkthrough, tmp_path_factory):
    """A toy LAN, trained by the walkthrough's functions into a network cache of its own."""
    from dask.distributed import LocalCluster

    home = tmp_path_factory.mktemp("ssmhub-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SSMHUB_HOME", str(home))
        mp.setenv("HF_HUB_OFFLINE", "1")
        get_manager.cache_clear()
        with LocalCluster(
            n_workers=1, processes=False, threads_per_worker=1, dashboard_address=":0"
        ) as cluster:
            manifest = walkthrough.make_training_data(
                home / "data",
                n_parameter_sets=40,
                n_simulations=2_000,
                scheduler=cluster.scheduler_address,
            )
        network = walkthrough.train_lan(
            home / "data", epochs=6, hidden=(32, 32), batch_size=256, learning_rate=3e-3
        )
    get_manager.cache_clear()
    return home, manifest, network


@pytest.fixture
def network_cache(trained, monkeypatch):
    monkeypatch.setenv("SSMHUB_HOME", str(trained[0]))
    get_manager.cache_clear()


@pytest.mark.slow
def test_the_walkthrough_trains_a_lan_on_kde_labels(trained, walkthrough, network_cache):
    _, manifest, _ = trained
    assert manifest.complete
    assert manifest.recipe.estimator == "kde"
    assert manifest.box["p_lapse"] == (0.0, 0.3)
    lan = ssmhub.load_network("ddm_lapse", "lan")  # from the cache, where train_lan put it
    assert lan.config.model == "ddm_lapse"
    assert lan.config.inputs == ("v", "a", "z", "t", "p_lapse", "rt", "response")
    assert lan.config.recipe_sha256 == manifest.recipe_sha256

    # Even a toy network tells a drift towards the upper bound from one away from it.
    data = walkthrough.simulate_data()
    truth = walkthrough.TRUTH
    rows = data[["rt", "response"]].to_numpy()

    def loglik(theta):
        params = np.tile([theta[name] for name in lan.config.parameter_names], (len(rows), 1))
        return float(np.sum(lan(np.column_stack([params, rows]).astype(np.float32))))

    assert np.isfinite(loglik(truth))
    assert loglik(truth) > loglik(truth | {"v": -truth["v"]}) + 50


@pytest.mark.slow
def test_the_walkthrough_samples_the_posterior_with_the_lan(walkthrough, network_cache):
    data = walkthrough.simulate_data()
    idata = walkthrough.fit(
        data,
        draws=50,
        tune=50,
        chains=1,
        cores=1,
        random_seed=4,
        progressbar=False,
    )
    posterior = idata.posterior
    assert posterior["v"].shape == (1, 50)
    assert np.isfinite(idata.sample_stats["lp"].to_numpy()).all()
    assert float(posterior["v"].std()) > 0  # the chain moved
    assert float(posterior["t"].max()) < data["rt"].min()
    assert 0.0 <= float(posterior["p_lapse"].min()) <= float(posterior["p_lapse"].max()) <= 0.3
    assert float(posterior["v"].mean()) > 0  # the data were simulated with v = 1
    log_likelihood = idata.log_likelihood["trials"]
    assert log_likelihood.shape == (1, 50, len(data))
    assert np.isfinite(log_likelihood.to_numpy()).all()
