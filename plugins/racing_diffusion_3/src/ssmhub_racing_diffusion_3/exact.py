"""The exact likelihood of the racing diffusion model, in JAX.

The model (Tillman, Van Zandt & Logan, 2020, Psychon. Bull. Rev. 27, 911-936) is a race of
``K`` independent Wiener processes without a lower bound, one per response; the first to
reach its threshold gives the response. Conventions are those of ssm-simulators'
``racing_diffusion_3`` (``cssm.racing_diffusion_model``), which the plugin wraps: parameters
``v0 .. v{K-1}, A, b, t``; unit diffusion coefficient for every accumulator; accumulator
``k`` starts at ``x0_k ~ Uniform[0, A]``, independently of the others, drifts at ``v_k`` and
finishes when it reaches ``b`` (an absolute level, not a distance above the start); response
``k`` is the accumulator that finished first; ``rt`` is the decision time plus ``t``.

One accumulator. With start ``x0`` the distance to travel is ``d = b - x0`` and the
first-passage time is Wald (inverse Gaussian) with density and survivor::

    w(tau | d) = d (2 pi tau**3)**-0.5 exp(-(d - v tau)**2 / (2 tau))
    S(tau | d) = Phi(y) - exp(2 v d) Phi(-z),   y = (d - v tau)/sqrt(tau), z = (d + v tau)/sqrt(tau)

and ``d`` is uniform on ``[b - A, b]``. Where ``A > b`` a start above the threshold
(probability ``(A - b)/A``) finishes at once: the accumulator has an atom at ``tau = 0``
(see "The atom" below), and the continuous part comes from ``d`` in ``[lo, hi] = [max(b - A,
0), b]``, of length ``L = min(A, b)``. Averaging over the start (Logan, Van Zandt,
Verbruggen & Wagenmakers, 2014, Psychol. Rev. 121, 66-95, their Wald with start-point
variability), with ``alpha = (lo - v tau)/sqrt(tau)``, ``beta = (hi - v tau)/sqrt(tau)``:

    A f(tau) = int_lo^hi w dd = v (Phi(beta) - Phi(alpha)) + (phi(alpha) - phi(beta)) / sqrt(tau)

(substitute ``y`` for ``d``: ``w dd = (v + y/sqrt(tau)) phi(y) dy``), and, writing
``R(x) = Phi(-x)/phi(x)`` (Mills' ratio), ``Q(x) = 1 - x R(x)`` and ``h = 2 v sqrt(tau)``,

    A S(tau) = int_lo^hi S(tau | d) dd = L - sqrt(tau) [phi(alpha) M(alpha) - phi(beta) M(beta)],
    M(x) = Q(x) - D(x),   D(x) = (R(x + h) - R(x)) / h.

That is Logan et al.'s cdf rearranged: ``exp(2 v d) Phi(-z) = phi(y) R(z)``, whose
antiderivative in ``y`` is ``phi(y) D(y)``, so their ``1/(2v)`` terms, 0/0 at ``v = 0`` (an
edge of the box), become the divided difference ``D`` of ``R``, which tends to ``R'(x) =
-Q(x)`` and is computed without cancellation for small ``h``; and ``Phi(-y)`` integrates to
``phi(y) Q(y)``.

Where each form is used, and why. The two closed forms are differences, and they cancel in
two places, where quadrature over the start point (Gauss-Legendre in ``d`` on ``[lo, hi]``,
``N_START`` nodes, in log space: every term positive) is used instead:

* a short interval, ``delta (1 + max(|alpha|, |beta|)) < C_SHORT`` with ``delta = L /
  sqrt(tau)``: the two ends nearly agree, down to 0/0 at ``A = 0`` (no start-point
  variability: the Wald itself, the node sum then being exact). The integrand is then flat on
  the interval, its log changing by less than about ``C_SHORT``;
* late decision times, ``beta < 0`` (``v tau > b``): the Gaussian's peak lies past the far
  end, both ends sit in its lower tail and the density's two terms cancel to a part in
  ``v tau / b`` (100 at ``tau = 20`` s, ``v = 2.5``, ``b = 0.5``), the survivor's far worse.
  There the integrand is ``d`` times a Gaussian tail rising towards ``hi``, its log with
  slope at most ``v`` and curvature ``1/tau < v/b`` in ``d``, so on ``L <= 1`` it is easy
  for 12 nodes.

Elsewhere (``beta >= 0`` and a long interval) the closed forms are used: ``alpha >= -3``
there (inside the box ``alpha >= -L sqrt(v/b) >= -2.3``; beyond ``-3``, reachable only
outside it, quadrature takes over), so the Mills ratios are moderate, the density's terms are
positive or bounded, the survivor is not small (the farthest start has not finished) and
``log S = log(L/A) + log1p(-J/L)`` is accurate. In the quadrature the fixed-start survivor
is ``log S = log Phi(y) + log(1 - exp(u))``, ``u = 2 v d + log Phi(-z) - log Phi(y)``, the
normal tails in log space. Checked against scipy quadrature over the start of the fixed-start
density and of the survivor (itself a quadrature of the density, so that no tail cancels):
float64 log densities and survivors agree to about 1e-13 across the box for ``tau`` in
[1e-3, 20] s (`tests/test_rdm_exact.py` asks for 1e-10); float32 to about 3e-6 relative.

The race. Accumulator ``k`` finishing first at decision time ``tau`` (defective density):

    g_k(tau) = f_k(tau) prod_{j != k} S_j(tau)

in log space, ``log f_k + sum_j log S_j - log S_k``. ``S_j`` includes starting above the
threshold among "finished", so ``g_k`` is the density of ``k`` finishing at ``tau > 0``
before every other accumulator has finished, atom included.

The atom. Where ``A > b`` (a corner of ssm-simulators' box: ``A`` up to 1, ``b`` down to
0.5) each accumulator starts at or above the threshold with probability ``q = (A - b)/A``,
and the trial ends at ``tau = 0`` with probability ``1 - (1 - q)**K`` (up to 7/8 for ``K =
3``): a point mass, which no density can hold. ``logpdf`` is the density of the continuous
part and ``log_choice_probability`` the probability of the continuous part, so the two agree
and sum with the atom and the undecided trials to 1. (ssm-simulators gives those trials an
rt within half a time step of ``t`` and the lowest-numbered accumulator that is above ``b``
after one step: an artefact of its loop order, not of the model.) Tillman et al. and Logan
et al. require ``b >= A``, which avoids the atom.

The choice probability has no closed form: ``P_k = int_0^H g_k(tau) dtau``, integrated
numerically, with ``H = HORIZON = 20`` s of decision time: ssmhub's simulator adapter runs
ssm-simulators with ``max_t = 20`` and marks trials whose decision time reaches it as
omitted, so ``P_k`` is the probability that choice ``k`` is made and recorded. (The decided
total, ``prod_j min(1, b/A) - prod_j S_j(H)``, is closed; with ``v = 0`` everywhere and
``b = 3`` some 12% of trials are undecided at 20 s, so ``H`` matters.) In ``x = sqrt(tau)``
the integrand ``2 x g_k(x**2)`` is smooth and bounded: finite at ``x = 0`` even where ``b <=
A`` (``g ~ tau**-1/2``), and a bump of width at least about ``1/(2 max v)`` in ``x``. The
quadrature is composite Gauss-Legendre on a fixed mesh (`_time_mesh`): panels growing
geometrically from ``x = 1e-7`` to ``0.25`` (the rise of the density near ``x ~ b - A`` when
that is small), then panels of width at most 0.25 up to ``sqrt(H)``, ``N_PANEL`` nodes each.
The result is rescaled so that the choices add up to the closed-form decided total (a
common-mode correction). Measured against a reference mesh of 4000 nodes at 300 parameter
sets chosen for their difficulty (the box's edges, ``A = 0`` with the largest drifts, ``b``
just above ``A``) and against scipy's adaptive quadrature of `logpdf`: absolute error 2e-8
at worst (float64). It costs ``K`` accumulators at 233 times per distinct parameter row
(about 2 ms on a CPU core; a single row shared by all trials is computed once).

Everything is in log space; invalid input (``rt <= t``, ``A < 0``, ``b <= 0``, a negative
drift, a response that is not one of ``0 .. K-1``) gives ``-inf`` by the double-``where``
pattern of `ssmhub_ddm.exact`, so gradients stay finite; NaN gives NaN. Within the box the
values and gradients are finite in float32 and float64 (checked at its corners, ``rt - t``
from 1e-3 to 20 s).
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import log_ndtr, ndtr

from ssmhub.likelihood import Array

__all__ = [
    "CHUNK",
    "C_SHORT",
    "HORIZON",
    "N_PANEL",
    "N_START",
    "accumulator",
    "log_choice_probabilities",
    "log_choice_probability",
    "logpdf",
]

HORIZON = 20.0
"""Decision time (s) at which ssmhub's simulator adapter stops: ssm-simulators' ``max_t``."""
N_START = 12
"""Gauss-Legendre nodes over the start point, where quadrature replaces the closed forms."""
C_SHORT = 2.0
"""``delta (1 + max(|alpha|, |beta|))`` below which the start interval counts as short."""
N_PANEL = 8
"""Gauss-Legendre nodes per panel of the time integral of the choice probability."""
CHUNK = 64
"""Parameter rows of the choice probability computed at a time (bounded memory)."""

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_SQRT_2PI = math.sqrt(2.0 * math.pi)
_ALPHA_MIN = -3.0  # the closed forms need Mills ratios of alpha >= this
_H_SMALL = 0.5  # divided differences of R: Taylor series below this step, the difference above
_M_TERMS = 20
_TINY = 1e-30
_Q_CF_FROM = 5.0  # R and Q by continued fraction from here up
_Q_CF_TERMS = 28

_GL_START = np.polynomial.legendre.leggauss(N_START)


def _float_dtype(*arrays: Array) -> jnp.dtype:
    dtype = jnp.result_type(*arrays)
    return dtype if jnp.issubdtype(dtype, jnp.floating) else jnp.result_type(float)


def _log_phi(x: Array) -> Array:
    return -0.5 * x * x - _LOG_SQRT_2PI


def _mills_rq(x: Array) -> tuple[Array, Array]:
    """``R(x) = Phi(-x)/phi(x)`` and ``Q(x) = 1 - x R(x) = -R'(x) > 0``, for ``x >= -3`` or
    so (``R`` grows like ``exp(x**2/2)`` below).

    Below ``x = 5``, ``R = sqrt(2 pi) exp(x**2/2) Phi(-x)`` (``Phi(-x)`` is accurate to rounding
    relative to itself there) and ``Q = 1 - x R``, which loses at most a factor 27 to
    cancellation. From 5 on, where it would lose ``x**2``, Laplace's continued fraction ``R =
    1/(x + T)``, ``T = 1/(x + 2/(x + 3/(x + ...)))`` gives both, ``Q = T R``, every step
    positive; 28 terms are exact to rounding there. (``jax.scipy.special.erfcx`` would do for
    ``R``, but it is a long piecewise function and compiles slowly.)
    """
    cf = x >= _Q_CF_FROM
    xn = jnp.where(cf, 0.0, x)
    r_n = _SQRT_2PI * jnp.exp(0.5 * xn * xn) * ndtr(-xn)
    xc = jnp.where(cf, x, _Q_CF_FROM)
    # Backward recurrence, k = _Q_CF_TERMS .. 2 (a loop: a smaller graph, faster to compile).
    tail = jax.lax.fori_loop(
        0, _Q_CF_TERMS - 1, lambda i, u: (_Q_CF_TERMS - i) / (xc + u), jnp.zeros_like(xc)
    )
    t = 1.0 / (xc + tail)
    r_c = 1.0 / (xc + t)
    return jnp.where(cf, r_c, r_n), jnp.where(cf, t * r_c, 1.0 - xn * r_n)


def _mills_terms(x: Array, h: Array) -> tuple[Array, Array, Array]:
    """``R(x)``, ``Q(x)`` and ``m = (R(x) - R(x + h)) / h``, the mean of ``Q`` on ``[x, x +
    h]`` (``R' = -Q``), for ``h >= 0``: positive, and ``Q(x)`` at ``h = 0``.

    For ``h < 1/2`` the difference would cancel (0/0 at ``h = 0``, i.e. ``v = 0``), so ``m``
    is summed from its Taylor series, ``m = sum_n c_n / (n + 1)`` with ``c_n = h**n Q^(n)(x) /
    n!``; from ``Q' = x Q - R`` the derivatives obey ``Q^(n+1) = (n + 1) Q^(n-1) + x Q^(n)``,
    so ``c_(n+1) = h**2 c_(n-1) / n + h x c_n / (n + 1)``, which stays finite however large
    ``x`` is (at ``h = 0`` every ``c_n``, ``n >= 1``, is 0). 20 terms give 1e-13 for ``x >=
    -3``. (The recurrence is unstable for large ``x``, by a factor up to ``(x h)**n / n!``,
    but ``x h = 2 v (d - v tau) <= 15`` in the box and where ``x`` is large ``phi(x) m`` is
    negligible.) Larger steps take the difference itself.
    """
    small = h < _H_SMALL
    hs = jnp.where(small, h, 0.0)
    hl = jnp.where(small, 1.0, h)
    r, q = _mills_rq(jnp.stack([x, x + hl]))

    def step(n: Array, carry: tuple[Array, Array, Array]) -> tuple[Array, Array, Array]:
        # Adds c_n / (n + 1), then c_(n+1) from c_n and c_(n-1).
        total, prev, cur = carry
        total = total + cur / (n + 1)
        return total, cur, hs * hs * prev / n + hs * x * cur / (n + 1)

    init = (q[0], q[0], hs * (x * q[0] - r[0]))
    total = jax.lax.fori_loop(1, _M_TERMS + 1, step, init)[0]
    m = jnp.where(small, total, (r[0] - r[1]) / hl)
    return r[0], q[0], m


def _log_wald_density(tau: Array, v: Array, d: Array) -> Array:
    return jnp.log(d) - _LOG_SQRT_2PI - 1.5 * jnp.log(tau) - (d - v * tau) ** 2 / (2.0 * tau)


def _log_wald_survivor(tau: Array, v: Array, d: Array) -> Array:
    """log S(tau | d) of the Wald with fixed start, ``d > 0``, ``v >= 0``.

    ``S = Phi(y) (1 - exp(u))``, ``u = 2 v d + log Phi(-z) - log Phi(y) < 0``, with the
    tails of ``Phi`` in log space (no underflow at late times, where ``S`` is tiny). ``1 -
    exp(u)`` loses precision only where ``u -> 0``, i.e. ``d << sqrt(tau)``, where ``S`` is
    proportional to ``d`` and those starts weigh little in the average over ``d``.
    """
    sq = jnp.sqrt(tau)
    y = (d - v * tau) / sq
    z = (d + v * tau) / sq
    log_phi_y, log_phi_mz = log_ndtr(jnp.stack([y, -z]))  # one call site: faster to compile
    u = jnp.minimum(2.0 * v * d + log_phi_mz - log_phi_y, -_TINY)
    return log_phi_y + _log1mexp(u)


def _log1mexp(u: Array) -> Array:
    """``log(1 - exp(u))`` for ``u < 0`` (Maechler's two branches)."""
    near = u > -math.log(2.0)
    return jnp.where(
        near,
        jnp.log(-jnp.expm1(jnp.where(near, u, -1.0))),
        jnp.log1p(-jnp.exp(jnp.where(near, -1.0, u))),
    )


def accumulator(tau: Array, v: Array, a: Array, b: Array) -> tuple[Array, Array]:
    """``(log f(tau), log S(tau))`` of one accumulator, for valid input (``tau > 0``,
    ``v >= 0``, ``a >= 0``, ``b > 0``), broadcast together.

    ``f`` is the density of finishing at ``tau`` and ``S`` the probability of not having
    finished by ``tau`` (a start above the threshold counts as finished at 0).
    """
    tau, v, a, b = jnp.broadcast_arrays(tau, v, a, b)
    over = a > b  # some starts lie above the threshold: the atom
    lo = jnp.where(over, 0.0, b - a)
    span = jnp.where(over, b, a)  # L = min(A, b)
    a_safe = jnp.where(a > 0, a, 1.0)
    log_frac = jnp.where(over, jnp.log(b) - jnp.log(a_safe), 0.0)  # log(L / A)
    sq = jnp.sqrt(tau)
    alpha = (lo - v * tau) / sq
    beta = (b - v * tau) / sq
    delta = span / sq
    short = delta * (1.0 + jnp.maximum(jnp.abs(alpha), jnp.abs(beta))) < C_SHORT
    quad = short | (beta < 0.0) | (alpha < _ALPHA_MIN)

    # Quadrature over the distance d in [lo, hi], in log space.
    nodes, weights = (jnp.asarray(c, tau.dtype) for c in _GL_START)
    shape = (-1,) + (1,) * tau.ndim
    d = lo + span * 0.5 * (nodes.reshape(shape) + 1.0)
    log_w = jnp.log(0.5 * weights).reshape(shape)

    # Closed forms at a stand-in (a long interval, early time) where quadrature is used.
    c_tau = jnp.where(quad, 0.01, tau)
    c_v = jnp.where(quad, 1.0, v)
    c_lo = jnp.where(quad, 0.5, lo)
    c_span = jnp.where(quad, 0.5, span)
    c_a = jnp.where(quad, 0.5, a_safe)
    c_sq = jnp.sqrt(c_tau)
    c_alpha = (c_lo - c_v * c_tau) / c_sq
    c_beta = (c_lo + c_span - c_v * c_tau) / c_sq
    c_h = 2.0 * c_v * c_sq
    # The Mills ratios of alpha and beta at once (one call site: faster to compile).
    r, q, m = _mills_terms(jnp.stack([c_alpha, c_beta]), jnp.stack([c_h, c_h]))

    log_f_q = jax.nn.logsumexp(log_w + _log_wald_density(tau, v, d), axis=0) + log_frac
    log_s_q = jax.nn.logsumexp(log_w + _log_wald_survivor(tau, v, d), axis=0) + log_frac

    # Density: A f = v (Phi(beta) - Phi(alpha)) + (phi(alpha) - phi(beta)) / sqrt(tau), over
    # phi(y*), y* = max(alpha, 0) the largest phi on [alpha, beta].
    r_a, r_b = r[0], r[1]
    pos = c_alpha >= 0.0
    ystar = jnp.where(pos, c_alpha, 0.0)
    # Differences of squares as products: exact 0 at alpha = y* (no fused-multiply-add residue).
    ea = jnp.exp(-0.5 * (c_alpha - ystar) * (c_alpha + ystar))
    eb = jnp.exp(-0.5 * (c_beta - ystar) * (c_beta + ystar))
    # Phi(beta) - Phi(alpha) from the upper tails, phi(alpha) R(alpha) - phi(beta) R(beta):
    # no cancellation, as alpha >= 0 keeps the tails apart and alpha < 0 < beta puts them on
    # either side of 1/2.
    dphi = ea * r_a - eb * r_b
    log_f_c = _log_phi(ystar) + jnp.log(c_v * dphi + (ea - eb) / c_sq) - jnp.log(c_a)
    # Survivor: int_lo^hi F(tau | d) dd = sqrt(tau) [phi(alpha) M(alpha) - phi(beta) M(beta)],
    # M = Q + m.
    m_a = q[0] + m[0]
    m_b = q[1] + m[1]
    j = c_sq * (jnp.exp(_log_phi(c_alpha)) * m_a - jnp.exp(_log_phi(c_beta)) * m_b)
    log_s_c = jnp.where(quad, 0.0, log_frac) + jnp.log1p(-j / c_span)

    return jnp.where(quad, log_f_q, log_f_c), jnp.where(quad, log_s_q, log_s_c)


def _split(params: Array, dtype: jnp.dtype) -> tuple[Array, Array, Array, Array, Array]:
    """``(v, a, b, t, ok)``: drifts (..., K), the shared A, b, t (...), valid parameters."""
    params = params.astype(dtype)
    v, a, b, t = params[..., :-3], params[..., -3], params[..., -2], params[..., -1]
    ok = jnp.all(v >= 0.0, axis=-1) & (a >= 0.0) & (b > 0.0)
    return v, a, b, t, ok


def _nan_in(*arrays: Array) -> Array:
    return functools.reduce(jnp.logical_or, [jnp.isnan(x) for x in arrays])


def logpdf(params: Array, rt: Array, response: Array) -> Array:
    """Log density of ``(rt, response)`` under the racing diffusion model, one per trial.

    ``params`` is (N, K + 3) in the order ``v0 .. v{K-1}, A, b, t`` (any leading shape: the
    last axis holds the parameters; ``K`` is read from its length); ``rt`` and ``response``
    are (N,), the response the index ``0 .. K-1`` of the accumulator that finished first.
    Returns (N,) in the floating dtype of the inputs: ``log f_k(tau) + sum_{j != k} log
    S_j(tau)``, ``tau = rt - t``, the density of the continuous part (see the module's "The
    atom").

    ``rt <= t`` has density 0 and gives exactly ``-inf``, as do parameters outside the model
    (a negative drift or ``A``, ``b <= 0``) and a response outside ``0 .. K-1``; NaN input
    gives NaN. Those trials are evaluated at a stand-in point and masked (double ``where``),
    so ``jax.grad`` is finite wherever the value is and 0 where it is ``-inf``.
    """
    params, rt, response = jnp.asarray(params), jnp.asarray(rt), jnp.asarray(response)
    dtype = _float_dtype(params, rt)
    v, a, b, t, ok = _split(params, dtype)
    k = v.shape[-1]
    rt = rt.astype(dtype)
    tau = rt - t
    ok = ok & (tau > 0) & (response >= 0) & (response < k) & (response == jnp.round(response))
    nan = _nan_in(tau, a, b, *jnp.moveaxis(v, -1, 0))
    outside = jnp.where(nan, jnp.nan, -jnp.inf).astype(dtype)
    tau = jnp.where(ok, tau, 1.0)
    a = jnp.where(ok, a, 0.5)
    b = jnp.where(ok, b, 1.0)
    v = jnp.where(ok[..., None], v, 1.0)
    tau, a, b = jnp.broadcast_arrays(tau, a, b)
    v = jnp.broadcast_to(v, (*tau.shape, k))
    chosen = jnp.arange(k) == jnp.where(ok, response, 0)[..., None]
    # log S of every accumulator, log f of the chosen one (read off its column).
    log_f, log_s = accumulator(tau[..., None], v, a[..., None], b[..., None])
    logp = jnp.sum(jnp.where(chosen, log_f, log_s), axis=-1)
    return jnp.where(ok, logp, outside)


def _time_mesh(horizon: float) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights in ``x = sqrt(tau)`` on ``[0, sqrt(horizon)]`` (float64 numpy).

    Panels: ``[0, 1e-7]``, then geometric (ratio about 4) up to ``0.25`` where the density can
    rise sharply at small decision times (``x ~ b - A`` when that is small), then equal
    panels of width at most 0.25 (the narrowest bump of the integrand, for ``A = 0`` and the
    largest drift, has width about ``1/(2 v) = 0.2`` in ``x``); ``N_PANEL`` Gauss-Legendre
    nodes in each.
    """
    top = math.sqrt(horizon)
    fine = min(0.25, top)
    n_geo = 11
    geo = np.geomspace(1e-7, fine, n_geo + 1)
    n_uni = max(1, math.ceil((top - fine) / 0.25 - 1e-9)) if top > fine else 0
    uni = np.linspace(fine, top, n_uni + 1)[1:] if n_uni else np.empty(0)
    edges = np.concatenate([[0.0], geo, uni])
    x, w = np.polynomial.legendre.leggauss(N_PANEL)
    lo, hi = edges[:-1, None], edges[1:, None]
    nodes = lo + (hi - lo) * 0.5 * (x + 1.0)
    weights = (hi - lo) * 0.5 * w
    return nodes.ravel(), weights.ravel()


def log_choice_probabilities(params: Array, horizon: float = HORIZON) -> Array:
    """``log P(choice k decided by horizon)`` for every ``k``: (..., K) from (..., K + 3).

    ``P_k = int_0^horizon g_k(tau) dtau`` by composite Gauss-Legendre in ``x = sqrt(tau)``
    (`_time_mesh`), rescaled so that the ``K`` of them add up to the closed-form probability
    of a decision in ``(0, horizon]``. ``t`` is unused; ``horizon`` is a Python float (it
    shapes the mesh). Parameters outside the model give ``-inf``, NaN gives NaN.

    Each parameter row takes ``K`` accumulators at 233 times, and reverse-mode
    differentiation would keep all of that for every row (some 2 MB a row), so more than
    `CHUNK` rows are done `CHUNK` at a time, each chunk recomputed in the backward pass
    (`jax.checkpoint`): memory stays bounded whatever the number of rows.
    """
    params = jnp.asarray(params)
    dtype = _float_dtype(params)
    params = params.astype(dtype)
    lead, width = params.shape[:-1], params.shape[-1]
    rows = math.prod(lead)
    if rows <= CHUNK:
        return _log_choice_probabilities(params, horizon)
    flat = params.reshape(rows, width)
    n_chunks = -(-rows // CHUNK)
    # Padding rows repeat the first one (valid or not, they are dropped afterwards).
    padded = jnp.concatenate([flat, jnp.broadcast_to(flat[:1], (n_chunks * CHUNK - rows, width))])
    chunk = jax.checkpoint(functools.partial(_log_choice_probabilities, horizon=horizon))
    out = jax.lax.map(chunk, padded.reshape(n_chunks, CHUNK, width))
    return out.reshape(n_chunks * CHUNK, width - 3)[:rows].reshape(*lead, width - 3)


def _log_choice_probabilities(params: Array, horizon: float) -> Array:
    dtype = params.dtype
    v, a, b, _, ok = _split(params, dtype)
    nan = _nan_in(a, b, *jnp.moveaxis(v, -1, 0))
    outside = jnp.where(nan, jnp.nan, -jnp.inf).astype(dtype)
    a = jnp.where(ok, a, 0.5)
    b = jnp.where(ok, b, 1.0)
    v = jnp.where(ok[..., None], v, 1.0)
    nodes, weights = _time_mesh(horizon)
    # Shapes (..., nodes + 1, K): every accumulator at every node, and at the horizon last.
    tau = jnp.asarray(np.append(nodes * nodes, horizon), dtype)[:, None]
    log_f, log_s = accumulator(tau, v[..., None, :], a[..., None, None], b[..., None, None])
    log_s_end = log_s[..., -1, :]
    log_f, log_s = log_f[..., :-1, :], log_s[..., :-1, :]
    log_g = log_f + jnp.sum(log_s, axis=-1, keepdims=True) - log_s
    log_w = jnp.asarray(np.log(2.0 * nodes * weights), dtype)[:, None]
    log_i = jax.nn.logsumexp(log_g + log_w, axis=-2)
    # Decided in (0, horizon]: prod_j S_j(0+) - prod_j S_j(horizon), S_j(0+) = min(1, b/A).
    a_safe = jnp.where(a > b, a, 1.0)
    log_start = v.shape[-1] * jnp.where(a > b, jnp.log(b) - jnp.log(a_safe), 0.0)
    log_end = jnp.sum(log_s_end, axis=-1)
    log_decided = log_start + jnp.log(-jnp.expm1(log_end - log_start))
    log_p = log_i - jax.nn.logsumexp(log_i, axis=-1, keepdims=True) + log_decided[..., None]
    return jnp.where(ok[..., None], log_p, outside[..., None])


def log_choice_probability(params: Array, response: Array, horizon: float = HORIZON) -> Array:
    """Log probability of ``response`` being decided within ``horizon`` (see
    `log_choice_probabilities`), one per trial; a response outside ``0 .. K-1`` gives
    ``-inf``. ``params`` (N, K + 3) or (1, K + 3), ``response`` (N,): returns (N,).
    """
    params, response = jnp.asarray(params), jnp.asarray(response)
    log_p = log_choice_probabilities(params, horizon)
    k = log_p.shape[-1]
    valid = (response >= 0) & (response < k) & (response == jnp.round(response))
    chosen = jnp.arange(k) == jnp.where(valid, response, 0)[..., None]
    picked = jnp.sum(jnp.where(chosen, log_p, 0.0), axis=-1)
    return jnp.where(valid, picked, -jnp.inf)
