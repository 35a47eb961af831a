"""The exact likelihood of the drift diffusion model, in JAX.

The ddm is the one model here whose likelihood is known in closed form, so it labels the
training data of the neural approximations exactly and checks them afterwards. Conventions
are those of ssm-simulators' ``ddm``, which the plugin wraps: parameters ``v, a, z, t``;
unit diffusion coefficient; ``a`` is *half* the boundary separation, so the separation is
``A = 2a``; the process starts ``z * A`` above the lower bound; response ``1`` is the upper
bound and ``-1`` the lower one; ``rt`` is the decision time plus ``t``.

The first-passage density at the lower bound of a Wiener process with drift ``v``,
separation ``A`` and relative start ``w`` is (Navarro & Fuss, 2009, J. Math. Psychol. 53,
222-230)::

    f(tau | v, A, w) = A**-2 * exp(-v*A*w - v**2 * tau / 2) * f_std(tau / A**2 | w)

where the standard density (no drift, unit separation) has two series, equal in the limit:

    small time:  f_std(u | w) = (2 pi u**3)**-0.5 * sum_{k=-inf..inf} (w+2k) exp(-(w+2k)**2 / (2u))
    large time:  f_std(u | w) = pi * sum_{k=1..inf} k exp(-k**2 pi**2 u / 2) sin(k pi w)

The upper-bound density is the lower-bound one with ``v -> -v`` and ``w -> 1 - w``.

Series length. Navarro & Fuss bound the truncation error of both series and use whichever
needs fewer terms; Gondan, Blurton & Kesselmeier (2014, J. Math. Psychol. 60, 20-22) sharpen
the small-time bound (it depends on ``w``), which makes the small-time series the cheaper
one over more of the range, up to larger normalised times than Navarro & Fuss's bound. Under
``jax.jit`` a per-trial number of terms would mean data-dependent shapes, so both series are
computed with a fixed number of terms and the choice between them becomes a threshold on the
normalised time ``u = tau / A**2``: small time below ``U_SWITCH = 0.5``, large time above.
With ``K_SMALL = 4`` (k = -4..4) and ``K_LARGE = 7`` (k = 1..7), at the switch the first
omitted term, relative to the leading one, is at most ``(2K+2)/w * exp(-2K(K+1)/u) < 1e-33/w``
on the small-time side and ``(K+1)/sin(pi w) * exp(-((K+1)**2 - 1) pi**2 u / 2) < 1e-60 /
sin(pi w)`` on the large-time side, and the tails shrink fast away from it. The density can be
smaller than its leading term (terms of opposite sign cancel, most for ``w`` near 1), so the
margin is generous on purpose: checked against 60- and 200-term sums in extended precision,
the float64 log density is exact to rounding (about 1e-13 absolute) for every ``w`` in
[0.01, 0.99] and ``u`` in [1e-3, 100]. Either series would still do some way past the switch
(small time up to u ~ 1, large time down to u ~ 0.2), so the threshold sits where both have
a margin and neither loses much to cancellation.

Everything is in log space: the exponent of the leading term of each series is factored out,
so every remaining term is at most of order one and their sum is neither 0 nor huge; later
terms may underflow to 0, which is harmless. So the log density stays finite in float32 for
decision times far outside any real data (1e-4 s with a = 2.5, 10 s with a = 0.3).
"""

from __future__ import annotations

import math

import jax.numpy as jnp

from ssmhub.likelihood import Array

__all__ = ["K_LARGE", "K_SMALL", "U_SWITCH", "log_choice_probability", "log_fstd", "logpdf"]

K_SMALL = 4
"""Small-time series: terms k = -K_SMALL..K_SMALL."""
K_LARGE = 7
"""Large-time series: terms k = 1..K_LARGE."""
U_SWITCH = 0.5
"""Normalised time ``tau / A**2`` below which the small-time series is used."""

_LOG_2PI = math.log(2.0 * math.pi)
_LOG_PI = math.log(math.pi)
_PI2_HALF = math.pi**2 / 2.0


def _float_dtype(*arrays: Array) -> jnp.dtype:
    dtype = jnp.result_type(*arrays)
    return dtype if jnp.issubdtype(dtype, jnp.floating) else jnp.result_type(float)


def _log_fstd_small(u: Array, w: Array) -> Array:
    """log f_std(u | w) from the small-time series, ``k = 0`` factored out."""
    k = jnp.arange(-K_SMALL, K_SMALL + 1, dtype=u.dtype).reshape((-1,) + (1,) * u.ndim)
    # One reciprocal: if a term underflows, its cotangent is 0 before it meets 1/u**2.
    inv_u = 1.0 / u
    # (w + 2k)**2 - w**2 = 4k(k + w) >= 0 for w in [0, 1]: every exponent is <= 0.
    s = jnp.sum((w + 2.0 * k) * jnp.exp(-2.0 * k * (k + w) * inv_u), axis=0)
    return -0.5 * _LOG_2PI - 1.5 * jnp.log(u) - 0.5 * w * w * inv_u + jnp.log(s)


def _log_fstd_large(u: Array, w: Array) -> Array:
    """log f_std(u | w) from the large-time series, ``k = 1`` factored out."""
    k = jnp.arange(1, K_LARGE + 1, dtype=u.dtype).reshape((-1,) + (1,) * u.ndim)
    s = jnp.sum(k * jnp.exp(-(k * k - 1.0) * _PI2_HALF * u) * jnp.sin(k * jnp.pi * w), axis=0)
    return _LOG_PI - _PI2_HALF * u + jnp.log(s)


def log_fstd(u: Array, w: Array) -> Array:
    """log f_std(u | w) from the series suited to ``u``.

    Each series sees only the ``u`` it is used for (the other gets a harmless stand-in), so
    the one not chosen can neither produce a NaN nor pass one into the gradient.
    """
    small = u < U_SWITCH
    u_small = jnp.where(small, u, 0.5 * U_SWITCH)
    u_large = jnp.where(small, U_SWITCH, u)
    return jnp.where(small, _log_fstd_small(u_small, w), _log_fstd_large(u_large, w))


def logpdf(params: Array, rt: Array, response: Array) -> Array:
    """Log density of ``(rt, response)`` under the ddm, one value per trial.

    ``params`` is (N, 4) in the order ``v, a, z, t`` (any leading shape works: the last axis
    holds the parameters); ``rt`` and ``response`` are (N,). A response above 0 is the upper
    bound, any other the lower one. Returns (N,) in the floating dtype of the inputs.

    ``rt <= t`` has density 0 and gives exactly ``-inf``, not a floor, as do parameters
    outside the model (``a <= 0``, ``z`` outside (0, 1)); NaN inputs give NaN. Those trials
    are evaluated at a
    stand-in point and masked afterwards (the double-``where`` pattern), so ``jax.grad`` is
    finite wherever the value is finite and 0, not NaN, where it is ``-inf``.
    """
    params, rt, response = jnp.asarray(params), jnp.asarray(rt), jnp.asarray(response)
    dtype = _float_dtype(params, rt)
    params, rt = params.astype(dtype), rt.astype(dtype)
    v, a, z, t = (params[..., i] for i in range(4))

    upper = response > 0
    drift = jnp.where(upper, -v, v)  # mirror the upper bound onto the lower one
    w = jnp.where(upper, 1.0 - z, z)
    sep = 2.0 * a
    tau = rt - t

    ok = (tau > 0) & (a > 0) & (z > 0) & (z < 1)
    # NaN in, NaN out: a NaN rt or parameter must not pass for a trial of density 0.
    outside = jnp.where(jnp.isnan(tau) | jnp.isnan(a) | jnp.isnan(z), jnp.nan, -jnp.inf)
    tau = jnp.where(ok, tau, 1.0)
    sep = jnp.where(ok, sep, 1.0)
    w = jnp.where(ok, w, 0.5)

    u = tau / (sep * sep)
    logp = -2.0 * jnp.log(sep) - drift * sep * w - 0.5 * drift * drift * tau + log_fstd(u, w)
    return jnp.where(ok, logp, outside.astype(dtype))


_H_SERIES_BELOW = 0.05


def _log_sinhc(q: Array) -> Array:
    """``H(q) = log(sinh(q/2) / (q/2))``: even, smooth, ``H(0) = 0``, absolute error ~ eps.

    ``H(q) = y + log((1 - exp(-2y)) / (2y))`` with ``y = |q|/2`` (``expm1`` keeps the ratio
    accurate for small ``y`` and it cannot overflow for large ``y``); below ``y = 0.05`` its
    Taylor series ``y**2/6 - y**4/180 + y**6/2835`` (next term ~1e-15) takes over so that
    ``q = 0`` (``v = 0``) gives a value and a gradient, not 0/0.
    """
    y = 0.5 * jnp.abs(q)
    small = y < _H_SERIES_BELOW
    ys = jnp.where(small, y, 0.0)
    yl = jnp.where(small, 1.0, y)
    y2 = ys * ys
    series = y2 * (1.0 / 6.0 + y2 * (-1.0 / 180.0 + y2 / 2835.0))
    exact = yl + jnp.log(-jnp.expm1(-2.0 * yl) / (2.0 * yl))
    return jnp.where(small, series, exact)


def log_choice_probability(params: Array, response: Array) -> Array:
    """Log probability of ``response`` under the ddm, whatever the rt (``t`` is unused).

    With ``x = 2 v A`` (``A = 2a``) and ``w = z``, the lower-bound probability

        P(lower) = (exp(-x w) - exp(-x)) / (1 - exp(-x))

    is 0/0 at ``v = 0`` and its numerator and denominator overflow for large ``-x``; in log
    space it rearranges to

        log P(lower) = log(1 - w) - x w / 2 + H(x (1 - w)) - H(x),  H(q) = log(sinh(q/2)/(q/2)),

    which is finite and smooth for every ``x`` including 0 (where it is ``log(1 - w)``), and
    the upper bound is the same with ``v -> -v``, ``w -> 1 - w``:

        log P(upper) = log(w) + x (1 - w) / 2 + H(x w) - H(x).

    The two add up to 1 exactly in exact arithmetic. A response above 0 is the upper bound.
    """
    params, response = jnp.asarray(params), jnp.asarray(response)
    params = params.astype(_float_dtype(params))
    v, a, z = (params[..., i] for i in range(3))
    upper = response > 0
    x = 4.0 * v * a  # 2 v A with A = 2a
    w = jnp.where(upper, 1.0 - z, z)  # relative distance from the start to the chosen bound
    sign = jnp.where(upper, -1.0, 1.0)  # mirror: the upper bound is the lower one with -v
    return jnp.log1p(-w) - sign * x * w / 2 + _log_sinhc(x * (1.0 - w)) - _log_sinhc(x)
