"""The exact racing diffusion likelihood (`ssmhub_racing_diffusion_3.exact`), checked against
things it was not built from.

* one accumulator: its density and survivor against scipy quadrature, over the start point,
  of the fixed-start Wald density and of its survivor (itself a quadrature of the density);
* normalisation: the race densities, integrated over rt by scipy and summed over choices,
  give 1 minus the atom of starts above the threshold; up to the horizon, each choice's
  integral is its choice probability;
* ssm-simulators' Euler simulation of the same model (through the plugin's simulator);
* gradients against finite differences; -inf and zero gradients where rt <= t or the
  parameters are outside the model; float32 and float64; K accumulators other than 3.

Float64 checks run inside `jax.enable_x64(True)`, a context manager, so the process-wide
setting is left alone.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Iterator

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from scipy import integrate

from ssmhub_racing_diffusion_3 import exact
from ssmhub_racing_diffusion_3.exact import (
    HORIZON,
    log_choice_probabilities,
    log_choice_probability,
    logpdf,
)

# v0, v1, v2, A, b, t: the box's edges (v = 0, A = 0, A = 1, b = 0.5, b = 3), A > b (the
# atom), A = b, and b just above A (a start 0.001 below the threshold).
THETAS = [
    (1.0, 1.0, 1.0, 0.5, 1.5, 0.3),
    (2.5, 0.0, 1.2, 0.0, 3.0, 0.0),
    (0.0, 0.0, 0.0, 1.0, 3.0, 1.0),
    (2.5, 2.5, 2.5, 0.0, 0.5, 2.0),
    (0.3, 2.0, 1.2, 0.8, 0.5, 0.5),
    (1.5, 0.5, 2.0, 0.999, 1.0, 0.2),
    (0.7, 1.9, 0.0, 1.0, 1.0, 0.1),
]


@pytest.fixture
def x64() -> Iterator[None]:
    with jax.enable_x64(True):
        yield


# --- 1: one accumulator ---------------------------------------------------------------------


def _wald(s: float, v: float, d: float) -> float:
    return d / math.sqrt(2 * math.pi * s**3) * math.exp(-((d - v * s) ** 2) / (2 * s))


def _wald_survivor(tau: float, v: float, d: float) -> float:
    """int_tau^inf of the Wald density: no cancellation, whatever the tail."""
    mode = d / v if v > 0 else d * d / 3
    edges = sorted({tau, max(tau, mode), max(tau, 2 * mode + 1)})
    pieces = [(lo, hi) for lo, hi in itertools.pairwise(edges) if hi > lo]
    pieces.append((edges[-1], np.inf))
    return sum(
        integrate.quad(_wald, lo, hi, args=(v, d), epsabs=0, epsrel=1e-12, limit=200)[0]
        for lo, hi in pieces
    )


def accumulator_by_quadrature(tau: float, v: float, a: float, b: float) -> tuple[float, float]:
    """f(tau) and S(tau) of one accumulator: the fixed-start formulas averaged over the start
    ``x0 ~ U[0, A]`` by scipy (a start above ``b`` has finished)."""
    if a == 0:
        return _wald(tau, v, b), _wald_survivor(tau, v, b)
    lo, hi = max(b - a, 0.0), b
    points = [
        p for p in (v * tau, v * tau + 3 * math.sqrt(tau), lo + math.sqrt(tau)) if lo < p < hi
    ]
    opts = {"points": points or None, "epsabs": 0, "limit": 100}
    f = integrate.quad(lambda d: _wald(tau, v, d), lo, hi, epsrel=1e-12, **opts)[0]
    s = integrate.quad(lambda d: _wald_survivor(tau, v, d), lo, hi, epsrel=1e-11, **opts)[0]
    return f / a, s / a


@pytest.mark.usefixtures("x64")
def test_accumulator_matches_quadrature_over_the_start_point():
    """Both closed forms, both quadrature regimes (short interval, late time) and the edges
    v = 0, A = 0, A > b, b - A small: relative agreement in the log to 1e-10."""
    rng = np.random.default_rng(0)
    n = 36
    v = rng.uniform(0, 2.5, n)
    a = rng.uniform(0, 1, n)
    b = rng.uniform(0.5, 3, n)
    v[:6] = 0.0
    a[6:10] = [0.0, 0.0, 1e-3, 1e-2]
    b[10:16] = [0.5, 0.6, 0.7, 0.5, 0.501, 0.8]
    a[10:16] = [1.0, 0.9, 0.7, 0.499, 0.5, 0.799]
    tau = np.exp(rng.uniform(math.log(0.02), math.log(HORIZON), n))
    tau[16:20] = [HORIZON, HORIZON, 1e-3, 5e-3]
    v[16:18] = [2.5, 0.05]
    a[18:20], b[18:20] = [0.45, 0.5], [0.5, 0.55]  # early, a start 0.05 below the threshold
    f = jax.jit(exact.accumulator)
    log_f, log_s = (np.asarray(x) for x in f(*(jnp.asarray(x) for x in (tau, v, a, b))))
    for i in range(n):
        ref_f, ref_s = accumulator_by_quadrature(tau[i], v[i], a[i], b[i])
        case = (tau[i], v[i], a[i], b[i])
        assert log_f[i] == pytest.approx(math.log(ref_f), rel=1e-10, abs=1e-10), case
        assert log_s[i] == pytest.approx(math.log(ref_s), rel=1e-10, abs=1e-10), case


# --- 2: normalisation and choice probabilities ----------------------------------------------


@functools.cache
def _density_one_trial():
    """(params, rt, choice) -> densities, compiled once for the session."""
    return jax.jit(lambda params, rt, k: jnp.exp(logpdf(params, rt, k)))


def race_integrals(theta: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Per choice, the density integrated over decision times (0, H] and (H, inf) by scipy's
    adaptive quadrature in ``x = sqrt(tau)`` (``2 x g(x**2)`` is bounded), split where the
    density rises; the three choices at once (`quad_vec`)."""
    params = jnp.asarray([theta] * 3)
    t, a, b = theta[-1], theta[-3], theta[-2]
    density = _density_one_trial()
    choices = jnp.arange(3)

    def g(x: float) -> np.ndarray:
        return 2 * x * np.asarray(density(params, jnp.full(3, t + x * x), choices))

    top = math.sqrt(HORIZON)
    lo = max(b - a, 0.0)
    marks = {lo / 4, lo, 2 * lo, 4 * lo, 0.1, 0.3, 0.6, 1.0, 1.5, 2.0, 3.0}
    edges = [0.0, *sorted(x for x in marks if 0 < x < top), top]
    opts = {"epsabs": 1e-12, "epsrel": 1e-10, "limit": 500}
    head = sum(integrate.quad_vec(g, x0, x1, **opts)[0] for x0, x1 in itertools.pairwise(edges))
    tail = integrate.quad_vec(g, top, np.inf, **opts)[0]
    return head, tail


@pytest.mark.usefixtures("x64")
@pytest.mark.parametrize("theta", THETAS)
def test_densities_integrate_to_one_minus_the_atom_and_to_the_choice_probabilities(theta):
    head, tail = race_integrals(theta)
    a, b = theta[3], theta[4]
    atom = 1.0 - min(1.0, b / a) ** 3 if a > 0 else 0.0
    # Every accumulator finishes eventually (v >= 0): all trials are decided, some at 0.
    assert head.sum() + tail.sum() == pytest.approx(1.0 - atom, abs=1e-7)
    choice = jax.jit(log_choice_probability)
    p = np.exp(np.asarray(choice(jnp.asarray([theta] * 3), jnp.arange(3))))
    np.testing.assert_allclose(p, head, rtol=0, atol=1e-7)


@pytest.mark.slow
@pytest.mark.usefixtures("x64")
def test_choice_probabilities_add_up_to_the_decided_probability_for_any_k():
    """For K = 1, 2, 4 the probabilities add up to the closed-form P(decided by H), and
    equal drifts share it equally."""
    _, log_s_end = jax.jit(exact.accumulator)(jnp.asarray(HORIZON), 0.8, 0.6, 1.2)
    s_end = math.exp(float(log_s_end))
    probabilities = jax.jit(log_choice_probabilities)
    for k in (1, 2, 4):
        params = jnp.asarray([[0.8] * k + [0.6, 1.2, 0.3]])
        p = np.exp(np.asarray(probabilities(params)))[0]
        assert p.shape == (k,)
        np.testing.assert_allclose(p, (1 - s_end**k) / k, rtol=1e-9)
    # Unequal drifts, K = 4: the fastest accumulator wins most often.
    p = np.exp(np.asarray(probabilities(jnp.asarray([[0.2, 1.0, 2.0, 0.5, 0.3, 1.5, 0.0]]))))
    assert p[0].argmax() == 2
    assert p.sum() == pytest.approx(1.0, abs=1e-7)


# --- 3: simulation ---------------------------------------------------------------------------

SIM_N = 20_000
SIM_DT = 0.001  # ssm-simulators' Euler step
# ssm-simulators checks the thresholds on its time grid, so paths overshoot: as in the ddm's
# test, that acts like continuous absorption at a threshold moved up by beta sqrt(dt), beta =
# 0.5826 (Siegmund's correction). And its race loop records the time before the step that
# crossed, one dt early. Both are accounted for: b_eff = b + beta sqrt(dt), t_eff = t - dt.
# Uncorrected, sqrt(n) KS reaches 3.0 for the second set below (critical value 1.95).
SIM_THETAS = [(1.0, 1.5, 0.5, 0.5, 1.5, 0.3), (2.0, 0.5, 0.0, 0.0, 0.8, 0.2)]


def corrected(theta: tuple[float, ...]) -> tuple[float, ...]:
    *v, a, b, t = theta
    return (*v, a, b + 0.5826 * math.sqrt(SIM_DT), t - SIM_DT)


def ks_statistic(x: np.ndarray, grid: np.ndarray, cdf: np.ndarray) -> float:
    x = np.sort(x)
    n = x.size
    model = np.interp(x, grid, cdf)
    return max(np.max(np.arange(1, n + 1) / n - model), np.max(model - np.arange(n) / n))


def simulate(cols: dict[str, np.ndarray], n: int, seed: int) -> pd.DataFrame:
    """ssm-simulators' trials through the model's simulator, ``n`` per parameter row, in row
    order, not checked against the spec's box: the spec starts b at 1 (b >= A), and these
    tests also look below it, where the closed form still holds and, with A > b, the atom
    lies."""
    from ssmhub.plugins import get_manager
    from ssmhub.simulator import marked

    manager = get_manager()
    spec = manager.catalog.get("racing_diffusion_3")
    rt, response = marked(manager.simulator(spec)(cols, n, seed))
    return pd.DataFrame({"rt": rt.ravel(), "response": response.ravel()})


@pytest.mark.slow
@pytest.mark.usefixtures("x64")
def test_density_matches_ssm_simulators():
    names = ["v0", "v1", "v2", "A", "b", "t"]
    cols = {k: np.array([th[i] for th in SIM_THETAS]) for i, k in enumerate(names)}
    data = simulate(cols, SIM_N, seed=0)
    density = jax.jit(lambda params, rt, k: logpdf(params, rt, jnp.full(rt.shape, k)))
    for j, theta in enumerate(SIM_THETAS):
        rows = data.iloc[j * SIM_N : (j + 1) * SIM_N]
        rt, resp = rows.rt.to_numpy(), rows.response.to_numpy()
        th = corrected(theta)
        p = np.exp(np.asarray(log_choice_probabilities(jnp.asarray([th]))))[0]
        for k in range(3):
            # Choice proportion: within 4 Monte Carlo standard errors.
            p_hat = np.mean(resp == k)
            se = math.sqrt(p[k] * (1 - p[k]) / SIM_N)
            assert abs(p_hat - p[k]) < 4 * se, (theta, k, p_hat, p[k], se)
            # rt given the choice: KS distance to the cdf of the density (trapezoid, fine
            # grid), below 1.95 / sqrt(n), the asymptotic 0.1% critical value.
            x = rt[resp == k]
            # A grid even in sqrt(tau), fine where the density rises steeply.
            grid = th[-1] + np.linspace(0.0, math.sqrt(x.max() - th[-1] + 0.01), 20_001) ** 2
            dens = np.exp(np.asarray(density(jnp.asarray([th]), jnp.asarray(grid), k)))
            cdf = integrate.cumulative_trapezoid(dens, grid, initial=0.0) / p[k]
            ks = ks_statistic(x, grid, cdf)
            assert ks < 1.95 / math.sqrt(x.size), (theta, k, ks, x.size)


@pytest.mark.slow
@pytest.mark.usefixtures("x64")
def test_the_atom_where_starts_lie_above_the_threshold():
    """A = 0.9 > b = 0.6: ssm-simulators ends a trial at its first step when an accumulator
    starts above b, with probability 1 - (b/A)**3 = 0.70; the likelihood describes the rest.

    Trials decided after 0.05 s are compared choice by choice with the integral of the
    density from 0.05 s (which the atom does not reach); the early ones with the atom plus
    the density's mass before 0.05 s. The Euler scheme is crude for starts within a step's
    spread of b, so the corrections above are applied and 4 standard errors allowed.
    """
    theta = (2.5, 1.0, 0.5, 0.9, 0.6, 0.1)
    cols = {k: np.array([x]) for k, x in zip(["v0", "v1", "v2", "A", "b", "t"], theta, strict=True)}
    data = simulate(cols, SIM_N, seed=1)
    tau, resp = data.rt.to_numpy() - theta[-1], data.response.to_numpy()
    th = corrected(theta)
    params = jnp.asarray([th])
    early = 0.05
    f = jax.jit(lambda x, k: jnp.exp(logpdf(params, th[-1] + x * x, k)) * 2 * x)
    xs = np.linspace(0.0, math.sqrt(early), 20_001)[1:]
    head = [
        integrate.trapezoid(np.asarray(f(jnp.asarray(xs), jnp.full(xs.size, k))), xs)
        for k in range(3)
    ]
    p = np.exp(np.asarray(log_choice_probabilities(params)))[0]
    atom = 1.0 - (th[4] / th[3]) ** 3
    expected_early = atom + sum(head)
    for observed, expected in [
        (np.mean(tau <= early + SIM_DT), expected_early),
        *((np.mean((tau > early + SIM_DT) & (resp == k)), p[k] - head[k]) for k in range(3)),
    ]:
        se = math.sqrt(expected * (1 - expected) / SIM_N)
        assert abs(observed - expected) < 4 * se, (observed, expected, se)


# --- 4: gradients, -inf, dtypes --------------------------------------------------------------

N_BATCH = 40  # every float64 batch below has this many trials: one compilation serves all


@functools.cache
def _logpdf_with_gradient():
    """params, rt, response -> (per-trial log densities, d sum / d params), compiled once."""

    def total(params, rt, response):
        values = logpdf(params, rt, response)
        return jnp.sum(values), values

    return jax.jit(jax.value_and_grad(total, has_aux=True))


def logpdf_and_gradient(params, rt, response) -> tuple[np.ndarray, np.ndarray]:
    (_, values), grad = _logpdf_with_gradient()(
        jnp.asarray(params), jnp.asarray(rt), jnp.asarray(response)
    )
    return np.asarray(values), np.asarray(grad)


def random_params(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.column_stack(
        [
            rng.uniform(0, 2.5, (n, 3)),
            rng.uniform(0, 1, n),
            rng.uniform(0.5, 3, n),
            rng.uniform(0, 2, n),
        ]
    )


def finite_differences(f, params: np.ndarray, columns: range) -> np.ndarray:
    """d f / d params by central differences, one-sided (second order) where a parameter
    sits on its lower bound of 0 (v or A), where the model ends."""
    out = np.zeros_like(params)
    for j in columns:
        h = 1e-6 * np.maximum(1.0, np.abs(params[:, j]))
        at_zero = params[:, j] == 0.0
        up, down, up2 = params.copy(), params.copy(), params.copy()
        up[:, j] += h
        down[:, j] = np.where(at_zero, params[:, j], params[:, j] - h)
        up2[:, j] += 2 * h
        f0, fu, fd, fu2 = (f(x) for x in (params, up, down, up2))
        central = (fu - fd) / (2 * h)
        one_sided = (-3 * f0 + 4 * fu - fu2) / (2 * h)
        out[:, j] = np.where(at_zero, one_sided, central)
    return out


@pytest.mark.usefixtures("x64")
def test_gradient_matches_finite_differences():
    rng = np.random.default_rng(1)
    params = random_params(rng, N_BATCH)
    params[:4, 0] = 0.0  # v = 0
    params[4:8, 3] = 0.0  # A = 0
    params[8:12, 3:5] = [[0.9, 0.6], [1.0, 0.5], [0.7, 0.55], [0.3, 0.8]]  # A > b, and not
    tau = np.exp(rng.uniform(math.log(0.01), math.log(HORIZON), N_BATCH))
    tau[12:16] = [1e-3, 5e-3, 15.0, HORIZON]
    rt, resp = params[:, 5] + tau, rng.integers(0, 3, N_BATCH)
    values, grad = logpdf_and_gradient(params, rt, resp)
    assert np.isfinite(values).all()
    assert np.isfinite(grad).all()
    fd = finite_differences(lambda p: logpdf_and_gradient(p, rt, resp)[0], params, range(6))
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
@pytest.mark.usefixtures("x64")
def test_choice_probability_gradient_matches_finite_differences():
    rng = np.random.default_rng(2)
    n = 12
    params = random_params(rng, n)
    params[:2, 0] = 0.0  # v = 0
    params[2:4, 3] = 0.0  # A = 0
    params[4:6, 3:5] = [[0.9, 0.6], [0.3, 0.8]]  # A > b, and not
    resp = jnp.asarray(rng.integers(0, 3, n))

    def total(p):
        values = log_choice_probability(p, resp)
        return jnp.sum(values), values

    f = jax.jit(jax.value_and_grad(total, has_aux=True))
    (_, values), grad = f(jnp.asarray(params))
    assert np.isfinite(np.asarray(values)).all()
    assert np.isfinite(np.asarray(grad)).all()
    fd = finite_differences(lambda p: np.asarray(f(jnp.asarray(p))[0][1]), params, range(5))
    np.testing.assert_allclose(np.asarray(grad)[:, :5], fd[:, :5], rtol=1e-5, atol=1e-6)
    assert np.all(np.asarray(grad)[:, 5] == 0)  # t plays no part


@pytest.mark.usefixtures("x64")
def test_rt_at_or_below_t_and_invalid_parameters_are_minus_inf_with_zero_gradient():
    good = [1.0, 1.5, 0.5, 0.5, 1.5, 0.3]
    params = np.tile(good, (N_BATCH, 1))
    rt = np.full(N_BATCH, 1.0)
    resp = np.ones(N_BATCH, int)
    # rt at, below and far below t; t = 0 with rt = 0.
    rt[:3] = [0.3, 0.1, -1.0]
    params[3], rt[3] = [0.5, 0.5, 0.5, 0.2, 0.8, 0.0], 0.0
    # Outside the model: a negative drift or A, b = 0, a response that is no accumulator.
    params[4, 0] = -0.1
    params[5, 3] = -0.1
    params[6, 4] = 0.0
    resp[7] = 3
    resp[8] = -1
    rt[9] = np.nan
    values, grad = logpdf_and_gradient(params, rt, resp)
    assert np.all(np.isneginf(values[:9]))
    assert np.isnan(values[9])
    assert np.isfinite(values[10:]).all()
    assert np.isfinite(grad[:9]).all()
    assert np.all(grad[:9] == 0)
    assert np.all(grad[10:, 5] != 0)
    choice = np.asarray(jax.jit(log_choice_probability)(jnp.asarray(params[4:9]), resp[4:9]))
    assert np.all(np.isneginf(choice))


@pytest.mark.slow
def test_float32_is_finite_on_the_whole_box_and_close_to_float64():
    rng = np.random.default_rng(3)
    n = 2000
    params = random_params(rng, n)
    grid = np.meshgrid([0, 2.5], [0, 2.5], [0, 1], [0.5, 3], [0, 2])
    corners = np.array(grid).reshape(5, -1).T
    corners = np.column_stack([corners[:, :2], corners[:, 1], corners[:, 2:]])  # v2 = v1
    m = len(corners)
    params = np.vstack([params, corners, corners])
    tau = np.concatenate([rng.uniform(0, HORIZON, n), np.full(m, 1e-3), np.full(m, HORIZON)])
    rt = params[:, 5] + tau
    resp = jnp.asarray(rng.integers(0, 3, n + 2 * m))

    p32, rt32 = jnp.asarray(params, jnp.float32), jnp.asarray(rt, jnp.float32)
    out32 = jax.jit(logpdf)(p32, rt32, resp)
    assert out32.dtype == jnp.float32
    assert np.isfinite(out32).all()
    grad32 = jax.jit(jax.grad(lambda p: jnp.sum(logpdf(p, rt32, resp))))(p32)
    assert np.isfinite(grad32).all()
    choice32 = jax.jit(log_choice_probability)(p32[-2 * m :], resp[-2 * m :])
    assert np.isfinite(choice32).all()

    with jax.enable_x64(True):
        # The float32 inputs, widened: the comparison measures the arithmetic, not the rounding
        # of rt - t.
        widened = (jnp.asarray(np.asarray(x), jnp.float64) for x in (p32, rt32))
        out64 = jax.jit(logpdf)(*widened, resp)
        assert out64.dtype == jnp.float64
        out64 = np.asarray(out64)
    rel = np.abs(np.asarray(out32, np.float64) - out64) / np.maximum(1.0, np.abs(out64))
    assert rel.max() < 1e-4


@pytest.mark.slow
@pytest.mark.usefixtures("x64")
def test_one_parameter_row_serves_every_trial():
    """params (1, 6) with rt and response (N,): as if the row were repeated."""
    theta = [0.5, 1.2, 0.8, 0.4, 1.1, 0.2]
    rt = jnp.asarray([0.3, 0.7, 1.5, 0.1, 3.0])
    resp = jnp.asarray([1, 0, 2, 1, 0])
    f, c = jax.jit(logpdf), jax.jit(log_choice_probability)
    one = np.asarray(f(jnp.asarray([theta]), rt, resp))
    many = np.asarray(f(jnp.asarray([theta] * 5), rt, resp))
    np.testing.assert_allclose(one, many, rtol=1e-14)
    assert np.isneginf(one[3])
    one_c = np.asarray(c(jnp.asarray([theta]), resp))
    many_c = np.asarray(c(jnp.asarray([theta] * 5), resp))
    np.testing.assert_allclose(one_c, many_c, rtol=1e-14)


@pytest.mark.slow
@pytest.mark.usefixtures("x64")
def test_many_rows_are_done_in_chunks_with_the_same_result():
    """More than `exact.CHUNK` rows go through `lax.map` over chunks (bounded memory)."""
    rng = np.random.default_rng(5)
    n = exact.CHUNK + 6
    params = jnp.asarray(random_params(rng, n))
    f = jax.jit(log_choice_probabilities)
    whole = np.asarray(f(params))
    parts = np.concatenate(
        [np.asarray(f(params[: exact.CHUNK])), np.asarray(f(params[exact.CHUNK :]))]
    )
    np.testing.assert_allclose(whole, parts, rtol=1e-13)
    grad = jax.jit(jax.grad(lambda p: jnp.sum(log_choice_probabilities(p)[:, 0])))(params)
    assert np.isfinite(np.asarray(grad)).all()
