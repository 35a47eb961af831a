"""The exact ddm likelihood (`ssmhub_ddm.exact`), checked against things it was not built from.

* normalisation: the density integrates to 1 over rt and both responses (scipy quadrature);
* the closed-form choice probability P(upper) = 1 - P(lower),
  P(lower) = (exp(-2vAw) - exp(-2vA)) / (1 - exp(-2vA)), A = 2a, w = z;
* PyDDM's Crank-Nicolson solution of the Fokker-Planck equation of the same model;
* ssm-simulators' Euler simulation of the same model (through `ssmhub.simulate`);
* the two series of the standard density (small and large time) against each other;
* gradients against central finite differences; -inf and finite gradients where rt <= t;
  jit, vmap, float32 and float64.

Float64 checks run inside `jax.enable_x64(True)` (a context manager in jax 0.12), so the
process-wide setting is left alone for the rest of the suite.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate

from ssmhub_ddm import exact
from ssmhub_ddm.exact import log_choice_probability, logpdf

# v, a, z, t: both drift signs, v = 0, biased starts, the smallest and largest a of the spec.
THETAS = [
    (1.0, 1.0, 0.5, 0.3),
    (-1.2, 0.3, 0.25, 0.0),
    (2.5, 0.3, 0.8, 1.5),
    (0.0, 2.5, 0.5, 0.2),
    (-0.7, 2.5, 0.15, 1.0),
    (3.0, 2.5, 0.9, 0.5),
    (-3.0, 1.7, 0.1, 2.0),
]


@pytest.fixture
def x64() -> Iterator[None]:
    with jax.enable_x64(True):
        yield


def p_lower_closed_form(v: float, a: float, z: float) -> float:
    """The textbook formula, in plain float64 (fine for the moderate v*A used here)."""
    x = 2.0 * v * (2.0 * a)
    if x == 0.0:
        return 1.0 - z
    return (math.exp(-x * z) - math.exp(-x)) / (1.0 - math.exp(-x))


def density_of(theta: tuple[float, ...], response: int):
    """rt -> density (a Python float), for scipy's quadrature."""
    params = jnp.asarray([theta], dtype=jnp.float64)
    resp = jnp.asarray([response])
    f = jax.jit(lambda rt: jnp.exp(logpdf(params, rt, resp))[0])
    return lambda rt: float(f(jnp.asarray([rt], dtype=jnp.float64)))


def integral(theta: tuple[float, ...], response: int) -> float:
    """Integral of the density over rt in (t, inf), split at normalised time 1."""
    _, a, _, t = theta
    f = density_of(theta, response)
    knee = t + (2 * a) ** 2
    head, _ = integrate.quad(f, t, knee, limit=200, epsabs=1e-12, epsrel=1e-11)
    tail, _ = integrate.quad(f, knee, np.inf, limit=200, epsabs=1e-12, epsrel=1e-11)
    return head + tail


# --- 1, 2: normalisation and choice probabilities -------------------------------------------


@pytest.mark.usefixtures("x64")
@pytest.mark.parametrize("theta", THETAS)
def test_density_integrates_to_one_and_to_the_choice_probability(theta):
    lower, upper = integral(theta, -1), integral(theta, 1)
    assert lower + upper == pytest.approx(1.0, abs=1e-6)
    p_lower = p_lower_closed_form(*theta[:3])
    assert upper == pytest.approx(1.0 - p_lower, abs=1e-6)
    assert lower == pytest.approx(p_lower, abs=1e-6)


@pytest.mark.usefixtures("x64")
@pytest.mark.parametrize("theta", THETAS)
def test_log_choice_probability_matches_the_closed_form(theta):
    params = jnp.asarray([theta, theta], dtype=jnp.float64)
    got = np.exp(np.asarray(log_choice_probability(params, jnp.asarray([-1, 1]))))
    p_lower = p_lower_closed_form(*theta[:3])
    np.testing.assert_allclose(got, [p_lower, 1.0 - p_lower], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_log_choice_probability_is_stable_at_v_zero_and_for_large_drift(dtype):
    with jax.enable_x64(dtype == jnp.float64):
        # v = 0 (the 0/0 point), tiny v, and |v A| far past where exp(-2 v A) overflows.
        v = jnp.asarray([0.0, 1e-9, -1e-9, 200.0, -200.0], dtype=dtype)
        a, z = 1.5, 0.3
        rest = [jnp.full(5, a, dtype), jnp.full(5, z, dtype), jnp.zeros(5, dtype)]
        params = jnp.stack([v, *rest], axis=1)
        f = jax.jit(log_choice_probability)
        lo, up = np.asarray(f(params, -jnp.ones(5, int))), np.asarray(f(params, jnp.ones(5, int)))
        assert np.isfinite(lo).all()
        assert np.isfinite(up).all()
        tol = 1e-6 if dtype == jnp.float32 else 1e-12
        np.testing.assert_allclose(lo[:3], math.log(1 - z), atol=tol)
        np.testing.assert_allclose(up[:3], math.log(z), atol=tol)
        # Large |x| = |2 v A|: P(lower) -> exp(-x z) for x > 0, P(upper) -> exp(x (1 - z)).
        x = 2 * 200.0 * 2 * a
        np.testing.assert_allclose(lo[3], -x * z, rtol=tol)
        np.testing.assert_allclose(up[4], -x * (1 - z), rtol=tol)
        assert float(up[3]) == pytest.approx(0.0, abs=tol)
        # The two add up to one everywhere.
        np.testing.assert_allclose(np.logaddexp(lo, up), 0.0, atol=10 * tol)

        # Gradient at v = 0: d/dv log P(lower) = -2 a z there (first order of the formula:
        # log P(lower) = log(1 - z) - x z / 2 + O(x^2), x = 4 v a).
        g = jax.jit(jax.grad(lambda p: log_choice_probability(p, -jnp.ones(1, int))[0]))(params[:1])
        assert np.isfinite(g).all()
        assert float(g[0, 0]) == pytest.approx(-2 * a * z, rel=1e-5)


# --- 3: PyDDM --------------------------------------------------------------------------------

# x0 = a (2z - 1) sits on PyDDM's dx grid for each of these.
PYDDM_THETAS = [
    (1.0, 1.0, 0.5, 0.3),
    (-1.5, 0.5, 0.3, 0.2),
    (2.0, 0.6, 0.8, 0.1),
    (0.5, 1.5, 0.65, 0.5),
]


@pytest.mark.slow
@pytest.mark.usefixtures("x64")
@pytest.mark.parametrize("theta", PYDDM_THETAS)
def test_density_matches_pyddm_fokker_planck(theta):
    """PyDDM 0.9 solves the Fokker-Planck equation by Crank-Nicolson on an (x, t) grid.

    Mapping to PyDDM's conventions (checked with help()/inspect on pyddm 0.9):
    * ``BoundConstant(B)`` puts the bounds at -B and +B, so B = a (half the separation);
    * ``ICPoint(x0)`` is the *absolute* start on that axis (``get_IC`` rounds x0/dx), so
      x0 = -a + 2az = a (2z - 1), not 2z - 1 (that is ``ICPointRatio``'s relative start);
    * the first choice name, "correct", is the upper bound (+B): response 1;
    * ``Model.solve()`` would take PyDDM's analytical series for this model, which is no
      independent check, so the numerical solver is called directly.

    Where the comparison stops: Crank-Nicolson's error is largest just after t, where the
    density rises from 0 steeply (it shrinks as dt**2: 3e-3 at t + 0.05 with dt = 5e-4), so
    the check starts at t + 0.1; and PyDDM stops solving once less than 1e-4 of the mass is
    undecided, zeroing the density from there (its last nonzero steps are partial), so the
    check stops 10 steps before PyDDM's last nonzero value. The remaining discrepancy is
    PyDDM's grid error, about 1e-4; a wrong convention (a for A, a shifted start, swapped
    bounds) would be off by far more than the 2e-3 allowed.
    """
    import pyddm

    v, a, z, t = theta
    model = pyddm.Model(
        drift=pyddm.DriftConstant(drift=v),
        noise=pyddm.NoiseConstant(noise=1.0),
        bound=pyddm.BoundConstant(B=a),
        IC=pyddm.ICPoint(x0=a * (2 * z - 1)),
        overlay=pyddm.OverlayNonDecision(nondectime=t),
        dx=0.001,
        dt=0.0005,
        T_dur=5.0,
    )
    sol = model.solve_numerical_cn()
    grid = np.asarray(model.t_domain())
    for response, name in ((1, "correct"), (-1, "error")):
        reference = np.asarray(sol.pdf(name))
        params = jnp.asarray(np.tile(theta, (grid.size, 1)))
        ours = np.exp(np.asarray(logpdf(params, jnp.asarray(grid), jnp.full(grid.size, response))))
        last = np.flatnonzero(reference > 0).max()
        check = (grid > t + 0.1) & (np.arange(grid.size) < last - 10) & (ours > 1e-3 * ours.max())
        assert check.sum() > 200
        err = np.abs(np.log(reference[check]) - np.log(ours[check]))
        assert err.max() < 2e-3, (name, float(err.max()), grid[check][err.argmax()])


# --- 4: simulation ---------------------------------------------------------------------------

SIM_N = 50_000
SIM_DT = 0.001  # ssm-simulators' Euler step
# ssm-simulators checks the bounds only on its time grid, so paths overshoot: that acts like
# continuous absorption at bounds moved outward by beta sqrt(dt), beta = -zeta(1/2)/sqrt(2 pi)
# = 0.5826 (Siegmund's correction). We account for it rather than widen the tolerance: the
# exact density is evaluated at a_eff = a + beta sqrt(dt), with the start kept at the same
# absolute place (z_eff A_eff = z A + beta sqrt(dt)). Corrected, the choice proportions are
# within 0.8 standard errors and sqrt(n) * KS is 0.5-0.85 (bound: 1.95); uncorrected, they are
# 2.9 and 4.5 standard errors off and sqrt(n) * KS is 2.0-5.0, so this test would fail.
SHIFT = 0.5826 * math.sqrt(SIM_DT)
SIM_THETAS = [(1.0, 1.0, 0.4, 0.3), (-0.8, 0.6, 0.6, 0.5)]


def corrected(theta: tuple[float, ...]) -> tuple[float, ...]:
    v, a, z, t = theta
    a_eff = a + SHIFT
    return (v, a_eff, (2 * a * z + SHIFT) / (2 * a_eff), t)


@pytest.mark.slow
@pytest.mark.usefixtures("x64")
def test_density_matches_ssm_simulators():
    import ssmhub

    cols = {k: np.array([th[i] for th in SIM_THETAS]) for i, k in enumerate("vazt")}
    data = ssmhub.simulate("ddm", cols, n=SIM_N, seed=0)
    for theta in SIM_THETAS:
        rows = data[(data.v == theta[0]) & (data.a == theta[1])]
        assert len(rows) == SIM_N
        rt, resp = rows.rt.to_numpy(), rows.response.to_numpy()
        th = corrected(theta)
        params = jnp.asarray([th, th])
        p = np.exp(np.asarray(log_choice_probability(params, jnp.asarray([-1, 1]))))

        # Choice proportion: within 4 Monte Carlo standard errors.
        p_hat = np.mean(resp == 1)
        se = math.sqrt(p[1] * (1 - p[1]) / SIM_N)
        assert abs(p_hat - p[1]) < 4 * se, (theta, p_hat, p[1], se)

        # rt given the response: Kolmogorov-Smirnov distance between the simulated rts and
        # the CDF of the density (trapezoid on a 0.1 ms grid, divided by P(response)).
        # 1.95 / sqrt(n) is the asymptotic 0.1% critical value of the KS statistic.
        grid = np.linspace(th[3], rt.max() + 0.01, 200_001)
        for response, p_r in ((-1, p[0]), (1, p[1])):
            dens = np.exp(
                np.asarray(
                    logpdf(
                        jnp.asarray(np.tile(th, (grid.size, 1))),
                        jnp.asarray(grid),
                        jnp.full(grid.size, response),
                    )
                )
            )
            cdf = integrate.cumulative_trapezoid(dens, grid, initial=0.0) / p_r
            x = np.sort(rt[resp == response])
            n = x.size
            model_cdf = np.interp(x, grid, cdf)
            ks = max(
                np.max(np.arange(1, n + 1) / n - model_cdf),
                np.max(model_cdf - np.arange(n) / n),
            )
            assert ks < 1.95 / math.sqrt(n), (theta, response, ks, n)


# --- 5: the series, gradients, -inf, transformations, dtypes -------------------------------


@pytest.mark.usefixtures("x64")
def test_small_and_large_time_series_agree_around_the_switch():
    """Two different series for one function: agreement checks both and their terms."""
    u, w = np.meshgrid(np.linspace(0.25, 1.0, 31), np.linspace(0.05, 0.95, 19))
    u, w = jnp.asarray(u.ravel()), jnp.asarray(w.ravel())
    small = exact._log_fstd_small(u, w)
    large = exact._log_fstd_large(u, w)
    np.testing.assert_allclose(small, large, atol=1e-11)


def test_rt_at_or_below_t_is_minus_inf_with_zero_gradient():
    params = jnp.asarray([[1.0, 1.0, 0.5, 0.3]] * 4 + [[-0.5, 0.8, 0.3, 0.0]])
    rt = jnp.asarray([0.3, 0.1, -1.0, 0.9, 0.0])
    resp = jnp.asarray([1, -1, 1, -1, 1])
    f = jax.jit(logpdf)
    out = np.asarray(f(params, rt, resp))
    assert np.all(np.isneginf(out[[0, 1, 2, 4]]))
    assert np.isfinite(out[3])
    jac = np.asarray(jax.jit(jax.jacrev(logpdf))(params, rt, resp))  # (trial, trial, param)
    assert np.isfinite(jac).all()
    assert np.all(jac[[0, 1, 2, 4]] == 0)
    assert np.any(jac[3, 3] != 0)
    # Outside the model: density 0 too; NaN stays NaN (it must not look like a valid trial).
    bad = jnp.asarray([[1.0, 0.0, 0.5, 0.1], [1.0, 1.0, 1.0, 0.1], [1.0, 1.0, 0.5, 0.1]])
    out = np.asarray(f(bad, jnp.asarray([1.0, 1.0, np.nan]), jnp.asarray([1, -1, 1])))
    assert np.isneginf(out[0])
    assert np.isneginf(out[1])
    assert np.isnan(out[2])
    # The same through the sum that a sampler differentiates, with t moving past rt.
    g = jax.jit(jax.grad(lambda p: jnp.sum(logpdf(p, rt[3:4], resp[3:4]))))(params[3:4])
    assert np.isfinite(g).all()


@pytest.mark.usefixtures("x64")
def test_gradient_matches_central_finite_differences():
    rng = np.random.default_rng(1)
    n = 40
    params = np.column_stack(
        [
            rng.uniform(-3, 3, n),
            rng.uniform(0.3, 2.5, n),
            rng.uniform(0.1, 0.9, n),
            rng.uniform(0, 2, n),
        ]
    )
    params[:4, 0] = 0.0  # v = 0 exactly
    # Normalised decision times u = tau / A^2 from 0.02 to 5: both series and the switch.
    u = np.exp(rng.uniform(np.log(0.02), np.log(5.0), n))
    rt = params[:, 3] + u * (2 * params[:, 1]) ** 2
    resp = rng.choice([-1, 1], n)
    rt_j, resp_j = jnp.asarray(rt), jnp.asarray(resp)
    f = jax.jit(lambda p: logpdf(p, rt_j, resp_j))
    grad = np.asarray(jax.jit(jax.grad(lambda p: jnp.sum(f(p))))(jnp.asarray(params)))
    fd = np.empty_like(params)
    for j in range(4):
        h = 1e-6 * np.maximum(1.0, np.abs(params[:, j]))
        up, down = params.copy(), params.copy()
        up[:, j] += h
        down[:, j] -= h
        fd[:, j] = (np.asarray(f(jnp.asarray(up))) - np.asarray(f(jnp.asarray(down)))) / (2 * h)
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-6)

    # The same for the choice probability (v = 0 among the points).
    g = jax.grad(lambda p: jnp.sum(log_choice_probability(p, resp_j)))
    grad_c = np.asarray(g(jnp.asarray(params)))
    fd_c = np.empty_like(params)
    for j in range(3):
        h = 1e-6 * np.maximum(1.0, np.abs(params[:, j]))
        up, down = params.copy(), params.copy()
        up[:, j] += h
        down[:, j] -= h
        lp = np.asarray(log_choice_probability(jnp.asarray(up), resp_j))
        lm = np.asarray(log_choice_probability(jnp.asarray(down), resp_j))
        fd_c[:, j] = (lp - lm) / (2 * h)
    fd_c[:, 3] = 0.0
    np.testing.assert_allclose(grad_c, fd_c, rtol=1e-6, atol=1e-7)


def test_jit_and_vmap_agree_with_the_plain_call():
    rng = np.random.default_rng(2)
    b, n = 3, 50
    params = np.stack(
        [
            rng.uniform(-3, 3, (b, n)),
            rng.uniform(0.3, 2.5, (b, n)),
            rng.uniform(0.1, 0.9, (b, n)),
            rng.uniform(0, 2, (b, n)),
        ],
        axis=-1,
    ).astype(np.float32)
    rt = (params[..., 3] + rng.uniform(0.01, 5, (b, n))).astype(np.float32)
    resp = rng.choice([-1, 1], (b, n))
    # Compiled and op-by-op float32 may differ in the last bits (fused operations).
    close = {"rtol": 1e-5, "atol": 1e-5}
    plain = np.stack([np.asarray(logpdf(params[i], rt[i], resp[i])) for i in range(b)])
    assert np.isfinite(plain).all()
    np.testing.assert_allclose(jax.jit(logpdf)(params[0], rt[0], resp[0]), plain[0], **close)
    np.testing.assert_allclose(jax.vmap(logpdf)(params, rt, resp), plain, **close)
    one = jax.vmap(lambda p, r, c: logpdf(p[None], r[None], c[None])[0])
    np.testing.assert_allclose(one(params[0], rt[0], resp[0]), plain[0], **close)
    choice = np.stack([np.asarray(log_choice_probability(params[i], resp[i])) for i in range(b)])
    np.testing.assert_allclose(jax.vmap(log_choice_probability)(params, resp), choice, **close)


def test_float32_is_finite_on_the_whole_box_and_close_to_float64():
    rng = np.random.default_rng(3)
    n = 20_000
    params = np.column_stack(
        [
            rng.uniform(-3, 3, n),
            rng.uniform(0.3, 2.5, n),
            rng.uniform(0.1, 0.9, n),
            rng.uniform(0, 2, n),
        ]
    )
    # Corners of the box, with rt just after t and 10 s after it.
    corners = np.array(np.meshgrid([-3, 3], [0.3, 2.5], [0.1, 0.9], [0, 2])).reshape(4, -1).T
    params = np.vstack([params, corners, corners])
    m = len(corners)
    tau = np.concatenate([rng.uniform(0, 10, n), np.full(m, 1e-3), np.full(m, 10.0)])
    rt = params[:, 3] + tau
    resp = np.concatenate([rng.choice([-1, 1], n), np.tile([-1, 1], m)])

    p32, rt32 = jnp.asarray(params, jnp.float32), jnp.asarray(rt, jnp.float32)
    resp_j = jnp.asarray(resp)
    out32 = jax.jit(logpdf)(p32, rt32, resp_j)
    assert out32.dtype == jnp.float32
    assert np.isfinite(out32).all()
    grad32 = jax.jit(jax.grad(lambda p: jnp.sum(logpdf(p, rt32, resp_j))))(p32)
    assert np.isfinite(grad32).all()
    choice32 = jax.jit(log_choice_probability)(p32, resp_j)
    assert np.isfinite(choice32).all()
    grad_c32 = jax.jit(jax.grad(lambda p: jnp.sum(log_choice_probability(p, resp_j))))(p32)
    assert np.isfinite(grad_c32).all()

    with jax.enable_x64(True):
        # The float32 inputs, widened: the comparison measures the arithmetic, not the rounding
        # of rt - t, which float32 cannot resolve better than ~1e-7 * rt.
        out64 = jax.jit(logpdf)(
            jnp.asarray(np.asarray(p32), jnp.float64),
            jnp.asarray(np.asarray(rt32), jnp.float64),
            resp_j,
        )
        assert out64.dtype == jnp.float64
        out64 = np.asarray(out64)
    rel = np.abs(np.asarray(out32, np.float64) - out64) / np.maximum(1.0, np.abs(out64))
    assert rel.max() < 1e-5
