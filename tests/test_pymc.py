"""`ssmhub.pymc.SSM`: the likelihoods inside PyMC, the three NUTS samplers, predictive draws.

The tiny LAN and CPN of conftest's ``network_home`` are the networks; the exact ddm
likelihood is the reference throughout.
"""

from __future__ import annotations

import shutil
import warnings
from importlib.metadata import version
from pathlib import Path

import arviz as az
import jax
import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
import pytest
from cached_networks import use_cached_networks
from conftest import TINY_BOX as BOX
from conftest import TINY_DDM_SOURCE

import ssmhub
from ssmhub.errors import SsmhubError, ThetaError, UnknownModelError
from ssmhub.observed import ObservedDataError
from ssmhub.ops import IMPOSSIBLE
from ssmhub.plugins import get_manager
from ssmhub.pymc import SSM, OutsideTrainingBoxWarning, initvals, sample
from ssmhub_ddm import exact

TRUTH = {"v": 1.0, "a": 1.2, "z": 0.5, "t": 0.3}
N = 100
OMITTED = [3, 50, 97]  # rows whose rt is withheld: scored by the choice likelihood


@pytest.fixture(autouse=True)
def _network_cache(_isolated_env, network_home, monkeypatch):
    use_cached_networks(monkeypatch, network_home, kinds=("lan", "cpn"))  # the plugin's mnle


@pytest.fixture(scope="module")
def data():
    frame = ssmhub.simulate("ddm", TRUTH, n=N, seed=3)
    frame.loc[OMITTED, "rt"] = np.nan
    return frame


def builder(name):
    return {b.name: b for b in get_manager().likelihoods()}[name]


def exact_reference(params, rt, response):
    """Per-row exact log-likelihoods, the choice probability where rt is NaN, in float64."""
    with jax.enable_x64(True):
        with_rt = exact.logpdf(params, np.nan_to_num(rt, nan=1.0), response)
        choice = exact.log_choice_probability(params, response)
        return np.where(np.isnan(rt), choice, with_rt)


# --- the lan builder --------------------------------------------------------------------------


def test_lan_builder_wraps_the_trained_networks():
    spec = ssmhub.get_model("ddm")
    lan_builder = builder("lan")
    assert lan_builder.supports(spec)
    assert not lan_builder.supports(spec.model_copy(update={"name": "untrained"}))
    lan, cpn = ssmhub.load_network("ddm", "lan"), ssmhub.load_network("ddm", "cpn")
    likelihood = lan_builder.build(spec)
    params = np.array([[1.0, 1.2, 0.5, 0.3], [-0.5, 0.8, 0.4, 0.2]])
    rt, response = np.array([0.7, 1.1]), np.array([1.0, -1.0])
    rows = np.column_stack([params, rt, response]).astype(np.float32)
    got = likelihood.logp_rt(params, rt, response)
    assert got.dtype == np.float32  # the network's precision, whatever the inputs'
    np.testing.assert_allclose(got, lan(rows), rtol=1e-6)
    logit = np.asarray(cpn.logits(params.astype(np.float32)))
    np.testing.assert_allclose(
        likelihood.logp_choice(params, response),
        [jax.nn.log_sigmoid(logit[0]), jax.nn.log_sigmoid(-logit[1])],
        rtol=1e-6,
    )
    assert likelihood.box == BOX


def test_the_lan_follows_the_exact_density_on_data_from_the_model(data):
    params = np.tile([TRUTH[n] for n in "vazt"], (N, 1))
    keep = ~np.isnan(data.rt.to_numpy())
    rt, response = data.rt.to_numpy()[keep], data.response.to_numpy()[keep]
    lan = builder("lan").build(ssmhub.get_model("ddm"))
    approx = np.asarray(lan.logp_rt(params[keep], rt, response))
    reference = np.asarray(exact.logpdf(params[keep], rt, response))
    assert np.corrcoef(approx, reference)[0, 1] > 0.7


# --- logp -------------------------------------------------------------------------------------


@pytest.mark.parametrize("likelihood", ["exact", "lan"])
def test_logp_has_one_entry_per_row_and_nan_rts_use_the_choice_likelihood(data, likelihood):
    rv = SSM.dist("ddm", likelihood, **TRUTH)
    logp = pm.logp(rv, data[["rt", "response"]].to_numpy()).eval()
    assert logp.shape == (N,)
    params = np.tile([TRUTH[n] for n in "vazt"], (N, 1))
    rt, response = data.rt.to_numpy(), data.response.to_numpy()
    if likelihood == "exact":
        np.testing.assert_allclose(logp, exact_reference(params, rt, response), rtol=1e-10)
    else:
        lan = builder("lan").build(ssmhub.get_model("ddm"))
        np.testing.assert_allclose(
            logp[OMITTED], lan.logp_choice(params[OMITTED], response[OMITTED]), rtol=1e-6
        )
        keep = ~np.isnan(rt)
        np.testing.assert_allclose(
            logp[keep], lan.logp_rt(params[keep], rt[keep], response[keep]), rtol=1e-6
        )


def test_symbolic_values_and_shared_data_give_the_same_logp_as_fixed_data(data):
    """Rows not known at build time are not split: each is scored by both likelihoods."""
    rows = data[["rt", "response"]].to_numpy()
    rv = SSM.dist("ddm", "lan", **TRUTH)
    value = pt.matrix("value")
    fixed = pm.logp(rv, rows).eval()
    np.testing.assert_allclose(pm.logp(rv, value).eval({value: rows}), fixed, rtol=1e-6)

    with pm.Model() as model:  # pm.Data refuses NaN: the trials with an rt only
        observed = pm.Data("trials", rows[~np.isnan(rows[:, 0])])
        SSM("y", "ddm", "lan", observed=observed, **TRUTH)
    shared = model.compile_logp(sum=False)({})[0]
    np.testing.assert_allclose(shared, fixed[~np.isnan(rows[:, 0])], rtol=1e-6)


@pytest.mark.parametrize("likelihood", ["exact", "lan"])
def test_trialwise_parameters_match_per_condition_logps_by_hand(data, likelihood):
    condition = np.where(np.arange(N) % 3 == 0, -1.0, 1.0)
    observed = data[["rt", "response"]].to_numpy()
    with pm.Model() as model:
        v0 = pm.Uniform("v0", 0.0, 2.0)
        SSM("y", "ddm", likelihood, observed=observed, v=v0 * condition, a=1.2, z=0.5, t=0.3)
    logp = model.compile_logp(vars=model.observed_RVs, sum=False)({"v0_interval__": 0.3})[0]

    v0_value = 2.0 / (1.0 + np.exp(-0.3))
    by_hand = np.empty(N)
    for sign in (-1.0, 1.0):
        rows = condition == sign
        rv = SSM.dist("ddm", likelihood, v=sign * v0_value, a=1.2, z=0.5, t=0.3)
        by_hand[rows] = pm.logp(rv, observed[rows]).eval()
    # The LAN computes in float32: the two graphs may round differently, by ~1 ulp.
    np.testing.assert_allclose(logp, by_hand, rtol=1e-6, atol=1e-6)
    assert logp.shape == (N,)


@pytest.mark.parametrize("likelihood", ["exact", "lan"])
def test_gradients_match_finite_differences_with_trialwise_and_choice_only_rows(data, likelihood):
    # Scalar parameters beside a trial-wise one, and rows with and without an rt: the
    # NeuroRacer layout. PyMC hands scalars over shaped (1,); they must not be indexed
    # per row (JAX clamps the index: the value stays right, the gradient goes wrong).
    condition = np.where(np.arange(N) % 2 == 0, -1.0, 1.0)
    with pm.Model() as model:
        v = pm.Uniform("v", *BOX["v"])
        a = pm.Uniform("a", *BOX["a"])
        t = pm.Uniform("t", BOX["t"][0], 0.2)
        SSM(
            "y",
            "ddm",
            likelihood,
            observed=data[["rt", "response"]],
            v=v * condition,
            a=a,
            z=0.5,
            t=t,
        )
    logp, dlogp = model.compile_logp(), model.compile_dlogp()
    point = {"v_interval__": 0.3, "a_interval__": 0.2, "t_interval__": -0.4}
    names = [var.name for var in model.value_vars]
    grad = dlogp(point)
    for i, name in enumerate(names):
        h = 1e-3
        up, down = dict(point), dict(point)
        up[name] += h
        down[name] -= h
        numeric = (logp(up) - logp(down)) / (2 * h)
        assert grad[i] == pytest.approx(numeric, rel=2e-2, abs=1e-2), name


def test_rt_at_or_below_t_is_impossible_with_a_gradient_back(data):
    observed = data[["rt", "response"]].to_numpy()
    fastest = np.nanmin(observed[:, 0])
    with pm.Model() as model:
        t = pm.Uniform("t", 0.1, 0.6, initval=0.2)
        SSM("y", "ddm", "lan", observed=observed, v=1.0, a=1.2, z=0.5, t=t)
    logp, dlogp = model.compile_logp(), model.compile_dlogp()
    above = fastest + 0.01
    value = np.log((above - 0.1) / (0.6 - above))  # the interval transform of Uniform(0.1, 0.6)
    assert logp({"t_interval__": value}) <= IMPOSSIBLE
    assert dlogp({"t_interval__": value})[0] < 0  # towards a smaller t

    assert np.isfinite(logp(model.initial_point()))


def test_outside_the_training_box_is_minus_inf_unless_extrapolating(data):
    observed = data[["rt", "response"]].dropna().to_numpy()
    v = pt.scalar("v")
    for extrapolate in (False, True):
        rv = SSM.dist("ddm", "lan", extrapolate=extrapolate, v=v, a=1.2, z=0.5, t=0.3)
        logp = pm.logp(rv, observed).sum()
        inside, outside = (logp.eval({v: x}) for x in (2.0, 2.8))
        assert np.isfinite(inside)
        assert np.isfinite(outside) == extrapolate
    with pytest.raises(
        ThetaError, match=r"'z' = 0\.9 lies outside the training box \[0\.3, 0\.7\]"
    ):
        SSM.dist("ddm", "lan", v=1.0, a=1.2, z=0.9, t=0.3)


def test_priors_reaching_outside_the_box_warn_when_the_model_is_built(data):
    observed = data[["rt", "response"]].to_numpy()
    with pm.Model(), pytest.warns(OutsideTrainingBoxWarning, match=r"'v'.*\[-2\.5, 2\.5\]"):
        SSM("y", "ddm", "lan", observed=observed, v=pm.Normal("v", 0, 1), a=1.2, z=0.5, t=0.3)
    with pm.Model():
        a = pm.Uniform("a0", 0.5, 1.5) * 2  # an expression: checked on prior draws
        with pytest.warns(OutsideTrainingBoxWarning, match=r"'a'.*\[0\.6, 2\]"):
            SSM("y", "ddm", "lan", observed=observed, v=1.0, a=a, z=0.5, t=0.3)
    quiet = [  # inside the box, extrapolating on purpose, and no box at all
        ("lan", False, lambda: pm.Uniform("v", -2.5, 2.5)),
        ("lan", True, lambda: pm.Normal("v", 0, 1)),
        ("exact", False, lambda: pm.Normal("v", 0, 1)),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error", OutsideTrainingBoxWarning)
        for likelihood, extrapolate, prior in quiet:
            with pm.Model():
                SSM(
                    "y",
                    "ddm",
                    likelihood,
                    observed=observed,
                    extrapolate=extrapolate,
                    v=prior(),
                    a=1.2,
                    z=0.5,
                    t=0.3,
                )


def test_initvals_start_t_below_the_fastest_rt_and_keep_loo_possible(data):
    observed = data[["rt", "response"]].to_numpy()
    fastest = np.nanmin(observed[:, 0])
    assert fastest < 0.5
    with pm.Model() as model:
        t = pm.Uniform("t", 0.0, 1.0)  # its default start, 0.5, is above the fastest rt
        SSM("y", "ddm", "exact", observed=observed, v=1.0, a=1.2, z=0.5, t=t)
    start = initvals(model)
    assert 0 < start["t"] < fastest
    with model:
        idata = pm.sample(
            draws=5, tune=5, chains=1, cores=1, initvals=start, random_seed=0, progressbar=False
        )
        pm.compute_log_likelihood(idata, progressbar=False)
    assert np.isfinite(idata.log_likelihood["y"].to_numpy()).all()

    with pm.Model() as model:
        t = pm.Uniform("t", 0.0, fastest)  # starts below
        SSM("y", "ddm", "exact", observed=observed, v=1.0, a=1.2, z=0.5, t=t)
    assert initvals(model) == {}

    with pm.Model() as model:
        t = pm.Uniform("t0", 0.0, 0.5) + pm.Uniform("dt", 0.0, 0.5)  # an expression
        SSM("y", "ddm", "exact", observed=observed, v=1.0, a=1.2, z=0.5, t=t)
    assert initvals(model) == {}
    refused = r"t = 0\.5 is not below the rt .* at column 'rt', row"
    with pm.Model(), pytest.raises(ThetaError, match=refused):
        SSM("y", "ddm", "exact", observed=observed, v=1.0, a=1.2, z=0.5, t=0.5)


def test_the_model_compiles_into_one_jax_function_without_callbacks(data):
    from pymc.sampling.jax import get_jaxified_logp

    with pm.Model() as model:
        v = pm.Uniform("v", -2.0, 2.0)
        SSM("y", "ddm", "lan", observed=data, v=v, a=1.2, z=0.5, t=0.3)
    logp = get_jaxified_logp(model, negative_logp=False)
    point = [np.asarray(x) for x in model.initial_point().values()]
    assert "callback" not in str(jax.make_jaxpr(logp)(point))
    np.testing.assert_allclose(-logp(point), model.compile_logp()(model.initial_point()))


# --- errors -----------------------------------------------------------------------------------


def frame(rt, response):
    return pd.DataFrame({"rt": rt, "response": response})


BAD = {
    "negative rt": (
        frame([0.5, -0.2], [1, -1]),
        r"column 'rt', row 1 \(counted from 0\): rt must be positive",
    ),
    "zero rt": (
        frame([0.0, 0.5], [1, -1]),
        r"column 'rt', row 0 \(counted from 0\): rt must be positive",
    ),
    "infinite rt": (
        frame([0.5, np.inf], [1, 1]),
        r"column 'rt', row 1 \(counted from 0\): rt must be finite",
    ),
    "unknown response": (
        frame([0.5, 0.6, 0.7], [1, 0, 1]),
        r"column 'response', row 1 \(counted from 0\): "
        r"response must be one of the model's choices \[-1, 1\]",
    ),
    "missing response": (
        frame([0.5, 0.6], [1, np.nan]),
        r"column 'response', row 1 \(counted from 0\)",
    ),
    "text response": (
        pd.DataFrame({"rt": [0.5, 0.6], "response": ["1", "go"]}),
        r"column 'response', row 1 \(counted from 0\): 'go' is not a number",
    ),
    "missing column": (
        pd.DataFrame({"rt": [0.5], "choice": [1]}),
        "lack column\\(s\\) 'response'",
    ),
    "wrong shape": (np.ones((4, 3)), r"\(N, 2\) array .* got an array of shape \(4, 3\)"),
    "no rows": (np.empty((0, 2)), "no rows"),
    "milliseconds": (
        frame([523.0, 701.0, np.nan, 12.0], [1, -1, 1, 1]),
        r"median reaction time is 523, but ssmhub takes seconds .* divide rt by 1000",
    ),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_observed_data_name_the_column_row_and_rule(case):
    observed, message = BAD[case]
    with pm.Model(), pytest.raises(ObservedDataError, match=message):
        SSM("y", "ddm", "exact", observed=observed, v=1.0, a=1.2, z=0.5, t=0.1)


@pytest.mark.parametrize("likelihood", ["lan", "mnle"])
def test_reaction_times_beyond_a_networks_training_horizon_are_refused(data, likelihood):
    late = data[["rt", "response"]].copy()
    late.loc[5, "rt"] = 25.0  # ssm-simulators' horizon, where the training data end: 20 s
    message = rf"row 5 \(counted from 0\): 25 s lies beyond 20 s, the longest rt the '{likelihood}'"
    with pm.Model(), pytest.raises(ObservedDataError, match=message):
        SSM("y", "ddm", likelihood, observed=late, v=1.0, a=1.2, z=0.5, t=0.1)
    with pm.Model():  # a closed form has no horizon
        y = SSM("y", "ddm", "exact", observed=late, v=1.0, a=1.2, z=0.5, t=0.1)
        assert np.isfinite(pm.logp(y, late.to_numpy()).eval()[5])


def test_provenance_names_each_network_by_its_source_and_checksum(data, network_home):
    from ssmhub.files import sha256_of
    from ssmhub.pymc import provenance

    with pm.Model() as model:
        SSM("lan", "ddm", "lan", observed=data, v=1.0, a=1.2, z=0.5, t=0.1)
        SSM("mnle", "ddm", "mnle", observed=data, v=1.0, a=1.2, z=0.5, t=0.1)
        SSM("exact", "ddm", "exact", observed=data, v=1.0, a=1.2, z=0.5, t=0.1)
    record = provenance(model)
    assert record["ssmhub_version"] == version("ssmhub")
    lan, mnle, closed = record["observed"]
    assert (lan["variable"], lan["model"], lan["likelihood"]) == ("lan", "ddm", "lan")
    assert [n["kind"] for n in lan["networks"]] == ["lan", "cpn"]
    assert lan["networks"][0]["source"] == "cache"
    assert lan["networks"][0]["path"] == str((network_home / "networks/ddm/lan").resolve())
    (shipped,) = mnle["networks"]
    ddm = f"ssmhub-ddm {version('ssmhub-ddm')}"
    assert (shipped["source"], shipped["plugin"]) == ("plugin", ddm)
    assert "ssmhub_ddm" in shipped["path"]
    for net in (*lan["networks"], shipped):
        assert net["weights_sha256"] == sha256_of(Path(net["path"]) / "weights.safetensors")
        assert "ssmhub" in net["trained_with"]
        assert net["ssmhub_version"] == version("ssmhub")
        assert net["model_plugin"] == ddm
    assert closed["networks"] == []


def test_trialwise_parameters_must_have_one_value_per_row(data):
    observed = data[["rt", "response"]].to_numpy()
    for v in (np.ones(N + 5), np.ones(N - 1), pm.Normal.dist(size=7)):
        with (
            pm.Model(),
            pytest.raises(ObservedDataError, match=f"'v' is trial-wise with .* {N} rows"),
        ):
            SSM("y", "ddm", "exact", observed=observed, v=v, a=1.2, z=0.5, t=0.1)


@pytest.fixture
def tinyddm(plugin_dists, network_home, tmp_path, monkeypatch):
    """The ddm under another name, with no exact likelihood and no networks of its own."""
    plugin_dists.add("ssmhub-tinyddm", TINY_DDM_SOURCE)
    monkeypatch.setenv("SSMHUB_HOME", str(tmp_path / "home"))
    get_manager.cache_clear()
    return tmp_path / "home" / "networks" / "tinyddm"


def test_rows_without_rt_need_a_choice_network(data, network_home, tinyddm):
    shutil.copytree(network_home / "networks" / "ddm" / "lan", tinyddm / "lan")
    refused = r"row 3 \(counted from 0\): .* needs a choice"
    with pm.Model(), pytest.raises(ObservedDataError, match=refused):
        SSM("y", "tinyddm", "lan", observed=data, v=1.0, a=1.2, z=0.5, t=0.3)


def test_the_default_likelihood_is_the_best_network_the_model_has(data, network_home, tinyddm):
    theta = {"v": 1.0, "a": 1.2, "z": 0.5, "t": 0.3}
    with pytest.raises(SsmhubError, match=r"no likelihood 'lan' for model 'tinyddm'"):
        SSM.dist("tinyddm", **theta)  # no network at all: the error names the missing one
    shutil.copytree(network_home / "networks" / "ddm" / "lan", tinyddm / "lan")
    shutil.copytree(network_home / "networks" / "ddm" / "cpn", tinyddm / "cpn")
    rows = data.to_numpy()
    lan = pm.logp(SSM.dist("tinyddm", "lan", **theta), rows).eval()
    np.testing.assert_array_equal(pm.logp(SSM.dist("tinyddm", **theta), rows).eval(), lan)
    manager = get_manager()
    shutil.copytree(manager.locate_network(manager.catalog.get("ddm"), "mnle"), tinyddm / "mnle")
    mnle = pm.logp(SSM.dist("tinyddm", "mnle", **theta), rows).eval()
    assert not np.allclose(mnle, lan)
    np.testing.assert_array_equal(pm.logp(SSM.dist("tinyddm", **theta), rows).eval(), mnle)


def test_unknown_names_list_what_is_available(tinyddm):
    with pytest.raises(UnknownModelError, match=r"Installed models: .*ddm"):
        SSM.dist("dmm", v=1.0, a=1.0, z=0.5, t=0.3)
    with pytest.raises(ThetaError, match=r"unknown parameter\(s\) 'q'.* it takes v, a, z, t"):
        SSM.dist("ddm", v=1.0, a=1.0, z=0.5, t=0.3, q=1.0)
    with pytest.raises(ThetaError, match=r"missing parameter\(s\) 't'"):
        SSM.dist("ddm", v=1.0, a=1.0, z=0.5)
    with pytest.raises(
        SsmhubError, match=r"no likelihood 'kde' for model 'ddm'; available: 'exact'"
    ):
        SSM.dist("ddm", "kde", v=1.0, a=1.0, z=0.5, t=0.3)
    with pytest.raises(SsmhubError, match=r"'tinyddm'; available: none .* `ssmhub train`"):
        SSM.dist("tinyddm", "lan", v=1.0, a=1.0, z=0.5, t=0.3)


# --- sampling ---------------------------------------------------------------------------------


def ddm_model(data, likelihood="lan"):
    with pm.Model() as model:
        v = pm.Uniform("v", -2.5, 2.5)
        a = pm.Uniform("a", 0.6, 2.0)
        t = pm.Uniform("t", 0.1, 0.5)  # starts at 0.3, below the fastest rt
        SSM("y", "ddm", likelihood, observed=data, v=v, a=a, z=0.5, t=t)
    return model


def check_posterior(idata, data):
    posterior = idata.posterior
    assert posterior["v"].shape == (2, 100)
    assert float(posterior["t"].max()) < np.nanmin(data.rt)
    assert float(posterior["v"].std()) > 0
    assert 0 < float(posterior["v"].mean()) < 2.5  # the data were simulated with v = 1


@pytest.fixture(scope="module")
def fitted(data, network_home):
    """The LAN model, sampled by PyMC's own NUTS (in chain processes, pickling the Op)."""
    with pytest.MonkeyPatch.context() as mp:
        use_cached_networks(mp, network_home)
        model = ddm_model(data)
        with model:
            idata = sample(draws=100, tune=100, chains=2, cores=2, random_seed=1, progressbar=False)
    return model, idata


@pytest.mark.slow
def test_pymc_nuts_samples_the_network_likelihood(fitted, data):
    check_posterior(fitted[1], data)


@pytest.mark.slow
@pytest.mark.parametrize("sampler", ["numpyro", "blackjax"])
def test_jax_samplers_sample_the_network_likelihood(sampler, data):
    with ddm_model(data):
        idata = sample(
            draws=100, tune=100, chains=2, random_seed=1, progressbar=False, nuts_sampler=sampler
        )
    check_posterior(idata, data)


def test_blackjax_fixes_apply_for_the_call_only_and_only_where_needed():
    import blackjax
    import pymc.sampling.jax as pymc_jax

    from ssmhub.sampling import _blackjax_fixes, _blackjax_inference_loop

    before = pymc_jax._blackjax_inference_loop, pymc_jax._sample_blackjax_nuts
    needed = not hasattr(blackjax.progress_bar, "gen_scan_fn")
    with _blackjax_fixes():
        assert (pymc_jax._blackjax_inference_loop is _blackjax_inference_loop) == needed
        assert pymc_jax._sample_blackjax_nuts is not before[1]
    assert (pymc_jax._blackjax_inference_loop, pymc_jax._sample_blackjax_nuts) == before


def test_the_cause_blackjax_forwards_pymcs_progress_bar_argument_to_the_kernel():
    """What pymc 6.4's loop does, reduced: the reason for the shim above."""
    import blackjax

    if hasattr(blackjax.progress_bar, "gen_scan_fn"):
        pytest.skip("this blackjax still has the API pymc 6.4 was written for")
    adapt = blackjax.window_adaptation(
        blackjax.nuts, lambda x: -0.5 * (x**2).sum(), progress_bar=False
    )
    with pytest.raises(TypeError, match="unexpected keyword argument 'progress_bar'"):
        adapt.run(jax.random.key(0), np.zeros(1), num_steps=2)


def test_pymc_chain_processes_are_not_forked_from_a_process_running_jax(monkeypatch):
    import pymc as pm

    from ssmhub.sampling import sample

    seen: list[dict] = []
    monkeypatch.setattr(pm, "sample", lambda *args, **kwargs: seen.append({"args": args, **kwargs}))
    sample(5)  # pm.sample's own signature: draws first
    sample(draws=5, mp_ctx="fork")  # the user's choice stands
    sample(draws=5, nuts_sampler="numpyro")  # no chain processes
    assert seen[0]["args"] == (5,)
    assert seen[0]["mp_ctx"] in ("forkserver", "spawn")
    assert seen[1]["mp_ctx"] == "fork"
    assert "mp_ctx" not in seen[2]


@pytest.mark.slow
def test_predictive_draws_come_from_the_simulator(fitted, data):
    model, idata = fitted
    with model:
        posterior = pm.sample_posterior_predictive(idata, random_seed=2, progressbar=False)
        prior = pm.sample_prior_predictive(draws=20, random_seed=2)
    y = posterior.posterior_predictive["y"].to_numpy()
    assert y.shape == (2, 100, N, 2)
    assert set(np.unique(y[..., 1])) == {-1.0, 1.0}
    assert (y[..., 0] > idata.posterior["t"].to_numpy()[..., None]).all()
    assert prior.prior_predictive["y"].shape == (1, 20, N, 2)


@pytest.mark.slow
def test_loo_runs_on_the_pointwise_log_likelihood(fitted):
    model, idata = fitted
    idata = idata.copy()
    pm.compute_log_likelihood(idata, model=model, progressbar=False)
    log_likelihood = idata.log_likelihood["y"]
    assert log_likelihood.shape == (2, 100, N)
    assert np.isfinite(log_likelihood.to_numpy()).all()
    loo = az.loo(idata)
    assert np.isfinite(loo.elpd)
    assert loo.n_data_points == N


def test_the_seed_tutorials_model_samples_without_initvals():
    """t ~ U(0, 2) starts at 1 s, above every rt here: pm.sample() must leave by itself, and
    the pointwise log-likelihood (for LOO) must still work, which a model-level initval breaks."""
    from ssmhub.neuroracer import simulate_trials

    data = simulate_trials(100, seed=0)
    fastest = float(data["rt"].min())
    assert fastest < 1.0
    with pm.Model():
        v = pm.Uniform("v", -3.0, 3.0)
        a = pm.Uniform("a", 0.3, 2.5)
        t = pm.Uniform("t", 0.0, 2.0)
        v_trial = v * data["condition"].to_numpy()
        SSM("y", "ddm", "exact", v=v_trial, a=a, z=0.5, t=t, observed=data[["rt", "response"]])
        idata = pm.sample(
            draws=100,
            tune=100,
            chains=1,
            cores=1,
            random_seed=1,
            progressbar=False,
        )
        pm.compute_log_likelihood(idata, progressbar=False)
    assert float(idata.posterior["t"].max()) < fastest
    assert np.isfinite(idata.log_likelihood["y"].to_numpy()).all()
