"""The exact ddm_sdv likelihood (`ssmhub_ddm_sdv.exact`), checked against things it was not
built from.

* the closed form against scipy quadrature, over the drift ``N(v, sv**2)``, of the ddm's
  own density (`ssmhub_ddm.exact.logpdf`), and ``sv -> 0`` against the ddm itself;
* normalisation: the density integrates to 1 over rt and both responses (scipy), and each
  response's integral is its choice probability, itself checked against adaptive
  quadrature over the drift of the ddm's closed-form choice probability;
* ssm-simulators' Euler simulation of the same model (through `ssmhub.simulate`);
* gradients against central finite differences; -inf and zero gradients where rt <= t or
  the parameters are outside the model; float32 and float64.

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
import pytest
from scipy import integrate

from ssmhub_ddm import exact as ddm
from ssmhub_ddm_sdv.exact import log_choice_probability, logpdf

# v, a, z, t, sv: both drift signs and v = 0, the box's edges in a, z and sv.
THETAS = [
    (1.0, 1.0, 0.5, 0.3, 1.0),
    (-2.0, 2.5, 0.2, 0.5, 2.5),
    (3.0, 0.3, 0.9, 0.1, 0.001),
    (0.0, 2.5, 0.5, 0.001, 2.5),
    (-0.5, 0.3, 0.1, 2.0, 2.5),
    (2.0, 1.7, 0.7, 1.0, 0.3),
]


@pytest.fixture
def x64() -> Iterator[None]:
    with jax.enable_x64(True):
        yield


@functools.cache
def _sdv_density():
    return jax.jit(lambda params, rt, resp: jnp.exp(logpdf(params, rt, resp)))


@functools.cache
def _ddm_density():
    return jax.jit(lambda params, rt, resp: jnp.exp(ddm.logpdf(params, rt, resp)))


def _normal(x: float) -> float:
    return math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


# --- 1: the closed form against quadrature over the drift ------------------------------------


@functools.cache
def _log_ddm():
    return jax.jit(ddm.logpdf)


def log_density_over_drifts(
    theta: tuple[float, ...], rt: np.ndarray, response: np.ndarray
) -> np.ndarray:
    """log int phi(x) f_ddm(rt, response | v + sv x) dx for each (rt, response), by scipy.

    The integrand peaks far out in ``x`` for an early response against the drift (``x ~
    9`` at ``a = sv = 2.5``), so each one is scaled by its peak, found on a grid, and
    integrated over 12 on either side of it (pieces of width 2, `quad_vec` for all at once).
    """
    v, a, z, t, sv = theta
    f = _log_ddm()
    k = len(rt)

    def log_g(x: np.ndarray) -> np.ndarray:  # (len(x), k)
        x = np.asarray(x, dtype=float).reshape(-1, 1)
        drift = np.broadcast_to(v + sv * x, (x.shape[0], k)).ravel()
        params = np.column_stack([drift, *np.broadcast_to([[a], [z], [t]], (3, drift.size))])
        values = f(
            jnp.asarray(params),
            jnp.asarray(np.tile(rt, x.shape[0])),
            jnp.asarray(np.tile(response, x.shape[0])),
        )
        return np.asarray(values).reshape(-1, k) - 0.5 * x**2 - 0.5 * math.log(2 * math.pi)

    coarse = np.linspace(-40, 40, 321)
    grid_values = log_g(coarse)
    peak, top = coarse[grid_values.argmax(axis=0)], grid_values.max(axis=0)
    edges = np.arange(peak.min() - 12, peak.max() + 12.5, 2.0)
    opts = {"epsabs": 0, "epsrel": 1e-12, "limit": 100}
    total = sum(
        integrate.quad_vec(lambda x: np.exp(log_g(x)[0] - top), lo, hi, **opts)[0]
        for lo, hi in itertools.pairwise(edges)
    )
    return top + np.log(total)


@pytest.mark.usefixtures("x64")
@pytest.mark.parametrize("theta", THETAS)
def test_closed_form_equals_quadrature_over_the_drift(theta):
    t = theta[3]
    rt = t + np.array([0.02, 0.3, 2.5, 0.02, 0.3, 2.5])
    response = np.array([-1, -1, -1, 1, 1, 1])
    ours = np.asarray(
        jax.jit(logpdf)(jnp.asarray([theta] * 6), jnp.asarray(rt), jnp.asarray(response))
    )
    reference = log_density_over_drifts(theta, rt, response)
    np.testing.assert_allclose(ours, reference, rtol=1e-11, atol=1e-9)


@pytest.mark.usefixtures("x64")
def test_tiny_sv_is_the_ddm():
    rng = np.random.default_rng(0)
    n = 200
    ddm_params = np.column_stack(
        [
            rng.uniform(-3, 3, n),
            rng.uniform(0.3, 2.5, n),
            rng.uniform(0.1, 0.9, n),
            rng.uniform(0, 2, n),
        ]
    )
    rt = ddm_params[:, 3] + np.exp(rng.uniform(math.log(1e-3), math.log(10.0), n))
    resp = jnp.asarray(rng.choice([-1, 1], n))
    ours = jax.jit(logpdf)
    theirs = np.asarray(jax.jit(ddm.logpdf)(jnp.asarray(ddm_params), jnp.asarray(rt), resp))
    for sv in (0.0, 0.001):
        params = jnp.asarray(np.column_stack([ddm_params, np.full(n, sv)]))
        got = np.asarray(ours(params, jnp.asarray(rt), resp))
        # sv = 0.001 changes the log density by sv**2 times at most (A w)**2 / 2 + tau (v A w +
        # v**2 tau / 2 + 1/2): below 1e-3 for tau < 10 s.
        tol = {"rtol": 0, "atol": 1e-14} if sv == 0 else {"rtol": 1e-5, "atol": 1e-4}
        np.testing.assert_allclose(got, theirs, **tol)
    choice = jax.jit(log_choice_probability)
    for sv in (0.0, 0.001):
        params = jnp.asarray(np.column_stack([ddm_params, np.full(n, sv)]))
        got = np.asarray(choice(params, resp))
        theirs_c = np.asarray(jax.jit(ddm.log_choice_probability)(jnp.asarray(ddm_params), resp))
        np.testing.assert_allclose(got, theirs_c, rtol=0, atol=1e-12 if sv == 0 else 1e-4)


# --- 2: normalisation and choice probabilities ----------------------------------------------


def integral(theta: tuple[float, ...], response: int) -> float:
    """The density integrated over rt in (t, inf), split at a few multiples of A**2."""
    _, a, _, t, _ = theta
    f = _sdv_density()
    params = jnp.asarray([theta])

    def g(rt: float) -> float:
        return float(f(params, jnp.asarray([rt]), jnp.asarray([response]))[0])

    scale = (2 * a) ** 2
    edges = [t, t + 0.05 * scale, t + 0.3 * scale, t + scale, t + 4 * scale, np.inf]
    opts = {"epsabs": 1e-13, "epsrel": 1e-11, "limit": 200}
    return sum(integrate.quad(g, lo, hi, **opts)[0] for lo, hi in itertools.pairwise(edges))


def choice_over_drifts(theta: tuple[float, ...], response: int) -> float:
    """int phi(x) P_ddm(response | v + sv x) dx by adaptive quadrature, with a breakpoint
    every 0.05 around the steep part, where v + sv x = 0."""
    v, a, z, _, sv = theta
    x_mid = -v / sv

    def p_ddm(u: float) -> float:
        # P(lower) = (exp(-x w) - exp(-x)) / (1 - exp(-x)), x = 2 u A, A = 2a, w = z.
        x = 2 * u * 2 * a
        if abs(x) < 1e-10:
            lower = 1 - z
        elif x > 0:
            lower = (math.exp(-x * z) - math.exp(-x)) / -math.expm1(-x)
        else:
            lower = math.expm1(x * (1 - z)) / math.expm1(x)
        return lower if response < 0 else 1 - lower

    points = [x_mid + 0.05 * k for k in range(-10, 11) if abs(x_mid + 0.05 * k) < 12]
    return integrate.quad(
        lambda x: _normal(x) * p_ddm(v + sv * x),
        -12,
        12,
        points=points or None,
        epsabs=1e-14,
        epsrel=1e-12,
        limit=500,
    )[0]


@pytest.mark.usefixtures("x64")
@pytest.mark.parametrize("theta", THETAS)
def test_density_integrates_to_one_and_to_the_choice_probability(theta):
    lower, upper = integral(theta, -1), integral(theta, 1)
    assert lower + upper == pytest.approx(1.0, abs=1e-7)
    params = jnp.asarray([theta, theta])
    p = np.exp(np.asarray(jax.jit(log_choice_probability)(params, jnp.asarray([-1, 1]))))
    np.testing.assert_allclose(p, [lower, upper], rtol=0, atol=1e-7)
    reference = [choice_over_drifts(theta, -1), choice_over_drifts(theta, 1)]
    np.testing.assert_allclose(p, reference, rtol=0, atol=1e-8)


@pytest.mark.usefixtures("x64")
def test_choice_probability_over_the_box():
    """The composite Gauss-Legendre rule against adaptive quadrature where the sigmoid is
    steepest (a = 2.5, sv = 2.5) and elsewhere, its centre -v/sv swept across the Gaussian."""
    rng = np.random.default_rng(4)
    thetas = [(v, 2.5, 0.3, 0.0, 2.5) for v in np.linspace(-3, 3, 7)]
    thetas += [
        (rng.uniform(-3, 3), rng.uniform(0.3, 2.5), rng.uniform(0.1, 0.9), 0.0, rng.uniform(0, 2.5))
        for _ in range(13)
    ]
    params = jnp.asarray(thetas)
    p = np.exp(np.asarray(jax.jit(log_choice_probability)(params, jnp.ones(len(thetas), int))))
    reference = [choice_over_drifts(theta, 1) for theta in thetas]
    np.testing.assert_allclose(p, reference, rtol=0, atol=1e-8)


# --- 3: simulation ---------------------------------------------------------------------------

SIM_N = 20_000
SIM_DT = 0.001  # ssm-simulators' Euler step
# As in the ddm's test: paths overshoot the bounds between grid points, like continuous
# absorption at bounds moved out by beta sqrt(dt), beta = 0.5826 (Siegmund's correction); the
# exact density is evaluated at a_eff = a + beta sqrt(dt), the start kept where it is.
SHIFT = 0.5826 * math.sqrt(SIM_DT)
SIM_THETAS = [(1.0, 1.0, 0.4, 0.3, 1.5), (-0.8, 0.6, 0.6, 0.5, 0.5)]


def corrected(theta: tuple[float, ...]) -> tuple[float, ...]:
    v, a, z, t, sv = theta
    a_eff = a + SHIFT
    return (v, a_eff, (2 * a * z + SHIFT) / (2 * a_eff), t, sv)


@pytest.mark.slow
@pytest.mark.usefixtures("x64")
def test_density_matches_ssm_simulators():
    import ssmhub

    cols = {
        k: np.array([th[i] for th in SIM_THETAS]) for i, k in enumerate(["v", "a", "z", "t", "sv"])
    }
    data = ssmhub.simulate("ddm_sdv", cols, n=SIM_N, seed=0)
    density = jax.jit(lambda params, rt, r: logpdf(params, rt, jnp.full(rt.shape, r)))
    for j, theta in enumerate(SIM_THETAS):
        rows = data.iloc[j * SIM_N : (j + 1) * SIM_N]
        rt, resp = rows.rt.to_numpy(), rows.response.to_numpy()
        assert np.all(resp != -999)
        th = corrected(theta)
        params = jnp.asarray([th, th])
        p = np.exp(np.asarray(log_choice_probability(params, jnp.asarray([-1, 1]))))

        # Choice proportion: within 4 Monte Carlo standard errors.
        p_hat = np.mean(resp == 1)
        se = math.sqrt(p[1] * (1 - p[1]) / SIM_N)
        assert abs(p_hat - p[1]) < 4 * se, (theta, p_hat, p[1], se)

        # rt given the response: KS distance to the cdf of the density (trapezoid on a grid
        # even in sqrt(rt - t)), below 1.95 / sqrt(n), the asymptotic 0.1% critical value.
        for response, p_r in ((-1, p[0]), (1, p[1])):
            x = np.sort(rt[resp == response])
            grid = th[3] + np.linspace(0.0, math.sqrt(x.max() - th[3] + 0.01), 20_001) ** 2
            dens = np.exp(np.asarray(density(jnp.asarray([th]), jnp.asarray(grid), response)))
            cdf = integrate.cumulative_trapezoid(dens, grid, initial=0.0) / p_r
            n = x.size
            model_cdf = np.interp(x, grid, cdf)
            ks = max(
                np.max(np.arange(1, n + 1) / n - model_cdf),
                np.max(model_cdf - np.arange(n) / n),
            )
            assert ks < 1.95 / math.sqrt(n), (theta, response, ks, n)


# --- 4: gradients, -inf, dtypes --------------------------------------------------------------

N_BATCH = 40


@functools.cache
def _logpdf_with_gradient():
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
            rng.uniform(-3, 3, n),
            rng.uniform(0.3, 2.5, n),
            rng.uniform(0.1, 0.9, n),
            rng.uniform(0.001, 2, n),
            rng.uniform(0.001, 2.5, n),
        ]
    )


def central_differences(f, params: np.ndarray, columns: range) -> np.ndarray:
    out = np.zeros_like(params)
    for j in columns:
        h = 1e-6 * np.maximum(1.0, np.abs(params[:, j]))
        up, down = params.copy(), params.copy()
        up[:, j] += h
        down[:, j] -= h
        out[:, j] = (f(up) - f(down)) / (2 * h)
    return out


@pytest.mark.usefixtures("x64")
def test_gradient_matches_finite_differences():
    rng = np.random.default_rng(1)
    params = random_params(rng, N_BATCH)
    params[:4, 0] = 0.0  # v = 0
    params[4:8, 4] = 0.001  # the smallest sv of the box (sv - h stays >= 0)
    # Normalised decision times u = tau / A^2 from 0.02 to 5: both series and the switch.
    u = np.exp(rng.uniform(np.log(0.02), np.log(5.0), N_BATCH))
    rt = params[:, 3] + u * (2 * params[:, 1]) ** 2
    resp = rng.choice([-1, 1], N_BATCH)
    values, grad = logpdf_and_gradient(params, rt, resp)
    assert np.isfinite(values).all()
    fd = central_differences(lambda p: logpdf_and_gradient(p, rt, resp)[0], params, range(5))
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-6)

    # The choice probability (v = 0 and the smallest sv among the points).
    def total(p):
        values = log_choice_probability(p, jnp.asarray(resp))
        return jnp.sum(values), values

    f = jax.jit(jax.value_and_grad(total, has_aux=True))
    (_, values_c), grad_c = f(jnp.asarray(params))
    assert np.isfinite(np.asarray(values_c)).all()
    fd_c = central_differences(lambda p: np.asarray(f(jnp.asarray(p))[0][1]), params, range(5))
    np.testing.assert_allclose(np.asarray(grad_c), fd_c, rtol=1e-6, atol=1e-7)


@pytest.mark.usefixtures("x64")
def test_rt_at_or_below_t_and_invalid_parameters_are_minus_inf_with_zero_gradient():
    params = np.tile([1.0, 1.0, 0.5, 0.3, 1.0], (N_BATCH, 1))
    rt = np.full(N_BATCH, 1.0)
    resp = np.ones(N_BATCH, int)
    rt[:3] = [0.3, 0.1, -1.0]  # at, below, far below t
    params[3, 1] = 0.0  # a = 0
    params[4, 2] = 1.0  # z = 1
    params[5, 4] = -0.1  # sv < 0
    rt[6] = np.nan
    params[7, 4] = 0.0  # sv = 0: the ddm, valid, with a finite gradient
    values, grad = logpdf_and_gradient(params, rt, resp)
    assert np.all(np.isneginf(values[:6]))
    assert np.isnan(values[6])
    assert np.isfinite(values[7:]).all()
    assert np.isfinite(grad[:6]).all()
    assert np.all(grad[:6] == 0)
    assert np.isfinite(grad[7:]).all()
    assert np.all(grad[7:, 3] != 0)
    choice = np.asarray(jax.jit(log_choice_probability)(jnp.asarray(params[3:6]), resp[3:6]))
    assert np.all(np.isneginf(choice))


def test_float32_is_finite_on_the_whole_box_and_close_to_float64():
    rng = np.random.default_rng(3)
    n = 5000
    params = random_params(rng, n)
    grid = np.meshgrid([-3, 3], [0.3, 2.5], [0.1, 0.9], [0.001, 2], [0.001, 2.5])
    corners = np.array(grid).reshape(5, -1).T
    m = len(corners)
    params = np.vstack([params, corners, corners])
    tau = np.concatenate([rng.uniform(0, 10, n), np.full(m, 1e-3), np.full(m, 10.0)])
    rt = params[:, 3] + tau
    resp = jnp.asarray(np.concatenate([rng.choice([-1, 1], n), np.tile([-1, 1], m)]))

    p32, rt32 = jnp.asarray(params, jnp.float32), jnp.asarray(rt, jnp.float32)
    out32 = jax.jit(logpdf)(p32, rt32, resp)
    assert out32.dtype == jnp.float32
    assert np.isfinite(out32).all()
    grad32 = jax.jit(jax.grad(lambda p: jnp.sum(logpdf(p, rt32, resp))))(p32)
    assert np.isfinite(grad32).all()
    choice32 = jax.jit(log_choice_probability)(p32, resp)
    assert np.isfinite(choice32).all()
    grad_c32 = jax.jit(jax.grad(lambda p: jnp.sum(log_choice_probability(p, resp))))(p32)
    assert np.isfinite(grad_c32).all()

    with jax.enable_x64(True):
        widened = (jnp.asarray(np.asarray(x), jnp.float64) for x in (p32, rt32))
        out64 = np.asarray(jax.jit(logpdf)(*widened, resp))
    rel = np.abs(np.asarray(out32, np.float64) - out64) / np.maximum(1.0, np.abs(out64))
    assert rel.max() < 1e-5


@pytest.mark.usefixtures("x64")
def test_one_parameter_row_serves_every_trial():
    """params (1, 5) with rt and response (N,): as if the row were repeated."""
    theta = [0.5, 1.2, 0.4, 0.2, 0.8]
    rt = jnp.asarray([0.3, 0.7, 1.5, 0.1])
    resp = jnp.asarray([1, -1, 1, -1])
    f, c = jax.jit(logpdf), jax.jit(log_choice_probability)
    one = np.asarray(f(jnp.asarray([theta]), rt, resp))
    many = np.asarray(f(jnp.asarray([theta] * 4), rt, resp))
    np.testing.assert_allclose(one, many, rtol=1e-15)
    one_c = np.asarray(c(jnp.asarray([theta]), resp))
    many_c = np.asarray(c(jnp.asarray([theta] * 4), resp))
    np.testing.assert_allclose(one_c, many_c, rtol=1e-15)
