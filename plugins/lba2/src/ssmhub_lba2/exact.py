"""The exact likelihood of the linear ballistic accumulator (LBA), any number of accumulators.

The LBA is one of the few race models whose density is known in closed form, so it can check
the neural approximations of ``lba2`` and ``lba3`` (and label their data) without simulation
noise. ``lba3`` imports these functions; nothing here depends on the number of accumulators
``K``, which is read from the parameters' last axis (``K = P - 2``).

The model, as ssm-simulators 0.15 simulates it (``cssm.lba_vanilla``, called by
``model_config["lba2"]`` and ``["lba3"]``; checked by reading its source and by simulating):

* parameters ``A, b, v0 .. v{K-1}``: ``A`` becomes the simulator's ``z`` and ``b`` its ``a``;
* accumulator ``k`` starts at ``z_k ~ Uniform[0, A)``, independently for each accumulator;
* its rate is ``V_k = |W_k|`` with ``W_k ~ Normal(v_k, s)``, ``s = 0.1`` (ssm-simulators' fixed
  ``sigma_noise`` for LBA models): the *absolute value* of a normal draw (``np.abs``), a folded
  normal, not Brown & Heathcote's unrestricted normal nor a normal truncated at 0. A negative
  draw therefore does not leave the accumulator unfinished; it runs at the mirrored rate;
* it reaches the threshold ``b`` (absolute, not ``b`` above ``A``) at ``T_k = (b - z_k) / V_k``;
  the response is ``argmin_k T_k`` (``0 .. K-1``) and the rt is ``min_k T_k``: there is no
  non-decision time (ssm-simulators sets ``t = 0``);
* ssm-simulators omits a trial only past its ``deadline`` (999 s); ssmhub's simulator adapter
  marks every trial with ``rt >= 20`` s (its ``max_t``) as omitted.

Mapping to Brown & Heathcote (2008, Cognitive Psychology 57, 153-178): their ``A`` (start-point
range), ``b`` (threshold) and drift means ``v_k`` are ours; their drift sd is our fixed
``s = 0.1``; their ``t0`` is 0. Where they draw a drift from ``Normal(v, s)`` and let a negative
drift never finish, ssm-simulators folds it. Their formulas carry over because folding only
adds the mirror image: with ``u = b - z``,

    P(T <= t) = P(u <= t |W|) = P(u <= t W) + P(u <= -t W)        (u > 0)

so the folded finishing-time distribution is Brown & Heathcote's for drift ``v`` plus theirs
for drift ``-v``, and it is proper (every accumulator finishes).

In standard units (``c = |v| / s``, ``e = u / (t s)``, so that ``T > t`` exactly when
``|c + Z| < e`` for a standard normal ``Z``), with ``u`` uniform on ``[b - A, b]``, i.e. ``e``
uniform on ``[e1, e2] = [(b - A) / (t s), b / (t s)]`` of width ``w = A / (t s)``:

    S(t) = P(T > t) = mean over e of  P(e) = Phi(e - c) - Phi(-e - c)
    f(t) = -S'(t)    = (1 / t) * mean over e of  e * (phi(e - c) + phi(e + c))

and the defective density of accumulator ``k`` finishing first at ``t`` (the race) is

    f_k(t) * prod_{j != k} S_j(t).

Both means are integrals of a positive function over ``[e1, e2]``, and their antiderivatives
are elementary (``Phi``, ``phi`` and the second tail ``Psi(y) = integral_y^inf Phic = phi(y)
M(y)``, with the Mills ratio ``R(y) = Phic(y) / phi(y)`` and ``M(y) = 1 - y R(y)``): that is
how Brown & Heathcote write them. Taken literally (differences of ``Phi`` divided by ``A``)
they fail exactly where data live or where the box ends, so each is computed in the form that
keeps its precision there:

* ``A -> 0`` (the box's lower edge), or a large ``t``: the interval shrinks and the difference
  becomes 0/0. There the mean is its Taylor series about the midpoint ``m``, ``sum_n delta^(2n)
  h^(2n)(m) / (2n+1)!`` (``delta`` the half-width), whose derivatives are Hermite polynomials
  times ``phi`` (``phi^(k)(y) = (-1)^k He_k(y) phi(y)``), used while ``delta * max(1, |y|) <=
  TAU`` (``y`` the standardised midpoint); ``N_SERIES`` terms agree with the closed forms to
  about 1e-13 at the switch. At ``A = 0`` it is exactly the density of ``b / V``.
* tails (an rt far from an accumulator's typical finishing time): differences of ``Phi``
  underflow, or cancel to nothing. Everything is in log space; a difference is written as
  ``larger * (1 - exp(log smaller - log larger))``, with the difference of the two ends'
  Gaussian exponents taken analytically (``-(y2**2 - y1**2) / 2 = -w * ymid``), and every
  quantity is read from the tail it lies in (the mirror image where the interval lies mostly
  below 0). The density's mean is the mass of a standard normal on ``[y1, y2]`` (``y = e -
  c``) times ``ebar = c + E[Z | y1 < Z < y2]``, the mean of ``e`` under the weights ``phi(e -
  c)``, which lies in ``[e1, e2]``; only forming ``ebar`` can cancel, by a factor ``c / ebar``
  of at most about ``c**2 / TAU`` (~250 on the box). The survivor is ``mean Phic(c - e) - mean
  Phic(c + e)``, the second at most 0.65 of the first where this is used; each mean of
  ``Phic`` is a difference of ``Psi``, or one minus the mirrored mean, so ``1 - F`` is never
  formed by subtraction from 1.
* large ``t`` (``e2 * max(1, c) <= 1/2``): ``P(e)`` is small and odd in ``e``, and the
  survivor is the series of its integral about ``e = 0``: ``S = 2 phi(c) sum_{n>=1}
  He_{2n-2}(c) (e2^(2n) - e1^(2n)) / ((2n)! w)``, whose quotient is a finite sum, so that
  ``A = 0`` is no special case there either.
* ``R`` is ``sqrt(pi/2) erfcx(y / sqrt 2)`` (accurate to rounding); ``M`` is ``1 - y R``
  below ``y = 4`` and Laplace's continued fraction ``M = 1 / (y Q + 1)``, ``Q = y + 2/(y +
  3/(y + ...))``, above, where ``1 - y R`` would cancel.

In float64 the log density and log survivor agree with adaptive quadrature of their
definitions (scipy) to about 1e-12 over the box and rts from 10 ms to 20 s; in float32 the
log density is within a relative 1e-5 of float64, and finite with finite gradients, for rts
from 0.1 ms to 100 s.

Each branch is evaluated on inputs replaced by a harmless stand-in where it is not used (the
double-``where`` pattern), so no branch can pass a NaN or an infinity into the gradient.

``b < A`` (outside the spec's box, which keeps ``b >= A``; see the plugin's README): then a start
point above ``b`` gives a *negative* finishing time, and ssm-simulators reports those trials
with a negative rt. For ``rt > 0`` the model is still exact here: each accumulator's start lies
below ``b`` with probability ``b / A`` and is then uniform on ``[0, b]``, so the density on
``rt > 0`` is ``(b / A)**K`` times the LBA's with ``A`` replaced by ``b``; the mass on negative
rts is not scored (``rt <= 0`` gives ``-inf``). ``b <= 0`` or ``A < 0`` are no model: ``-inf``.

Choice probability. ``log_choice_probability`` is ``log P(response = k, 0 < rt < HORIZON)``,
``HORIZON = 20`` s being ssmhub's ``max_t``: what the simulator adapter counts as a decided
trial (later trials come back omitted), and what an ``mnle`` network learns as ``P(choice
k)`` beside its ``P(undecided)``. There is no closed form, so it is the integral of the density
over rt by Gauss-Legendre quadrature in ``x = log(t + t0)``: ``N_PANELS`` panels of
``N_NODES`` nodes each, uniform in ``x`` from ``t = 0`` to ``HORIZON``, with ``t0`` a
millionth of the fastest accumulator's typical finishing time ``b / (max |v| + s)``. The
log map spreads the nodes evenly over orders of magnitude of ``t``, so that the narrowest peak
in the box (relative width ``s / |v| ~ 0.09``) spans several panels' worth of nodes and a 1/t**2
tail is smooth; below ``t0`` the map is linear, and the mass there is at most about
``K * 1e-6``. On the box it agrees with scipy's adaptive quadrature of the density to about
1e-12 absolute (with half the panels, 3e-6), and the probabilities of the ``K``
choices and of no decision by ``HORIZON`` (``prod_j S_j(HORIZON)``, in closed form:
`log_undecided_probability`) add up to ``(min(1, b/A))**K`` to the same accuracy. It is the
expensive function here: ``N_PANELS * N_NODES`` density evaluations per parameter row (not
per trial: one shared row is integrated once).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import erfcx, log_ndtr, ndtr

from ssmhub.likelihood import Array

__all__ = [
    "DRIFT_SD",
    "HORIZON",
    "N_NODES",
    "N_PANELS",
    "log_choice_probability",
    "log_undecided_probability",
    "logpdf",
]

DRIFT_SD = 0.1
"""``s``: ssm-simulators' standard deviation of the drift for LBA models (``sigma_noise``)."""
HORIZON = 20.0
"""Seconds: ssmhub's simulator adapter (``SsmsSimulator.max_t``) omits trials this slow."""

N_PANELS = 40
"""Gauss-Legendre panels of the choice-probability quadrature."""
N_NODES = 16
"""Nodes per panel."""
T0_FRACTION = 1e-6
"""``t0`` of the quadrature's time map, as a fraction of ``b / (max |v| + s)``."""

TAU = 0.5
"""Taylor series of an interval mean while ``half-width * max(1, |y|) <= TAU``."""
N_SERIES = 10
"""Terms of those series (Hermite polynomials up to degree ``2 * N_SERIES``)."""
_ORIGIN_BELOW = 0.5
"""The survivor by its series about ``e = 0`` while ``e2 * max(1, c) <= _ORIGIN_BELOW``."""
_M_CF_ABOVE = 4.0
"""``M(y) = 1 - y R(y)`` by continued fraction from here (direct below: cancels by ~y**2)."""
_M_CF_DEPTH = 32

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_SQRT_HALF_PI = math.sqrt(math.pi / 2.0)
_SQRT_HALF = math.sqrt(0.5)
_LOG2 = math.log(2.0)


# --- special functions ------------------------------------------------------------------------


def _float_dtype(*arrays: Array) -> jnp.dtype:
    dtype = jnp.result_type(*arrays)
    return dtype if jnp.issubdtype(dtype, jnp.floating) else jnp.result_type(float)


def _log_phi(y: Array) -> Array:
    return -0.5 * y * y - _LOG_SQRT_2PI


def _phi(y: Array) -> Array:
    return jnp.exp(_log_phi(y))


def _log_phic(y: Array) -> Array:
    """log of the upper tail ``Phic(y) = 1 - Phi(y)``, accurate in both tails."""
    return log_ndtr(-y)


def _mills(y: Array) -> tuple[Array, Array]:
    """``R(y) = Phic(y) / phi(y)`` and ``M(y) = 1 - y R(y) = Psi(y) / phi(y)``, for ``y >= 0``.

    ``Psi(y) = integral_y^inf Phic`` is the second tail. Both are positive and at most
    ``sqrt(pi/2)`` and 1; both are accurate to a few rounding errors for every ``y >= 0``.
    """
    r = _SQRT_HALF_PI * erfcx(y * _SQRT_HALF)
    big = y >= _M_CF_ABOVE
    yb = jnp.where(big, y, _M_CF_ABOVE)
    # Q = y + 2/(y + 3/(y + ...)), evaluated backwards from the term _M_CF_DEPTH / y.
    q = jax.lax.fori_loop(0, _M_CF_DEPTH - 1, lambda i, q: yb + (_M_CF_DEPTH - i) / q, yb)
    m = jnp.where(big, 1.0 / (yb * q + 1.0), 1.0 - y * r)
    return r, m


def _hermite_sums(delta: Array, y: Array, even: np.ndarray, odd: np.ndarray) -> tuple[Array, Array]:
    """``sum_n even[n] h_{2n}`` and ``sum_n odd[n] h_{2n-1}`` (n = 0..N_SERIES, h_{-1} = 0),
    with ``h_k = delta**k He_k(y)`` (probabilists' Hermite polynomials, scaled so that nothing
    overflows while ``delta * y`` and ``delta`` are moderate):
    ``h_{k+1} = (delta y) h_k - k delta**2 h_{k-1}``."""
    dy, d2 = delta * y, delta * delta
    dtype = dy.dtype
    even_c, odd_c = jnp.asarray(even, dtype), jnp.asarray(odd, dtype)

    def step(n: Array, carry: tuple[Array, ...]) -> tuple[Array, ...]:
        h_odd, h_even, s_even, s_odd = carry  # h_{2n-1}, h_{2n}
        k = (2 * n).astype(dtype)
        h_next_odd = dy * h_even - k * d2 * h_odd
        h_next_even = dy * h_next_odd - (k + 1) * d2 * h_even
        return (
            h_next_odd,
            h_next_even,
            s_even + even_c[n + 1] * h_next_even,
            s_odd + odd_c[n + 1] * h_next_odd,
        )

    one = jnp.ones_like(dy)
    init = (jnp.zeros_like(dy), one, even_c[0] * one, jnp.zeros_like(dy))
    _, _, s_even, s_odd = jax.lax.fori_loop(0, N_SERIES, step, init)
    return s_even, s_odd


def _log1mexp(x: Array) -> Array:
    """``log(1 - exp(x))`` for ``x < 0``."""
    return jnp.where(x > -_LOG2, jnp.log(-jnp.expm1(x)), jnp.log1p(-jnp.exp(x)))


# Series coefficients: 1/(2n+1)!, 2n/(2n+1)!, and 1/(2n+1)! without n = 0.
_ODD_FACT = np.array([1.0 / math.factorial(2 * n + 1) for n in range(N_SERIES + 1)])
_DENS_ODD = np.array([2 * n / math.factorial(2 * n + 1) for n in range(N_SERIES + 1)])
_PHIC_ODD = np.concatenate([[0.0], _ODD_FACT[1:]])
_NO_TERMS = np.zeros(N_SERIES + 1)


# --- means over the start-point interval -------------------------------------------------------


def _log_mean_phic_core(a: Array, b: Array) -> Array:
    """log of the mean of ``Phic`` over ``[a, b]``, for ``(a + b) / 2 >= 0`` (value <= 1/2)."""
    ym, d = 0.5 * (a + b), 0.5 * (b - a)
    narrow = d * jnp.maximum(1.0, ym) <= TAU
    # Stand-ins: the series sees only narrow intervals, the closed form only wide ones.
    ds, ys = jnp.where(narrow, d, 0.0), jnp.where(narrow, ym, 0.0)
    aw, bw = jnp.where(narrow, 0.0, a), jnp.where(narrow, 1.0, b)
    r, m = _mills(jnp.maximum(jnp.stack([ys, aw, bw]), 0.0))

    # Narrow: Phic(ym) + phi(ym) sum_{n>=1} delta^(2n) He_{2n-1}(ym) / (2n+1)!.
    _, corr = _hermite_sums(ds, ys, _NO_TERMS, _PHIC_ODD)
    series = _log_phic(ys) + jnp.log1p(ds * corr / r[0])

    # Wide: (Psi(a) - Psi(b)) / (b - a), the ratio Psi(b)/Psi(a) with the difference of the
    # Gaussian exponents taken analytically when both ends are in the right tail.
    def log_psi(y: Array, log_m: Array) -> Array:
        yn = jnp.where(y >= 0, -1.0, y)  # y < 0: Psi = phi(y) - y Phic(y), positive terms
        return jnp.where(y >= 0, _log_phi(y) + log_m, jnp.log(_phi(yn) - yn * ndtr(-yn)))

    lma, lmb = jnp.log(m[1]), jnp.log(m[2])
    lpa, lpb = log_psi(aw, lma), log_psi(bw, lmb)
    diff = jnp.where(aw >= 0, -(bw - aw) * 0.5 * (aw + bw) + lmb - lma, lpb - lpa)
    wide = lpa + _log1mexp(jnp.minimum(diff, -1e-30)) - jnp.log(bw - aw)
    return jnp.where(narrow, series, wide)


def _log_mean_phic(a: Array, b: Array) -> Array:
    """log of the mean of ``Phic`` over ``[a, b]`` (``a <= b``), any position."""
    flip = a + b < 0  # mean Phic = 1 - mean Phic over the mirrored interval
    core = _log_mean_phic_core(jnp.where(flip, -b, a), jnp.where(flip, -a, b))
    return jnp.where(flip, _log1mexp(core), core)


def _normal_interval(a: Array, b: Array) -> tuple[Array, Array]:
    """``log(Phi(b) - Phi(a))`` and ``E[Z | a < Z < b]`` for ``a < b``, ``a + b >= 0``.

    The mass is ``Phic(a) (1 - Phic(b) / Phic(a))`` with ``Phic(b) / Phic(a) = exp(-w ym)
    R(b) / R(a)`` when ``a >= 0`` (``w = b - a``, ``ym = (a + b) / 2``: the difference of the
    Gaussian exponents, taken analytically), and the mean is ``(phi(a) - phi(b)) / mass``
    with ``phi(b) / phi(a) = exp(-w ym)``.
    """
    w, ym = b - a, 0.5 * (a + b)
    pos = a >= 0
    r, _ = _mills(jnp.stack([jnp.where(pos, a, 0.0), b]))
    ratio = jnp.minimum(-w * ym + jnp.log(r[1] / r[0]), -1e-30)  # log Phic(b) / Phic(a)
    tail = _log_phi(a) + jnp.log(r[0]) + _log1mexp(ratio)
    lpa = _log_phic(a)
    body = lpa + _log1mexp(jnp.minimum(_log_phic(b) - lpa, -1e-30))
    log_mass = jnp.where(pos, tail, body)
    mean = jnp.exp(_log_phi(a) - log_mass) * -jnp.expm1(-w * ym)
    return log_mass, mean


def _log_dens_mean(cp: Array, e1: Array, e2: Array) -> Array:
    """log of the mean of ``e phi(e - cp)`` over ``e in [e1, e2]``, ``0 <= e1 <= e2``, any ``cp``.

    Narrow intervals: the Taylor series about the midpoint. Others: with ``y = e - cp`` on
    ``[y1, y2]``, the integral is ``(Phi(y2) - Phi(y1)) * ebar``, ``ebar = cp + E[Z | y1 < Z
    < y2]`` the mean of ``e`` under the weights ``phi(e - cp)``, which lies in ``[e1, e2]``: a
    normal interval's mass and mean, each computed from the tail the interval lies in (the
    mirror image for ``y1 + y2 < 0``). Only forming ``ebar`` can cancel, by a factor
    ``|cp| / ebar``, at most about ``cp**2 / TAU`` where this branch is used (~250 on the box).
    """
    m, d = 0.5 * (e1 + e2), 0.5 * (e2 - e1)
    ym = m - cp
    narrow = d * jnp.maximum(1.0, jnp.abs(ym)) <= TAU

    # Narrow: phi(ym) sum_n [m delta^2n He_2n(ym) - 2n delta^2n He_{2n-1}(ym)] / (2n+1)!.
    ds, ys, ms = jnp.where(narrow, d, 0.0), jnp.where(narrow, ym, 0.0), jnp.where(narrow, m, 1.0)
    s_even, s_odd = _hermite_sums(ds, ys, _ODD_FACT, _DENS_ODD)
    series = _log_phi(ys) + jnp.log(ms * s_even - ds * s_odd)

    # Wide: mass and mean of the standard normal on [y1, y2] (stand-ins where narrow).
    e1w, e2w, cw = (
        jnp.where(narrow, 0.0, e1),
        jnp.where(narrow, 1.0, e2),
        jnp.where(narrow, 0.0, cp),
    )
    y1, y2 = e1w - cw, e2w - cw
    flip = y1 + y2 < 0
    log_mass, mean = _normal_interval(jnp.where(flip, -y2, y1), jnp.where(flip, -y1, y2))
    ebar = jnp.clip(cw + jnp.where(flip, -mean, mean), e1w, e2w)
    ebar = jnp.maximum(ebar, jnp.finfo(ebar.dtype).tiny)
    wide = log_mass + jnp.log(ebar) - jnp.log(e2w - e1w)
    return jnp.where(narrow, series, wide)


def _log_survivor(c: Array, e1: Array, e2: Array) -> Array:
    """log S = log of the mean of ``P(e) = Phi(e - c) - Phi(-e - c)`` over ``[e1, e2]``, ``c >= 0``.

    Large ``t`` (``e2 max(1, c) <= 1/2``): the series about ``e = 0``. Otherwise ``S = mean
    Phic(c - e) - mean Phic(c + e)``, the second at most 0.65 of the first there
    (each mean accurate in log space, and ``1 - mean Phic`` of the mirrored interval where
    the first is near 1, so ``1 - F`` is never formed by subtraction from 1).
    """
    origin = e2 * jnp.maximum(1.0, c) <= _ORIGIN_BELOW

    # Large t: S = 2 phi(c) e2 sum_{n>=1} e2^(2n-2) He_{2n-2}(c) / (2n)! * sum_{j<2n} r^j,
    # r = e1 / e2: the series of T(e) = integral_0^e P about e = 0, differenced exactly.
    e2o, co = jnp.where(origin, e2, 1.0), jnp.where(origin, c, 0.0)
    ro = jnp.where(origin, e1, 0.0) / e2o
    dy, d2 = e2o * co, e2o * e2o
    dtype = dy.dtype
    inv_fact = jnp.asarray([1.0 / math.factorial(2 * n + 2) for n in range(N_SERIES)], dtype)

    def step(n: Array, carry: tuple[Array, ...]) -> tuple[Array, ...]:
        h_prev, h, power, geometric, total = carry  # h_{2n-1}, h_{2n}, r^(2n), G_{2n}
        geometric = geometric + power * (1.0 + ro)  # G_{2n+2} = G_{2n} + r^2n + r^(2n+1)
        total = total + h * inv_fact[n] * geometric
        k = (2 * n).astype(dtype)
        h_odd = dy * h - k * d2 * h_prev
        h_even = dy * h_odd - (k + 1) * d2 * h
        return h_odd, h_even, power * ro * ro, geometric, total

    zero = jnp.zeros_like(dy)
    init = (zero, jnp.ones_like(dy), jnp.ones_like(dy), zero, zero)
    total = jax.lax.fori_loop(0, N_SERIES, step, init)[-1]
    origin_value = _LOG2 + _log_phi(co) + jnp.log(e2o) + jnp.log(total)

    cd, e1d, e2d = jnp.where(origin, 3.0, c), jnp.where(origin, 0.5, e1), jnp.where(origin, 1.0, e2)
    means = _log_mean_phic(jnp.stack([cd - e2d, cd + e1d]), jnp.stack([cd - e1d, cd + e2d]))
    tails = means[0] + _log1mexp(jnp.minimum(means[1] - means[0], -1e-30))
    return jnp.where(origin, origin_value, tails)


def _accumulators(t: Array, big_a: Array, b: Array, v: Array) -> tuple[Array, Array]:
    """log f and log S of each accumulator at ``t > 0`` (arrays broadcast; ``b > 0``,
    ``A >= 0``, ``b >= A`` here: the caller folds ``b < A`` into the start range)."""
    ts = t * DRIFT_SD
    e2 = b / ts
    e1 = (b - big_a) / ts
    c = jnp.abs(v) / DRIFT_SD
    e1, e2, c = jnp.broadcast_arrays(e1, e2, c)
    dens = _log_dens_mean(jnp.stack([c, -c]), e1, e2)
    return jnp.logaddexp(dens[0], dens[1]) - jnp.log(t), _log_survivor(c, e1, e2)


# --- the race -----------------------------------------------------------------------------------


def _split(params: Array, dtype: jnp.dtype) -> tuple[Array, Array, Array, Array, Array]:
    """``A``, ``b``, drifts (..., K), validity and NaN flag of parameter rows."""
    params = params.astype(dtype)
    big_a, b, v = params[..., 0], params[..., 1], params[..., 2:]
    valid = (big_a >= 0) & (b > 0)
    nan = jnp.isnan(big_a) | jnp.isnan(b) | jnp.any(jnp.isnan(v), axis=-1)
    return big_a, b, v, valid, nan


def _start_range(big_a: Array, b: Array, valid: Array) -> tuple[Array, Array, Array]:
    """Stand-ins for invalid rows, the effective start range ``min(A, b)`` and
    ``log(min(A, b) / A)``, each accumulator's chance of starting below ``b`` (0 if b >= A)."""
    big_a = jnp.where(valid, big_a, 0.5)
    b = jnp.where(valid, b, 1.0)
    above = b < big_a
    a_eff = jnp.where(above, b, big_a)
    log_below = jnp.where(above, jnp.log(b / jnp.where(above, big_a, 1.0)), 0.0)
    return b, a_eff, log_below


def logpdf(params: Array, rt: Array, response: Array) -> Array:
    """Log density of ``(rt, response)`` under the LBA with ``K = P - 2`` accumulators.

    ``params`` is (N, P) in the order ``A, b, v0 .. v{K-1}`` (or (1, P); any leading shape
    that broadcasts with ``rt``); ``rt`` and ``response`` are (N,), response ``k`` meaning
    accumulator ``k`` finished first. Returns (N,) in the floating dtype of the inputs.

    ``rt <= 0``, a response outside ``0 .. K-1`` and parameters outside the model (``b <= 0``,
    ``A < 0``) give exactly ``-inf``; NaN inputs give NaN. Such trials are evaluated at a
    stand-in point and masked (the double-``where`` pattern), so ``jax.grad`` is finite
    wherever the value is and 0 where it is ``-inf``.
    """
    params, rt, response = jnp.asarray(params), jnp.asarray(rt), jnp.asarray(response)
    dtype = _float_dtype(params, rt)
    rt = rt.astype(dtype)
    big_a, b, v, valid, nan = _split(params, dtype)
    k = v.shape[-1]
    chosen = response[..., None] == jnp.arange(k)

    ok = valid & (rt > 0) & jnp.any(chosen, axis=-1)
    nan = nan | jnp.isnan(rt)
    ok = ok & ~nan
    b, a_eff, log_below = _start_range(big_a, b, ok)
    t = jnp.where(ok, rt, 1.0)
    log_f, log_s = _accumulators(t[..., None], a_eff[..., None], b[..., None], v)
    logp = jnp.sum(jnp.where(chosen, log_f, log_s), axis=-1) + k * log_below
    outside = jnp.where(nan, jnp.nan, -jnp.inf).astype(dtype)
    return jnp.where(ok, logp, outside)


def log_undecided_probability(params: Array) -> Array:
    """``log P(no accumulator finishes before HORIZON)`` = ``sum_j log S_j(HORIZON)``, (N,).

    With it, the ``K`` choice probabilities add up to ``(min(1, b/A))**K``: for ``b < A`` the
    rest is the mass of negative rts, which is neither a choice nor undecided.
    """
    params = jnp.asarray(params)
    dtype = _float_dtype(params)
    big_a, b, v, valid, nan = _split(params, dtype)
    k = v.shape[-1]
    b, a_eff, log_below = _start_range(big_a, b, valid & ~nan)
    t = jnp.full(b.shape, HORIZON, dtype)
    _, log_s = _accumulators(t[..., None], a_eff[..., None], b[..., None], v)
    value = jnp.sum(log_s, axis=-1) + k * log_below
    outside = jnp.where(nan, jnp.nan, -jnp.inf).astype(dtype)
    return jnp.where(valid & ~nan, value, outside)


def _gauss_legendre(dtype: jnp.dtype) -> tuple[Array, Array]:
    x, w = np.polynomial.legendre.leggauss(N_NODES)
    return jnp.asarray((x + 1.0) / 2.0, dtype), jnp.asarray(np.log(w / 2.0), dtype)


def _log_choice_probabilities(params: Array) -> Array:
    """``log P(response = k, 0 < rt < HORIZON)`` for every ``k``: (..., K) for params (..., P).

    Every node of the quadrature evaluates all ``K`` accumulators once; the ``K`` races are
    then read off the same values.
    """
    dtype = _float_dtype(params)
    big_a, b, v, valid, nan = _split(params, dtype)
    k = v.shape[-1]
    b, a_eff, log_below = _start_range(big_a, b, valid & ~nan)

    # The grid: t = t0 expm1(u), u uniform on [0, log1p(HORIZON / t0)], dt = (t + t0) du.
    vmax = jnp.max(jnp.abs(v), axis=-1)
    t0 = jax.lax.stop_gradient(T0_FRACTION * b / (vmax + DRIFT_SD))
    panel = jnp.log1p(HORIZON / t0) / N_PANELS
    nodes, log_weights = _gauss_legendre(dtype)
    own = jnp.eye(k, dtype=bool)  # race k: accumulator k finishes, the others survive

    def one_panel(carry: Array, j: Array) -> tuple[Array, None]:
        u = (j + nodes) * panel[..., None]  # (..., N_NODES)
        t = t0[..., None] * jnp.expm1(u)
        log_f, log_s = _accumulators(
            t[..., None], a_eff[..., None, None], b[..., None, None], v[..., None, :]
        )  # (..., N_NODES, K)
        races = jnp.sum(jnp.where(own, log_f[..., None, :], log_s[..., None, :]), axis=-1)
        log_dt = jnp.log(t + t0[..., None]) + jnp.log(panel)[..., None] + log_weights
        return jnp.logaddexp(carry, jax.nn.logsumexp(races + log_dt[..., None], axis=-2)), None

    start = jnp.full((*b.shape, k), -jnp.inf, dtype)
    total, _ = jax.lax.scan(one_panel, start, jnp.arange(N_PANELS, dtype=dtype))
    value = total + (k * log_below)[..., None]
    outside = jnp.where(nan, jnp.nan, -jnp.inf).astype(dtype)[..., None]
    return jnp.where((valid & ~nan)[..., None], value, outside)


def log_choice_probability(params: Array, response: Array) -> Array:
    """``log P(response, 0 < rt < HORIZON)`` under the LBA, whatever the rt below ``HORIZON``.

    The integral of ``exp(logpdf)`` over ``rt in (0, HORIZON)``: Gauss-Legendre quadrature,
    ``N_PANELS`` x ``N_NODES`` nodes uniform in ``x = log(t + t0)`` (see the module docstring),
    absolute error about 1e-12 in float64. ``params`` (N, P) or (1, P), ``response`` (N,);
    returns (N,); with one parameter row the quadrature runs once, not once per trial. A
    response outside ``0 .. K-1`` or parameters outside the model give ``-inf``, NaN gives NaN.
    """
    params, response = jnp.asarray(params), jnp.asarray(response)
    per_choice = _log_choice_probabilities(params)  # (..., K)
    k = per_choice.shape[-1]
    shape = jnp.broadcast_shapes(per_choice.shape[:-1], response.shape)
    per_choice = jnp.broadcast_to(per_choice, (*shape, k))
    response = jnp.broadcast_to(response, shape)
    known = jnp.any(response[..., None] == jnp.arange(k), axis=-1)
    index = jnp.where(known, response, 0).astype(jnp.int32)
    value = jnp.take_along_axis(per_choice, index[..., None], axis=-1)[..., 0]
    return jnp.where(known | jnp.isnan(value), value, -jnp.inf)
