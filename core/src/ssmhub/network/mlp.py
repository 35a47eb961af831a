"""The maths every ssmhub network computes: a tanh MLP on its input features."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ssmhub.likelihood import MIN_DECISION_TIME
from ssmhub.trainer import RtFeature

if TYPE_CHECKING:
    import numpy as np

    Layers = list[tuple[np.ndarray, np.ndarray]]

Weights = tuple[tuple[Any, Any], ...] | list[tuple[Any, Any]]


def mlp_outputs(weights: Weights, x: Any) -> Any:
    """A tanh MLP: the function every ssmhub network computes."""
    import jax.numpy as jnp

    h = jnp.asarray(x)
    for kernel, bias in weights[:-1]:
        h = jnp.tanh(h @ kernel + bias)
    kernel, bias = weights[-1]
    return h @ kernel + bias


def mlp(weights: Weights, x: Any) -> Any:
    """A tanh MLP's one output."""
    return mlp_outputs(weights, x)[..., 0]


def features(
    inputs: tuple[str, ...], rt_feature: RtFeature, non_decision_time: str | None, x: Any
) -> Any:
    """Input rows as the MLP sees them (see `TrainSettings.rt_feature`)."""
    import jax.numpy as jnp

    x = jnp.asarray(x)
    if rt_feature == "rt" or "rt" not in inputs:
        return x
    rt, t = inputs.index("rt"), inputs.index(non_decision_time)  # NetworkConfig checks it
    decision = jnp.maximum(x[..., rt] - x[..., t], MIN_DECISION_TIME)
    return x.at[..., rt].set(jnp.log(decision))


def fold_scaling(weights: Layers, shift: np.ndarray, scale: np.ndarray) -> Layers:
    """``weights`` with an input standardisation ``(x - shift) / scale`` folded into the first
    layer: networks are trained on standardised inputs and saved as plain MLPs."""
    kernel, bias = weights[0]
    return [(kernel / scale[:, None], bias - (shift / scale) @ kernel), *weights[1:]]
