"""The exact LBA likelihood (`ssmhub_lba2.exact`; `ssmhub_lba3.exact` is it at K = 3), checked
against things it was not built from.

* normalisation: the density, integrated over rt by scipy's adaptive quadrature and summed
  over the choices, plus the chance that no accumulator finishes within the 20 s horizon,
  is 1; that chance comes from the definition (a folded-normal cdf averaged over the start
  point, by quadrature), not from the module;
* each choice's integral equals ``exp(log_choice_probability)`` (the module's own quadrature);
* ssm-simulators' simulation of the same model, through `ssmhub.simulate`: choice
  proportions and, per choice, the rt distribution (Kolmogorov-Smirnov);
* gradients against central finite differences, at random points of the box and on its edges
  (A = 0, b = A, v0 = 0); -inf with zero gradients where the density is 0 or undefined;
  float32 against float64.

Float64 checks run inside ``jax.enable_x64(True)``, a context manager, so the process-wide
setting is left alone. Each function is compiled once per shape (`compiled`) at XLA's lowest
CPU optimisation level: the default level spends seconds per function on a graph this size,
which is the cost of this file, not of the numbers it checks (the conformance kit and the
PyMC path compile it the default way).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, stats

from ssmhub_lba2 import exact as lba2
from ssmhub_lba3 import exact as lba3

EXACT = {2: lba2, 3: lba3}
HORIZON = lba2.HORIZON
S = lba2.DRIFT_SD

# A, b, v0, v1[, v2]: the default, both edges of A (0 and b), b = A = 0.5 with v0 = 0 (slow:
# many trials undecided at the horizon), the slowest corner, the fastest drifts, a tiny A.
THETAS = {
    2: [
        (0.3, 0.5, 0.5, 0.5),
        (0.0, 0.5, 1.0, 0.1),
        (0.5, 0.5, 0.0, 0.1),
        (0.5, 1.0, 0.0, 0.1),
        (0.2, 0.7, 1.0, 1.1),
        (1e-3, 0.6, 0.3, 0.9),
    ],
    3: [
        (0.3, 0.5, 0.25, 0.5, 0.25),
        (0.0, 1.0, 1.0, 1.1, 0.5),
        (0.5, 0.5, 0.0, 0.1, 0.1),
        (0.25, 0.8, 0.6, 0.3, 0.5),
        (0.5, 1.0, 1.0, 0.1, 0.1),
    ],
}
LOWER = {2: np.array([0.0, 0.5, 0.0, 0.1]), 3: np.array([0.0, 0.5, 0.0, 0.1, 0.1])}
UPPER = {2: np.array([0.5, 1.0, 1.0, 1.1]), 3: np.array([0.5, 1.0, 1.0, 1.1, 0.5])}
BATCH = 512  # trials per call of the compiled batch functions (inputs are padded to it)
ROWS = 16  # parameter rows per call of the compiled choice-probability function

FAST_COMPILE = {"xla_backend_optimization_level": 0}
_COMPILED: dict[tuple, Callable] = {}


@pytest.fixture
def x64() -> Iterator[None]:
    with jax.enable_x64(True):
        yield


def compiled(name: str, fn: Callable, *args: jax.Array) -> Callable:
    """``fn`` compiled once for the shapes and dtypes of ``args``."""
    key = (name, *((a.shape, a.dtype) for a in args))
    if key not in _COMPILED:
        lowered = jax.jit(fn).lower(*args)
        _COMPILED[key] = lowered.compile(compiler_options=FAST_COMPILE)
    return _COMPILED[key]


def values_and_gradients(
    k: int, params: np.ndarray, rt: np.ndarray, response: np.ndarray, dtype=None
):
    """Per-trial log densities and their gradients in the parameters, in chunks of BATCH."""
    dtype = dtype or jnp.float64
    n = len(rt)
    values, grads = np.empty(n), np.empty((n, k + 2))

    def fn(p, r, c):
        out, vjp = jax.vjp(lambda p: EXACT[k].logpdf(p, r, c), p)
        (g,) = vjp(jnp.ones_like(out))  # trials do not share parameters: per-trial rows
        return out, g

    for start in range(0, n, BATCH):
        m = min(BATCH, n - start)
        pad = BATCH - m
        p = np.pad(params[start : start + m], ((0, pad), (0, 0)), mode="edge")
        r = np.pad(rt[start : start + m], (0, pad), mode="edge")
        c = np.pad(response[start : start + m], (0, pad), mode="edge")
        args = (jnp.asarray(p, dtype), jnp.asarray(r, dtype), jnp.asarray(c, jnp.int32))
        out, g = compiled(f"batch{k}", fn, *args)(*args)
        values[start : start + m] = np.asarray(out)[:m]
        grads[start : start + m] = np.asarray(g)[:m]
    return values, grads


def log_density(k: int, params: np.ndarray, rt: np.ndarray, response: np.ndarray) -> np.ndarray:
    """Per-trial log densities (float64), in chunks of BATCH."""
    params = np.broadcast_to(params, (len(rt), k + 2))
    out = np.empty(len(rt))
    for start in range(0, len(rt), BATCH):
        m = min(BATCH, len(rt) - start)
        pad = BATCH - m
        p = jnp.asarray(np.pad(params[start : start + m], ((0, pad), (0, 0)), mode="edge"))
        r = jnp.asarray(np.pad(rt[start : start + m], (0, pad), mode="edge"))
        c = jnp.asarray(np.pad(response[start : start + m], (0, pad), mode="edge"), jnp.int32)
        out[start : start + m] = np.asarray(
            compiled(f"values{k}", EXACT[k].logpdf, p, r, c)(p, r, c)
        )[:m]
    return out


def choice_probabilities(k: int, thetas: list[tuple[float, ...]]) -> np.ndarray:
    """``exp(log_choice_probability)`` through the public function: (len(thetas), k)."""
    rows = [(th, c) for th in thetas for c in range(k)]
    out = np.empty(len(rows))
    for start in range(0, len(rows), ROWS):
        chunk = rows[start : start + ROWS]
        chunk = chunk + [chunk[-1]] * (ROWS - len(chunk))
        p = jnp.asarray([th for th, _ in chunk], jnp.float64)
        c = jnp.asarray([c for _, c in chunk], jnp.int32)
        got = compiled(f"choice{k}", EXACT[k].log_choice_probability, p, c)(p, c)
        m = min(ROWS, len(rows) - start)
        out[start : start + m] = np.exp(np.asarray(got))[:m]
    return out.reshape(len(thetas), k)


# --- the reference: the model's definition, by scipy ----------------------------------------


def survivor(t: float, big_a: float, b: float, v: float) -> float:
    """P(one accumulator has not finished by t): the folded-normal cdf of the rate at u / t,
    averaged over the distance u = b - z, uniform on [b - A, b]."""

    def cdf(u: float) -> float:
        return stats.norm.cdf((u / t - v) / S) - stats.norm.cdf((-u / t - v) / S)

    if big_a == 0:
        return cdf(b)
    return integrate.quad(cdf, b - big_a, b, epsabs=1e-13, epsrel=1e-12)[0] / big_a


def undecided(theta: tuple[float, ...]) -> float:
    """P(no accumulator finishes before the horizon), from the definition."""
    big_a, b, *v = theta
    return math.prod(survivor(HORIZON, big_a, b, vk) for vk in v)


def density(k: int, theta: tuple[float, ...], response: int) -> Callable[[float], float]:
    """rt -> exp(logpdf) (a Python float) at one trial, for scipy's quadrature."""
    p = jnp.asarray([theta], jnp.float64)
    c = jnp.asarray([response], jnp.int32)
    f = compiled(f"one{k}", EXACT[k].logpdf, p, jnp.ones(1, jnp.float64), c)
    return lambda rt: math.exp(f(p, np.array([rt]), c)[0])


def density_integral(k: int, theta: tuple[float, ...], response: int) -> float:
    """Integral of exp(logpdf) over rt in (0, HORIZON) by scipy.integrate.quad."""
    g = density(k, theta, response)
    _, b, *v = theta
    points = sorted({min(b / max(vk, 0.05), 19.0) for vk in v} | {0.05, 0.3, 1.0, 5.0})
    return integrate.quad(g, 0.0, HORIZON, points=points, limit=400, epsabs=1e-12)[0]


@contextmanager
def numpy_global_seed(seed: int) -> Iterator[None]:
    """ssm-simulators' LBA simulator draws from NumPy's global generator and ignores its
    ``random_state``: seed that one, and put it back afterwards."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


# --- 1, 2: normalisation and choice probabilities -------------------------------------------


def test_the_horizon_is_the_simulator_adapters():
    from ssmhub.default_plugins.ssms_simulator import SsmsSimulator

    assert SsmsSimulator("lba2", None).max_t == HORIZON


@pytest.mark.usefixtures("x64")
@pytest.mark.parametrize("k", [2, 3])
def test_density_integrates_to_one_and_to_the_choice_probability(k):
    probabilities = choice_probabilities(k, THETAS[k])
    for theta, p in zip(THETAS[k], probabilities, strict=True):
        integrals = np.array([density_integral(k, theta, c) for c in range(k)])
        rest = undecided(theta)
        assert integrals.sum() + rest == pytest.approx(1.0, abs=1e-8), theta
        np.testing.assert_allclose(p, integrals, rtol=1e-7, atol=1e-10, err_msg=str(theta))


@pytest.mark.usefixtures("x64")
def test_start_points_above_the_threshold_scale_the_density_on_positive_rts():
    """b < A (outside the box): each accumulator starts below b with chance b / A, and then
    uniformly in [0, b]; so on rt > 0 the density is (b / A)**K times the one with A = b."""
    rt = np.linspace(0.05, 4.0, 40)
    response = np.arange(40) % 3
    theta = np.array([0.8, 0.6, 0.7, 0.4, 0.2])
    folded = np.array([0.6, 0.6, 0.7, 0.4, 0.2])
    got = log_density(3, np.tile(theta, (40, 1)), rt, response)
    expected = log_density(3, np.tile(folded, (40, 1)), rt, response) + 3 * math.log(0.6 / 0.8)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


# --- 3: simulation ---------------------------------------------------------------------------

SIM_N = 20_000
# On edges of the box: b = A with v0 = 0 (a few percent of trials undecided at the horizon),
# A = 0 with the fastest drifts; and an interior point.
SIM_THETAS = {
    2: [(0.5, 0.5, 0.0, 0.1)],
    3: [(0.0, 1.0, 1.0, 1.1, 0.5), (0.4, 0.6, 0.6, 0.3, 0.5)],
}


def conditional_cdf(k: int, theta: tuple[float, ...], response: int, x: np.ndarray) -> np.ndarray:
    """CDF of rt given the response and rt < HORIZON, at the sorted ``x``: the density's
    cumulative integral (Simpson, on a log grid from half the smallest ``x``), divided by its
    total. The mass below the grid is of order 1 / (2 len(x)), far below the KS bound."""
    grid = np.geomspace(x[0] / 2, HORIZON, 2 * BATCH)
    dens = np.exp(log_density(k, np.asarray(theta), grid, np.full(grid.size, response)))
    cdf = integrate.cumulative_simpson(dens, x=grid, initial=0.0)
    return np.interp(x, grid, cdf / cdf[-1])


@pytest.mark.usefixtures("x64")
@pytest.mark.parametrize("k", [2, 3])
def test_density_matches_ssm_simulators(k):
    import ssmhub

    thetas = SIM_THETAS[k]
    names = ["A", "b", *(f"v{i}" for i in range(k))]
    columns = {name: np.array([th[i] for th in thetas]) for i, name in enumerate(names)}
    with numpy_global_seed(0):
        data = ssmhub.simulate(f"lba{k}", columns, n=SIM_N, seed=0)
    probabilities = choice_probabilities(k, thetas)
    for i, theta in enumerate(thetas):
        rows = data.iloc[i * SIM_N : (i + 1) * SIM_N]
        rt, resp = rows.rt.to_numpy(), rows.response.to_numpy()
        assert np.all(rt[resp != ssmhub.OMITTED] > 0)
        # Choice proportions (undecided trials included in the total): 4 standard errors.
        p_undecided = undecided(theta)
        for c, p in [*enumerate(probabilities[i]), (ssmhub.OMITTED, p_undecided)]:
            p_hat = np.mean(resp == c)
            se = math.sqrt(max(p * (1 - p), 1e-12) / SIM_N)
            assert abs(p_hat - p) < 4 * se + 1e-12, (theta, c, p_hat, p, se)
        # rt given the response: KS distance against the exact conditional CDF; 1.95/sqrt(n)
        # is the asymptotic 0.1% critical value.
        for c in range(k):
            x = np.sort(rt[resp == c])
            n = x.size
            if n < 100:
                continue
            model = conditional_cdf(k, theta, c, x)
            ks = max(np.max(np.arange(1, n + 1) / n - model), np.max(model - np.arange(n) / n))
            assert ks < 1.95 / math.sqrt(n), (theta, c, ks, n)


# --- 4: gradients, -inf, dtypes ----------------------------------------------------------------


def random_trials(k: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    params = rng.uniform(LOWER[k], UPPER[k], (n, k + 2))
    rt = np.exp(rng.uniform(math.log(0.05), math.log(HORIZON), n))
    return params, rt, rng.integers(0, k, n)


@pytest.mark.usefixtures("x64")
# The code is the same for any K; K = 2 costs another compile, so it runs with the slow tests.
@pytest.mark.parametrize("k", [pytest.param(2, marks=pytest.mark.slow), 3])
def test_gradient_matches_central_finite_differences(k):
    params, rt, response = random_trials(k, 60, seed=k)
    params[:6, 0] = 1e-4  # just inside the edges: A -> 0, b -> A, v0 -> 0
    params[6:12, 0], params[6:12, 1] = 0.5, 0.5 + 1e-4
    params[12:18, 2] = 1e-4
    values, grads = values_and_gradients(k, params, rt, response)
    assert np.isfinite(values).all()
    fd = np.empty_like(params)
    for j in range(k + 2):
        h = 1e-6 * np.maximum(1.0, np.abs(params[:, j]))
        up, down = params.copy(), params.copy()
        up[:, j] += h
        down[:, j] -= h
        fd[:, j] = (log_density(k, up, rt, response) - log_density(k, down, rt, response)) / (2 * h)
    np.testing.assert_allclose(grads, fd, rtol=1e-5, atol=1e-5)


@pytest.mark.usefixtures("x64")
def test_gradients_on_the_edges_of_the_box_are_finite_and_one_sided():
    """A = 0, b = A and v0 = 0 are in the box: the gradient there is the one-sided derivative
    into the box (v0: 0, the density being even in each drift)."""
    k = 3
    params, rt, response = random_trials(k, 30, seed=7)
    params[:10, 0] = 0.0
    params[10:20, 1] = params[10:20, 0] = 0.5
    params[20:, 2] = 0.0
    values, grads = values_and_gradients(k, params, rt, response)
    assert np.isfinite(values).all()
    assert np.isfinite(grads).all()
    h = 1e-5
    for rows, j in ((slice(0, 10), 0), (slice(10, 20), 1)):
        p = params[rows]
        steps = [p.copy() for _ in range(3)]
        for i, s in enumerate(steps):
            s[:, j] += i * h
        f = [log_density(k, s, rt[rows], response[rows]) for s in steps]
        one_sided = (-3 * f[0] + 4 * f[1] - f[2]) / (2 * h)  # second order, into the box
        np.testing.assert_allclose(grads[rows, j], one_sided, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(grads[20:, 2], 0.0, atol=1e-12)


@pytest.mark.usefixtures("x64")
def test_impossible_trials_are_minus_inf_with_zero_gradient():
    k = 3
    good = [0.3, 0.5, 0.25, 0.5, 0.25]
    params = np.array(
        [good] * 5 + [[0.3, 0.0, 0.25, 0.5, 0.25], [-0.1, 0.5, 0.25, 0.5, 0.25], good, good]
    )
    rt = np.array([0.0, -1.0, 0.7, 0.7, 0.7, 0.7, 0.7, np.nan, 0.7])
    response = np.array([1, 0, 3, -1, 0, 0, 1, 2, 2])
    values, grads = values_and_gradients(k, params, rt, response)
    # rt <= 0, responses outside 0..2, b <= 0, A < 0: density 0; NaN stays NaN.
    assert np.all(np.isneginf(values[[0, 1, 2, 3, 5, 6]]))
    assert np.isfinite(values[[4, 8]]).all()
    assert np.isnan(values[7])
    ok = np.isfinite(values)
    assert np.all(grads[np.isneginf(values)] == 0)
    assert np.isfinite(grads[ok]).all()
    assert np.any(grads[4] != 0)
    # The choice probability refuses what the density refuses.
    p = jnp.asarray(np.tile(good, (ROWS, 1)), jnp.float64)
    c = jnp.asarray([5, -1, *([0] * (ROWS - 2))], jnp.int32)
    got = np.asarray(compiled("choice3", lba3.log_choice_probability, p, c)(p, c))
    assert np.isneginf(got[:2]).all()
    assert np.isfinite(got[2:]).all()


def float32_trials() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random trials on the lba3 box, edges included, rt from 1 ms to the horizon, in float32."""
    params, rt, response = random_trials(3, 2 * BATCH, seed=11)
    params[:50, 0] = 0.0
    params[50:100, 0] = params[50:100, 1] = 0.5
    params[100:150, 2] = 0.0
    rt[150:200] = 1e-3
    rt[200:250] = HORIZON
    return params.astype(np.float32), rt.astype(np.float32), response


def test_float32_is_finite_on_the_box_and_close_to_float64():
    p32, rt32, response = float32_trials()
    v32 = np.empty(len(rt32))
    for start in range(0, len(rt32), BATCH):
        args = (jnp.asarray(p32[start : start + BATCH]), jnp.asarray(rt32[start : start + BATCH]))
        c = jnp.asarray(response[start : start + BATCH], jnp.int32)
        out = compiled("values3-f32", lba3.logpdf, *args, c)(*args, c)
        assert out.dtype == jnp.float32
        v32[start : start + BATCH] = np.asarray(out)
    assert np.isfinite(v32).all()
    with jax.enable_x64(True):
        # The float32 inputs, widened: the comparison measures the arithmetic, not rounding.
        v64 = log_density(3, p32.astype(np.float64), rt32.astype(np.float64), response)
    rel = np.abs(v32 - v64) / np.maximum(1.0, np.abs(v64))
    assert rel.max() < 1e-5


@pytest.mark.slow
def test_float32_gradients_are_finite_on_the_box():
    p32, rt32, response = float32_trials()
    values, grads = values_and_gradients(3, p32, rt32, response, dtype=jnp.float32)
    assert np.isfinite(values).all()
    assert np.isfinite(grads).all()


@pytest.mark.slow
@pytest.mark.usefixtures("x64")
def test_choice_probability_gradient_matches_finite_differences():
    k = 3
    params, _, response = random_trials(k, ROWS, seed=5)
    params[:3, 0] = 1e-4
    p, c = jnp.asarray(params), jnp.asarray(response, jnp.int32)

    def total(p, c):
        return jnp.sum(lba3.log_choice_probability(p, c))

    grad = np.asarray(compiled("choice3-grad", jax.grad(total), p, c)(p, c))
    f = compiled("choice3", lba3.log_choice_probability, p, c)
    fd = np.empty_like(params)
    for j in range(k + 2):
        h = 1e-6
        up, down = params.copy(), params.copy()
        up[:, j] += h
        down[:, j] -= h
        fd[:, j] = (np.asarray(f(jnp.asarray(up), c)) - np.asarray(f(jnp.asarray(down), c))) / (
            2 * h
        )
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-6)
