"""`ssmhub.simulate` with the built-in plugins, checked against diffusion theory.

Closed forms (Wiener process, drift v, unit diffusion coefficient, absorbing bounds at 0 and
A = 2a, start at x0 = zA):

    P(upper) = (1 - exp(-2 v x0)) / (1 - exp(-2 v A))
    E[T]     = (A P(upper) - x0) / v         (optional stopping: E[X_T] = x0 + v E[T])
             = (A / (2v)) tanh(v A / 2)      for z = 1/2

ssm-simulators runs an Euler scheme with dt = 0.001 and checks the bounds only on the grid,
so its paths overshoot: discretely monitored absorption acts like continuous absorption at
bounds moved outward by beta * sqrt(dt), beta = -zeta(1/2) / sqrt(2 pi) = 0.5826 (Siegmund;
Broadie, Glasserman and Kou 1997). The expectations below use those effective bounds.
Tolerances are 4 standard errors estimated from the sample itself.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import ssmhub
from ssmhub.errors import SsmhubError

N = 50_000
DT = 0.001
SHIFT = 0.5826 * math.sqrt(DT)  # continuity correction for discretely monitored bounds
BUILTINS = ["ddm", "angle", "weibull", "ornstein", "levy"]


def ddm_theory(v: float, a: float, z: float, t: float) -> tuple[float, float]:
    """P(upper) and mean rt of the ddm, continuity-corrected for ssm-simulators' Euler grid."""
    big_a = 2 * a + 2 * SHIFT
    x0 = z * 2 * a + SHIFT
    p_upper = -math.expm1(-2 * v * x0) / -math.expm1(-2 * v * big_a)
    mean_dt = (big_a * p_upper - x0) / v
    if z == 0.5:  # the textbook form, as a check on the algebra
        assert math.isclose(mean_dt, big_a / (2 * v) * math.tanh(v * big_a / 2))
    return p_upper, mean_dt + t


def assert_within_mc_error(data: pd.DataFrame, p_upper: float, mean_rt: float) -> None:
    up = (data["response"] == 1).to_numpy()
    p_hat = up.mean()
    se_p = math.sqrt(p_hat * (1 - p_hat) / len(up))
    se_rt = data["rt"].std() / math.sqrt(len(data))
    assert abs(p_hat - p_upper) < 4 * se_p, (p_hat, p_upper, se_p)
    assert abs(data["rt"].mean() - mean_rt) < 4 * se_rt, (data["rt"].mean(), mean_rt, se_rt)


def defaults(model: str) -> dict[str, float]:
    return {p.name: p.default for p in ssmhub.get_model(model).parameters}


# -- output contract ---------------------------------------------------------------------------


@pytest.mark.parametrize("model", BUILTINS)
def test_output_shape_dtypes_and_values(model):
    theta = defaults(model) | {"t": 0.25}
    data = ssmhub.simulate(model, theta, n=500, seed=1)
    assert list(data.columns) == ["rt", "response"]
    assert len(data) == 500
    assert data["rt"].dtype == np.float64
    assert np.issubdtype(data["response"].dtype, np.integer)
    assert set(data["response"].unique()) <= set(ssmhub.get_model(model).choices)
    assert (data["rt"] > 0.25).all()


@pytest.mark.parametrize("model", BUILTINS)
def test_trialwise_theta_gives_rows_per_parameter_set(model):
    spec = ssmhub.get_model(model)
    theta = defaults(model) | {"v": np.array([-2.0, 2.0, 0.0]), "t": np.array([0.1, 0.5, 1.0])}
    data = ssmhub.simulate(model, theta, n=400, seed=2)
    assert list(data.columns) == ["rt", "response", *spec.parameter_names]
    assert len(data) == 3 * 400
    blocks = [data.iloc[i * 400 : (i + 1) * 400] for i in range(3)]
    for block, v, t in zip(blocks, [-2.0, 2.0, 0.0], [0.1, 0.5, 1.0], strict=True):
        # n trials per row, in row order, each with its own parameters beside it.
        assert (block["v"] == v).all()
        assert (block["t"] == t).all()
        assert (block["rt"] > t).all()
        assert block["response"].isin(spec.choices).all()
    # The strong drifts decide the response: the rows were not shuffled.
    assert (blocks[0]["response"] == -1).mean() > 0.8
    assert (blocks[1]["response"] == 1).mean() > 0.8


def test_same_seed_same_trials_other_seed_other_trials():
    theta = {"v": 0.5, "a": 1.0, "z": 0.5, "t": 0.2}
    first = ssmhub.simulate("ddm", theta, n=200, seed=7)
    pd.testing.assert_frame_equal(first, ssmhub.simulate("ddm", theta, n=200, seed=7))
    assert not first.equals(ssmhub.simulate("ddm", theta, n=200, seed=8))


@pytest.mark.parametrize("n", [0, -3, 2.5])
def test_n_must_be_a_positive_whole_number(n):
    with pytest.raises(SsmhubError, match="n must be a positive whole number"):
        ssmhub.simulate("ddm", {"v": 0.0, "a": 1.0, "z": 0.5, "t": 0.2}, n=n)


def test_unknown_model_suggests_a_close_name():
    with pytest.raises(SsmhubError, match=r"unknown model 'ddn'\. Did you mean 'ddm'\?"):
        ssmhub.simulate("ddn", {}, n=10)


# -- agreement with theory ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("v", "a", "z", "t"),
    [
        (1.0, 1.0, 0.5, 0.3),  # unbiased
        (-0.8, 1.2, 0.3, 0.5),  # negative drift, start near the lower bound
        (0.5, 0.8, 0.7, 0.2),  # start near the upper bound
    ],
)
def test_ddm_matches_closed_forms(v, a, z, t):
    data = ssmhub.simulate("ddm", {"v": v, "a": a, "z": z, "t": t}, n=N, seed=0)
    assert (data["rt"] > t).all()
    assert_within_mc_error(data, *ddm_theory(v, a, z, t))


def test_closed_form_is_sharp_enough_to_see_the_euler_bias():
    # Without the continuity correction the mean rt is off by many standard errors: the
    # check above has power, and the correction is what makes it pass.
    v, a, z, t = 1.0, 1.0, 0.5, 0.3
    data = ssmhub.simulate("ddm", {"v": v, "a": a, "z": z, "t": t}, n=N, seed=0)
    naive_mean_rt = (2 * a) / (2 * v) * math.tanh(v * 2 * a / 2) + t
    se_rt = data["rt"].std() / math.sqrt(N)
    assert data["rt"].mean() - naive_mean_rt > 4 * se_rt


def test_angle_without_collapse_is_the_ddm():
    v, a, z, t = 1.0, 1.0, 0.4, 0.3
    data = ssmhub.simulate("angle", {"v": v, "a": a, "z": z, "t": t, "theta": 0.0}, n=N, seed=3)
    assert_within_mc_error(data, *ddm_theory(v, a, z, t))


def test_weibull_with_a_late_collapse_is_the_ddm():
    # Bound a * exp(-(s / 6.99) ** 4.99): at s = 2 s it has shrunk by 0.2%, and by then
    # almost every trial has ended (mean decision time ~0.5 s).
    v, a, z, t = -1.0, 1.0, 0.5, 0.3
    theta = {"v": v, "a": a, "z": z, "t": t, "alpha": 4.99, "beta": 6.99}
    data = ssmhub.simulate("weibull", theta, n=N, seed=4)
    assert_within_mc_error(data, *ddm_theory(v, a, z, t))


@pytest.mark.parametrize(
    ("model", "extra"),
    [("angle", {"theta": 1.0}), ("weibull", {"alpha": 1.0, "beta": 0.5})],
)
def test_collapsing_bounds_shorten_decisions(model, extra):
    v, a, z, t = 0.5, 1.5, 0.5, 0.3
    _, ddm_mean_rt = ddm_theory(v, a, z, t)
    data = ssmhub.simulate(model, {"v": v, "a": a, "z": z, "t": t, **extra}, n=10_000, seed=5)
    se_rt = data["rt"].std() / math.sqrt(len(data))
    assert data["rt"].mean() < ddm_mean_rt - 4 * se_rt


def test_angle_decides_before_the_bounds_meet():
    # The bounds +/-(a - s tan(theta)) meet at s = a / tan(theta): no decision lasts longer
    # (up to one Euler step and the half-step rt jitter).
    a, t, angle = 1.0, 0.2, 1.0
    theta = {"v": 0.0, "a": a, "z": 0.5, "t": t, "theta": angle}
    data = ssmhub.simulate("angle", theta, n=10_000, seed=6)
    assert data["rt"].max() <= t + a / math.tan(angle) + 2 * DT
    assert (data["rt"] > t).all()


# -- a plugin's own simulator (the model_simulator hook) ---------------------------------------

OWN_SIMULATOR = """
import numpy as np
import ssmhub

SPEC = ssmhub.ModelSpec(
    name="{model}",
    description="rt is exactly t; the response is 1 when v > 0, else 0",
    parameters=(
        ssmhub.Parameter(name="v", lower=-1.0, upper=1.0, default=0.0),
        ssmhub.Parameter(name="t", lower=0.0, upper=1.0, default=0.5),
    ),
    non_decision_time="t",
    choices=(0, 1),
)


class Simulator:
    def __call__(self, theta, n_samples, seed):
        # The contract: every parameter as a 1-D float64 array of one length K.
        assert set(theta) == {{"v", "t"}}
        assert all(a.dtype == np.float64 and a.shape == theta["v"].shape for a in theta.values())
        rt = np.repeat(theta["t"][:, None], n_samples, axis=1)
        response = np.repeat((theta["v"][:, None] > 0).astype(int), n_samples, axis=1)
        if {broken!r} == "shape":
            rt = rt.T
        if {broken!r} == "choice":
            response = response + 5
        return ssmhub.Simulation(rt=rt, response=response)


@ssmhub.hookimpl
def register_models(register):
    register(SPEC)


@ssmhub.hookimpl
def model_simulator(spec):
    return Simulator() if spec.name == SPEC.name else None
"""


def test_plugin_brings_its_own_simulator(plugin_dists):
    plugin_dists.add("ownsim", OWN_SIMULATOR.format(model="ownsim", broken=None))
    spec = ssmhub.get_model("ownsim")
    assert spec.ssms_model is None
    data = ssmhub.simulate("ownsim", {"v": [-0.5, 0.5], "t": [0.1, 0.7]}, n=3, seed=0)
    assert data["rt"].tolist() == [0.1] * 3 + [0.7] * 3
    assert data["response"].tolist() == [0] * 3 + [1] * 3
    # The built-in models still go to ssm-simulators.
    assert len(ssmhub.simulate("ddm", defaults("ddm"), n=5, seed=0)) == 5


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        ("shape", r"simulator of model 'badsim' returned rt of shape \(3, 2\), expected \(2, 3\)"),
        ("choice", r"simulator of model 'badsim' returned response 5 outside .*\[0, 1\]"),
    ],
)
def test_simulator_breaking_its_contract_is_a_clear_error(plugin_dists, broken, message):
    plugin_dists.add("badsim", OWN_SIMULATOR.format(model="badsim", broken=broken))
    with pytest.raises(SsmhubError, match=message):
        ssmhub.simulate("badsim", {"v": [-0.5, 0.5], "t": 0.1}, n=3)


def test_model_without_any_simulator_is_a_clear_error(plugin_dists):
    source = OWN_SIMULATOR.format(model="nosim", broken=None).replace(
        "return Simulator() if", "return None if"
    )
    plugin_dists.add("nosim", source)
    with pytest.raises(SsmhubError, match=r"no simulator for model 'nosim'"):
        ssmhub.simulate("nosim", {"v": 0.5, "t": 0.1}, n=3)


# -- omitted trials ----------------------------------------------------------------------------

HORIZON = 1.0  # seconds of decision time; ssm-simulators' default is 20
UNDECIDED = {"v": 0.0, "a": 1.0, "z": 0.5, "t": 0.3}


def survival(a: float, time: float, terms: int = 20) -> float:
    """P(Brownian motion from 0 stays inside (-a, a) until ``time``): the eigenfunction
    series of the heat equation on a strip (Feller, vol. 2, XIV.5)."""
    return sum(
        4
        / math.pi
        * (-1) ** k
        / (2 * k + 1)
        * math.exp(-((2 * k + 1) ** 2) * math.pi**2 * time / (8 * a**2))
        for k in range(terms)
    )


@pytest.fixture
def short_horizon(monkeypatch):
    """The ddm simulated by ssm-simulators with a 1 s horizon, so many trials end undecided."""
    from ssmhub.default_plugins.ssms_simulator import SsmsSimulator
    from ssmhub.plugins import PluginManager

    simulator = SsmsSimulator("ddm", "t", max_t=HORIZON)
    monkeypatch.setattr(PluginManager, "simulator", lambda self, spec: simulator)
    return simulator


def test_trials_undecided_at_the_horizon_are_omitted_as_often_as_theory_says(short_horizon):
    n = 20_000
    sim = short_horizon({k: np.array([v]) for k, v in UNDECIDED.items()}, n, 3)
    omitted = sim.rt == ssmhub.OMITTED
    expected = survival(1.0 + SHIFT, HORIZON)  # ssm-simulators' bounds are at -a and a
    assert abs(omitted.mean() - expected) < 4 * math.sqrt(expected * (1 - expected) / n)
    assert np.all(sim.rt[~omitted] - UNDECIDED["t"] < HORIZON)
    assert set(np.unique(sim.response[~omitted])) == {-1, 1}


def test_simulate_and_predictive_draws_give_an_omitted_trial_no_rt_and_no_choice(short_horizon):
    import pymc as pm

    from ssmhub.observed import ObservedDataError, check_observed
    from ssmhub.pymc import SSM

    data = ssmhub.simulate("ddm", UNDECIDED, n=2000, seed=1)
    omitted = data["response"] == ssmhub.OMITTED
    assert 0.3 < omitted.mean() < 0.5
    assert data["rt"][omitted].isna().all()
    assert data["rt"][~omitted].between(UNDECIDED["t"], UNDECIDED["t"] + HORIZON).all()
    row = int(np.argmax(omitted))
    refused = rf"row {row} \(counted from 0\): response -999 marks an omitted trial"
    with pytest.raises(ObservedDataError, match=refused):
        check_observed(data, (-1, 1))

    draws = pm.draw(SSM.dist("ddm", "exact", **UNDECIDED), draws=500, random_seed=2)
    rt, response = draws[..., 0], draws[..., 1]
    gone = response == ssmhub.OMITTED
    assert 0.3 < gone.mean() < 0.5
    assert np.isnan(rt[gone]).all()
    assert (rt[~gone] > UNDECIDED["t"]).all()


def test_choice_labels_never_count_an_omitted_trial(short_horizon):
    from ssmhub.labels import Labeller

    spec = ssmhub.get_model("ddm")
    recipe = ssmhub.Recipe(kind="cpn", estimator="kde", n_simulations=20_000)
    row = Labeller(spec, recipe, short_horizon, None).rows(UNDECIDED, seed=4)
    # v = 0, z = 1/2: the decided trials split evenly; counting the omitted ones as lower
    # responses (as once) would give about 0.31.
    assert abs(row[0, -1] - 0.5) < 4 * math.sqrt(0.25 / (0.6 * 20_000))
