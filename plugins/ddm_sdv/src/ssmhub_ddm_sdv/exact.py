"""The exact likelihood of the drift diffusion model with normally distributed drift, in JAX.

Conventions are those of ssm-simulators' ``ddm_sdv`` (``cssm.full_ddm_rv`` with the start
and non-decision time fixed), which the plugin wraps, and of its ``ddm``: parameters ``v, a,
z, t, sv``; unit diffusion coefficient; bounds at ``-a`` and ``+a``, so the separation is
``A = 2a``; start ``z * A`` above the lower bound; on each trial the drift is drawn once
from ``N(v, sv**2)`` (ssm-simulators adds ``scipy.stats.norm(0, sv)`` draws to ``v``);
response ``1`` is the upper bound, ``-1`` the lower one; ``rt`` is the decision time plus
``t``.

Density. For a fixed drift ``u`` the ddm's lower-bound density is (Navarro & Fuss, 2009;
see `ssmhub_ddm.exact`)::

    f(tau | u) = A**-2 exp(-u A w - u**2 tau / 2) f_std(tau / A**2 | w)

and only the exponential depends on ``u``. Averaging it over ``u ~ N(v, sv**2)`` is a
Gaussian integral: the exponent ``-(u - v)**2 / (2 sv**2) - u A w - u**2 tau / 2`` is
quadratic in ``u`` with curvature ``(1 + sv**2 tau) / sv**2``; completing the square,

    E[exp(-u A w - u**2 tau / 2)]
        = exp((sv**2 A**2 w**2 - 2 v A w - v**2 tau) / (2 (1 + sv**2 tau))) / sqrt(1 + sv**2 tau)

(the standard result for drift variability, e.g. Blurton, Kesselmeier & Gondan, 2017, J.
Math. Psychol. 76, 7-12), which is ``exp(-v A w - v**2 tau / 2)`` at ``sv = 0``, the ddm. The
upper bound is mirrored as in the ddm, ``v -> -v`` and ``w -> 1 - w`` (the drift
distribution mirrors with it, its spread unchanged). The series ``f_std`` is the ddm's own
(`ssmhub_ddm.exact.log_fstd`), so its choice of series and its accuracy (float64 exact to
rounding) carry over. Everything is a sum of logs of positive terms: finite in float32 and
float64 over the box, for ``sv`` from 0 up.

Choice probability. ``P(response) = E_u[P_ddm(response | u)]`` has no closed form; it is
``int phi(x) P_ddm(response | v + sv x) dx`` over the standard normal ``x``, with the ddm's
closed-form ``P_ddm`` (`ssmhub_ddm.exact.log_choice_probability`). Gauss-Hermite quadrature
would be the natural rule, but it converges slowly here: as a function of ``x``,
``P_ddm`` is a sigmoid of width about ``1/(A sv)`` (0.08 at ``a = sv = 2.5``) centred at
``x = -v/sv``, wherever that lies, with complex poles ``pi/(A sv)`` off the real line
(``1 - exp(-2 u A) = 0``), and Hermite nodes are spread for the Gaussian alone: checked
against adaptive quadrature over a grid of the box, 20, 60 and 150 nodes leave errors of 4e-2,
3e-3 and 8e-4. So the rule is composite Gauss-Legendre on ``[-7, 7]`` (the mass beyond is
2.6e-12; the weights are scaled to add up to 1, so that ``sv = 0`` gives the ddm's
probability exactly): ``N_PANELS = 28`` panels of width 0.5, ``N_PANEL = 10`` nodes each
(280 in all).
A pole at distance ``0.25`` from a panel of half-width ``0.25`` bounds its error by about
``(1 + sqrt 2)**-20`` relative; measured, 9e-10 absolute at worst on that grid (``v`` in
[-3, 3], ``a`` in [0.3, 2.5], ``z`` in [0.1, 0.9], ``sv`` in [0.001, 2.5]), where 8 nodes a
panel gave 7e-8. The sum is taken in log space (logsumexp), so a small probability keeps
its relative accuracy.

``rt <= t``, ``a <= 0``, ``z`` outside (0, 1) and ``sv < 0`` give ``-inf`` by the
double-``where`` pattern (finite, zero gradients); NaN gives NaN.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ssmhub.likelihood import Array
from ssmhub_ddm import exact as ddm

__all__ = ["N_PANEL", "N_PANELS", "X_MAX", "log_choice_probability", "logpdf"]

X_MAX = 7.0
"""The choice probability integrates the standard normal over ``[-X_MAX, X_MAX]``."""
N_PANELS = 28
"""Equal Gauss-Legendre panels on ``[-X_MAX, X_MAX]`` (width 0.5)."""
N_PANEL = 10
"""Gauss-Legendre nodes per panel."""


def _float_dtype(*arrays: Array) -> jnp.dtype:
    dtype = jnp.result_type(*arrays)
    return dtype if jnp.issubdtype(dtype, jnp.floating) else jnp.result_type(float)


def _normal_rule() -> tuple[np.ndarray, np.ndarray]:
    """Nodes ``x`` and log weights ``log(w phi(x))`` of the composite rule (float64 numpy)."""
    edges = np.linspace(-X_MAX, X_MAX, N_PANELS + 1)
    x, w = np.polynomial.legendre.leggauss(N_PANEL)
    lo, hi = edges[:-1, None], edges[1:, None]
    nodes = (lo + (hi - lo) * 0.5 * (x + 1.0)).ravel()
    log_weights = np.log(((hi - lo) * 0.5 * w).ravel()) - 0.5 * nodes**2
    # Normalised to add up to 1 exactly (the tails hold 2.6e-12), so that sv = 0 is the ddm.
    return nodes, log_weights - np.logaddexp.reduce(log_weights)


_NODES, _LOG_WEIGHTS = _normal_rule()


def logpdf(params: Array, rt: Array, response: Array) -> Array:
    """Log density of ``(rt, response)`` under ddm_sdv, one value per trial.

    ``params`` is (N, 5) in the order ``v, a, z, t, sv`` (any leading shape: the last axis
    holds the parameters); ``rt`` and ``response`` are (N,). A response above 0 is the upper
    bound, any other the lower one. Returns (N,) in the floating dtype of the inputs.

    ``rt <= t`` has density 0 and gives exactly ``-inf``, as do parameters outside the model
    (``a <= 0``, ``z`` outside (0, 1), ``sv < 0``); NaN gives NaN. Those trials are evaluated
    at a stand-in point and masked afterwards (double ``where``), so ``jax.grad`` is finite
    wherever the value is and 0 where it is ``-inf``.
    """
    params, rt, response = jnp.asarray(params), jnp.asarray(rt), jnp.asarray(response)
    dtype = _float_dtype(params, rt)
    params, rt = params.astype(dtype), rt.astype(dtype)
    v, a, z, t, sv = (params[..., i] for i in range(5))

    upper = response > 0
    drift = jnp.where(upper, -v, v)  # mirror the upper bound onto the lower one
    w = jnp.where(upper, 1.0 - z, z)
    tau = rt - t

    ok = (tau > 0) & (a > 0) & (z > 0) & (z < 1) & (sv >= 0)
    nan = jnp.isnan(tau) | jnp.isnan(a) | jnp.isnan(z) | jnp.isnan(v) | jnp.isnan(sv)
    outside = jnp.where(nan, jnp.nan, -jnp.inf).astype(dtype)
    tau = jnp.where(ok, tau, 1.0)
    sep = jnp.where(ok, 2.0 * a, 1.0)
    w = jnp.where(ok, w, 0.5)
    drift = jnp.where(ok, drift, 0.0)
    var = jnp.where(ok, sv * sv, 0.0)

    spread = var * tau  # sv**2 tau: how much the drift's spread has widened by tau
    aw = sep * w
    exponent = (var * aw * aw - 2.0 * drift * aw - drift * drift * tau) / (2.0 * (1.0 + spread))
    logp = (
        -2.0 * jnp.log(sep)
        + exponent
        - 0.5 * jnp.log1p(spread)
        + ddm.log_fstd(tau / (sep * sep), w)
    )
    return jnp.where(ok, logp, outside)


def log_choice_probability(params: Array, response: Array) -> Array:
    """Log probability of ``response`` under ddm_sdv, whatever the rt (``t`` is unused).

    ``log sum_i w_i phi(x_i) P_ddm(response | v + sv x_i)`` over the composite rule of the
    module docstring, the ddm's probabilities from `ssmhub_ddm.exact.log_choice_probability`.
    ``params`` (N, 5) or (1, 5), ``response`` (N,): returns (N,). ``sv < 0`` (and the ddm's
    own invalid parameters) give ``-inf``; NaN gives NaN.
    """
    params, response = jnp.asarray(params), jnp.asarray(response)
    dtype = _float_dtype(params)
    params = params.astype(dtype)
    v, a, z, sv = params[..., 0], params[..., 1], params[..., 2], params[..., 4]
    ok = (a > 0) & (z > 0) & (z < 1) & (sv >= 0)
    nan = jnp.isnan(v) | jnp.isnan(a) | jnp.isnan(z) | jnp.isnan(sv)
    outside = jnp.where(nan, jnp.nan, -jnp.inf).astype(dtype)
    v = jnp.where(ok, v, 0.0)
    a = jnp.where(ok, a, 1.0)
    z = jnp.where(ok, z, 0.5)
    sv = jnp.where(ok, sv, 0.0)

    x = jnp.asarray(_NODES, dtype)
    drifts = v[..., None] + sv[..., None] * x  # (..., nodes)
    ddm_params = jnp.stack(
        [drifts, *jnp.broadcast_arrays(a[..., None], z[..., None], jnp.zeros_like(drifts))],
        axis=-1,
    )
    log_p = ddm.log_choice_probability(ddm_params, jnp.asarray(response)[..., None])
    total = jax.nn.logsumexp(log_p + jnp.asarray(_LOG_WEIGHTS, dtype), axis=-1)
    return jnp.where(ok, total, outside)
