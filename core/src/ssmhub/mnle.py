"""The `mnle` network kind: a likelihood of (rt, choice) that is normalised by construction.

One MLP maps a parameter row to

- K + 1 logits: log P(choice k) for the model's K choices and log P(undecided), the share of
  trials the simulator did not finish within its horizon (learnt as an outcome, never as a
  choice), normalised by a softmax;
- for each choice, a mixture of M Gaussians in y = log(rt - t) (log rt for a model without a
  non-decision time ``t``): the density of rt given the choice is that mixture's density at y
  times dy/drt = 1 / (rt - t), which integrates to one over rt > t whatever the weights are.

Why this family (see also docs/architecture.md): it is exact in its normalisation, zero at
rt <= t, its per-trial cost after the MLP is M exponentials, and the MLP depends on the
parameters alone, so a parameter row shared by many trials passes through it once. The
first-passage densities of SSMs are smooth, single-peaked and skewed in log time, which a
handful of Gaussians there follows closely (measured in docs/benchmarks.md).

The output layout is ``[choice logits (K + 1), mixture logits (K, M), means (K, M),
log SDs (K, M)]``, row-major in (choice, component).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from ssmhub.likelihood import MIN_DECISION_TIME, Array

# Component SDs in log time are kept within these bounds: narrower would let one trial's
# likelihood grow without limit during training, wider is nothing a density needs.
LOG_SD_RANGE = (-7.0, 3.0)


def n_outputs(n_choices: int, components: int) -> int:
    """The MLP's output width for K choices and M components."""
    return n_choices + 1 + 3 * n_choices * components


class Blocks(NamedTuple):
    """Where each part of the head lies in the MLP's output vector."""

    choice_logits: slice
    mixture_logits: slice
    means: slice
    log_sds: slice


def blocks(n_choices: int, components: int) -> Blocks:
    """The output layout: K + 1 choice logits, then K x M mixture logits, means, log SDs."""
    start, size = n_choices + 1, n_choices * components
    return Blocks(
        slice(0, start),
        slice(start, start + size),
        slice(start + size, start + 2 * size),
        slice(start + 2 * size, start + 3 * size),
    )


class Head(NamedTuple):
    """The MLP's output as distributions, for a batch of B parameter rows."""

    log_choice: Array  # (B, K + 1): log P(choice k), then log P(undecided)
    log_weight: Array  # (B, K, M): mixture weights per choice, normalised
    mean: Array  # (B, K, M): component means of y
    log_sd: Array  # (B, K, M)


def head(out: Array, n_choices: int, components: int) -> Head:
    """Split and normalise raw MLP outputs ``(B, n_outputs)``."""
    import jax
    import jax.numpy as jnp

    k, m = n_choices, components
    log_choice = jax.nn.log_softmax(out[..., : k + 1], axis=-1)
    rest = out[..., k + 1 :].reshape(*out.shape[:-1], 3, k, m)
    log_weight = jax.nn.log_softmax(rest[..., 0, :, :], axis=-1)
    log_sd = jnp.clip(rest[..., 2, :, :], *LOG_SD_RANGE)
    return Head(log_choice, log_weight, rest[..., 1, :, :], log_sd)


def at_rows(h: Head, row: Array | None) -> Head:
    """The distributions of each trial, from those of its parameter row (None: as they are)."""
    return h if row is None else Head(*(x[row] for x in h))


def choice_index(response: Array, choices: tuple[int, ...]) -> Array:
    """Each response's position in ``choices`` (responses outside them are refused earlier,
    by the observed-data checks)."""
    import jax.numpy as jnp

    response = jnp.asarray(response)
    return sum(i * (response == c) for i, c in enumerate(choices)).astype(jnp.int32)


def decision_log_time(rt: Array, t: Array | float) -> Array:
    """y = log(rt - t), the variable the mixtures are over."""
    import jax.numpy as jnp

    return jnp.log(jnp.maximum(rt - t, MIN_DECISION_TIME))


def log_rt_density(h: Head, index: Array, y: Array) -> Array:
    """log p(rt | choice) at y = log(rt - t): the mixture's log density minus y (Jacobian).

    ``h`` has B = 1 (one parameter row for all N trials) or B = N rows; ``index`` and ``y``
    have N. Selecting the choice's mixture comes first, so the work per trial is M terms.
    """
    import jax
    import jax.numpy as jnp

    pick = index[:, None, None]  # (N, 1, 1) broadcasts against (B, K, M)
    log_weight, mean, log_sd = (
        jnp.take_along_axis(x, pick, axis=1, mode="clip")[:, 0] for x in h[1:]
    )
    z = (y[:, None] - mean) * jnp.exp(-log_sd)
    log_normal = -0.5 * z**2 - log_sd - 0.5 * jnp.log(2 * jnp.pi)
    return jax.nn.logsumexp(log_weight + log_normal, axis=-1) - y


def log_choice_probability(h: Head, index: Array) -> Array:
    """log P(choice) of each trial; ``h`` has one row or one per trial."""
    import jax.numpy as jnp

    return jnp.take_along_axis(h.log_choice, index[:, None], axis=1, mode="clip")[:, 0]


def log_likelihood(h: Head, index: Array, y: Array) -> Array:
    """log p(rt, choice) = log P(choice) + log p(rt | choice), per trial."""
    return log_choice_probability(h, index) + log_rt_density(h, index, y)


def output_affine(
    n_choices: int, components: int, y_shift: float, y_scale: float
) -> tuple[Any, Any]:
    """``(scale, shift)`` per output that turn a head predicting the means and log SDs of the
    standardised (y - y_shift) / y_scale into one predicting those of y. The trainer applies
    it to the raw outputs, and folds it into the last layer when saving."""
    import numpy as np

    width, at = n_outputs(n_choices, components), blocks(n_choices, components)
    scale, shift = np.ones(width), np.zeros(width)
    scale[at.means], shift[at.means] = y_scale, y_shift
    shift[at.log_sds] = np.log(y_scale)
    return scale, shift
