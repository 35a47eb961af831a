"""Trials that share every parameter value by construction, read from the model's graph.

The trials of one condition, or of one participant in one condition, share their
parameters: ``v = v0 * sign[condition]`` takes two values over a thousand trials. A
likelihood whose costly work depends on the parameters alone (a network of the parameters,
``mnle``) then needs that work once per group, not once per trial.

The groups come from the graph, not from values, so they hold for every value the random
variables take: a trial's parameters are proven to depend on the data only through that
trial's entries of constant arrays (its keys), so trials with equal keys have equal
parameters. Whatever the analysis cannot prove (an op it does not know, a random variable
with one value per trial, shared data that may change) gives no grouping: always correct,
only slower.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pytensor.tensor.elemwise import DimShuffle, Elemwise
from pytensor.tensor.math import Dot
from pytensor.tensor.subtensor import AdvancedSubtensor
from pytensor.tensor.variable import TensorConstant, TensorVariable

__all__ = ["trial_groups"]


def trial_groups(params: Sequence[TensorVariable], n: int) -> np.ndarray | None:
    """Each of ``n`` trials' group (ints from 0), or None when no two trials are proven to
    share their parameter values (or no parameter varies by trial)."""
    keys: list[np.ndarray] = []
    for p in params:
        found = _keys(p, n)
        if found is None:
            return None
        keys.extend(found)
    if not keys:
        return None
    _, groups = np.unique(np.concatenate(keys, axis=1), axis=0, return_inverse=True)
    groups = groups.reshape(n)
    return groups if groups.max() + 1 < n else None


def _keys(var: TensorVariable, n: int) -> list[np.ndarray] | None:
    """Constant (n, k) arrays whose row i, with the random variables, determines ``var``'s
    entry i; [] if ``var`` has no trial axis; None if that cannot be proven."""
    if var.ndim == 0 or var.type.broadcastable[0]:
        return []  # one value for every trial
    if isinstance(var, TensorConstant):
        data = np.asarray(var.data)
        return [data.reshape(n, -1)] if data.shape[0] == n else None
    node = var.owner
    if node is None:
        return None  # shared data or a random variable with an entry per trial
    op = node.op
    if isinstance(op, Elemwise):
        keys: list[np.ndarray] = []
        for x in node.inputs:
            found = _keys(x, n)
            if found is None:
                return None
            keys.extend(found)
        return keys
    if isinstance(op, DimShuffle):
        # Adding or dropping broadcastable axes after the first keeps the trial axis first.
        keeps = bool(op.new_order) and op.new_order[0] == 0
        return _keys(node.inputs[0], n) if keeps else None
    if isinstance(op, AdvancedSubtensor) and len(node.inputs) == 2:
        # x[index]: entry i is x at index[i], whatever x holds.
        index = node.inputs[1]
        return _keys(index, n) if index.ndim == 1 else None
    if isinstance(op, Dot):
        # A @ B: row i is row i of A against all of B.
        return _keys(node.inputs[0], n)
    return None
