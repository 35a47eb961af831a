"""ssmhub's Fokker-Planck path against the closed-form ddm (Navarro-Fuss, tests/test_ddm_exact.py).

The angle and weibull labels and references come from this path, and nothing else checks
it: the ddm is the one model it solves that has an exact answer. The tolerances are the
label grid's errors measured by benchmarks/pyddm_accuracy.py (median 0.0014, p99 0.008 nats
there), with room for these few sets; a wrong convention (start point, non-decision time,
the step midpoint, the Richardson sign) moves errors by 0.05 nats or more.
"""

from __future__ import annotations

import numpy as np
import pytest

import ssmhub
from ssmhub.errors import SsmhubError
from ssmhub.fokker_planck import check_solvable, solve
from ssmhub.recipe import SolverGrid
from ssmhub_ddm import exact

THETAS = [
    {"v": 1.2, "a": 0.7, "z": 0.37, "t": 0.31},  # a start point off the grid
    {"v": -2.1, "a": 1.9, "z": 0.62, "t": 1.2345},  # a t off the time grid
    {"v": 0.3, "a": 0.35, "z": 0.5, "t": 0.0},  # fast: where dt matters most
]


def _exact(theta: dict[str, float], rt: np.ndarray, response: np.ndarray) -> np.ndarray:
    params = np.repeat(np.array([[theta[k] for k in "vazt"]]), rt.size, axis=0)
    return np.asarray(exact.logpdf(params, rt, response), dtype=np.float64)


def _data(theta: dict[str, float], seed: int) -> tuple[np.ndarray, np.ndarray]:
    data = ssmhub.simulate("ddm", theta, n=400, seed=seed)
    keep = data["rt"].to_numpy() > 0
    return data["rt"].to_numpy()[keep], data["response"].to_numpy()[keep]


ANGLE_LAN_GRID = ssmhub.get_model("angle").recipe("lan").grid


@pytest.mark.parametrize(
    ("model", "extra", "grid", "median", "p99"),
    [
        ("ddm", {}, SolverGrid(), 0.004, 0.03),
        ("angle", {"theta": 0.0}, SolverGrid(), 0.004, 0.03),
        # The angle and weibull LAN recipes' coarser grid: median 0.0022, p99 0.037 nats in
        # benchmarks/pyddm_accuracy.py.
        ("angle", {"theta": 0.0}, ANGLE_LAN_GRID, 0.008, 0.06),
    ],
    ids=["ddm", "angle", "angle-lan-recipe-grid"],
)
def test_label_grid_matches_the_exact_ddm(model, extra, grid, median, p99):
    """The ddm's constant bound and angle's bound of time (at theta = 0 the same model)."""
    errors, p_errors = [], []
    for i, theta in enumerate(THETAS):
        rt, response = _data(theta, seed=i)
        solution = solve(ssmhub.get_model(model), {**theta, **extra}, grid, 20.0)
        errors.append(np.abs(solution.log_density(rt, response) - _exact(theta, rt, response)))
        params = np.array([[theta[k] for k in "vazt"]])
        p_exact = float(np.exp(exact.log_choice_probability(params, np.array([1]))[0]))
        p_errors.append(abs(solution.p_upper - p_exact))
    err = np.concatenate(errors)
    assert np.median(err) < median
    assert np.quantile(err, 0.99) < p99
    assert max(p_errors) < 2e-3


@pytest.mark.parametrize(("model", "extra"), [("ddm", {}), ("angle", {"theta": 0.0})])
def test_the_tail_after_pyddm_stops_follows_the_exact_ddm(model, extra):
    """PyDDM stops once less than 1e-4 is undecided; the continued tail is the ddm's."""
    from ssmhub.fokker_planck import _model

    theta = {"v": 1.0, "a": 1.0, "z": 0.5, "t": 0.3}
    spec, grid = ssmhub.get_model(model), SolverGrid(dt=0.002, dx=0.004)
    decision = np.array([6.0, 8.0, 10.0, 6.0, 8.0, 10.0])
    response = np.array([1, 1, 1, -1, -1, -1])
    raw = _model(spec, {**theta, **extra}, grid.dt, grid.dx, 12.0).solve()
    steps = (decision / grid.dt).astype(int)
    assert not raw.pdf("correct")[steps].any()  # PyDDM's own solution has stopped by then
    solution = solve(spec, {**theta, **extra}, grid, 12.0)
    rt = decision + theta["t"]
    error = solution.log_density(rt, response) - _exact(theta, rt, response)
    assert np.abs(error).max() < 0.01


def test_richardson_beats_the_plain_solution():
    theta = THETAS[2]
    rt, response = _data(theta, seed=7)
    spec, grid = ssmhub.get_model("ddm"), SolverGrid()
    ref = _exact(theta, rt, response)
    plain = solve(spec, theta, grid, 5.0, richardson=False).log_density(rt, response)
    extrapolated = solve(spec, theta, grid, 5.0).log_density(rt, response)
    assert np.median(np.abs(extrapolated - ref)) < 0.5 * np.median(np.abs(plain - ref))


def test_density_is_zero_before_the_non_decision_time_and_sampling_follows_it():
    theta = THETAS[1]
    solution = solve(ssmhub.get_model("ddm"), theta, SolverGrid(), 20.0)
    assert np.all(solution.density(np.array([0.5, 1.2]), np.array([1, -1])) == 0.0)
    rt, response = solution.sample(20_000, np.random.default_rng(0))
    assert rt.min() > theta["t"]
    # P(upper) of the draws against the solution's, within 4 binomial standard errors.
    p = solution.p_upper
    assert abs(np.mean(response == 1) - p) < 4 * np.sqrt(p * (1 - p) / rt.size)
    # Mean rt of the draws against the exact mean decision time plus t.
    # Wiener process with drift v between 0 and A = 2a from x = z A: by optional stopping,
    # E[X_T] = x + v E[T] with X_T = A with probability P_A, else 0.
    v, big_a = theta["v"], 2 * theta["a"]
    x = theta["z"] * big_a
    p_a = (1 - np.exp(-2 * v * x)) / (1 - np.exp(-2 * v * big_a))
    mean_dt = (big_a * p_a - x) / v
    assert abs(p_a - p) < 2e-3
    sd = rt.std() / np.sqrt(rt.size)
    assert abs(rt.mean() - theta["t"] - mean_dt) < 4 * sd + 2e-3


@pytest.mark.parametrize(
    ("ssms_model", "message"), [(None, "'custom' names none"), ("levy", "Non-Gaussian noise")]
)
def test_models_pyddm_cannot_solve_are_refused_by_name(ssms_model, message):
    spec = ssmhub.ModelSpec(
        name="custom",
        description="a model PyDDM cannot solve",
        parameters=(ssmhub.Parameter(name="v", lower=-1.0, upper=1.0, default=0.0),),
        non_decision_time=None,
        ssms_model=ssms_model,
    )
    with pytest.raises(SsmhubError, match=message):
        check_solvable(spec)
