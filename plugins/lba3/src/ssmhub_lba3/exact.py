"""The exact likelihood of the three-accumulator LBA: `ssmhub_lba2.exact` at ``K = 3``.

The maths (the parameterisation of ssm-simulators, the folded drift, the numerics, the choice
probability by quadrature) is general in the number of accumulators and documented there;
this module only fixes ``K = 3``, so that parameters of another width are refused at trace
time instead of being read as another model.
"""

from __future__ import annotations

import jax.numpy as jnp

from ssmhub.likelihood import Array
from ssmhub_lba2 import exact as _general

__all__ = ["N_ACCUMULATORS", "log_choice_probability", "log_undecided_probability", "logpdf"]

N_ACCUMULATORS = 3
"""Parameters ``A, b, v0, v1, v2``."""


def _checked(params: Array) -> Array:
    params = jnp.asarray(params)
    if params.shape[-1] != 2 + N_ACCUMULATORS:
        raise ValueError(
            f"lba3 takes {2 + N_ACCUMULATORS} parameters (A, b, v0, v1, v2) on the last axis, "
            f"got {params.shape[-1]}"
        )
    return params


def logpdf(params: Array, rt: Array, response: Array) -> Array:
    """`ssmhub_lba2.exact.logpdf` with three accumulators: responses 0, 1, 2."""
    return _general.logpdf(_checked(params), rt, response)


def log_choice_probability(params: Array, response: Array) -> Array:
    """`ssmhub_lba2.exact.log_choice_probability` with three accumulators: ``log P(response,
    0 < rt < HORIZON)``."""
    return _general.log_choice_probability(_checked(params), response)


def log_undecided_probability(params: Array) -> Array:
    """`ssmhub_lba2.exact.log_undecided_probability` with three accumulators."""
    return _general.log_undecided_probability(_checked(params))
