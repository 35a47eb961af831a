"""Training an `mnle` network (`ssmhub.mnle`) on raw simulated trials, by maximum likelihood.

Shards hold ``n_simulations`` trials per parameter set, in order, so a batch is made of whole
parameter sets and the MLP, which sees parameters only, runs once per set rather than once
per trial. Undecided trials (rt NaN) are scored as the undecided outcome.

With ``distill_weight > 0`` and a plugin's exact likelihood, a second loss pulls each
simulated trial's log-likelihood towards the exact one (computed batch by batch, so no labels
are stored). The simulated trials alone give the network the distribution of a discretised
simulator, and their likelihood is a noisy target; the exact values are neither.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ssmhub import mnle
from ssmhub.errors import SsmhubError
from ssmhub.generate import load_shard
from ssmhub.likelihood import Likelihood
from ssmhub.network import Network, fold_scaling, read_network, save_network
from ssmhub.trainer import EpochReport, TrainSettings
from ssmhub.training import MLP, _batches, _split, complete_manifest, fit, network_config

# Exact log-likelihoods below this are distilled as this: far in a tail a Gaussian mixture
# cannot follow the exact density, and the trials there are rare.
DISTILL_FLOOR = -15.0


def train_mnle(
    data_dir: Path,
    out_dir: Path,
    settings: TrainSettings,
    on_epoch: Callable[[EpochReport], None] | None = None,
) -> Network:
    """Train an MNLE on the raw trials in ``data_dir``; save the best to ``out_dir``."""
    import jax.numpy as jnp
    from flax import nnx

    from ssmhub.plugins import get_manager

    manifest = complete_manifest(data_dir, "mnle")
    spec = get_manager().catalog.get(manifest.model)
    names, choices = manifest.parameter_names, spec.choices
    n_params, k, m = len(names), len(choices), settings.components
    per_set = manifest.recipe.n_simulations
    sets_per_batch = max(1, settings.batch_size // per_set)
    ndt = spec.non_decision_time
    t_index = names.index(ndt) if ndt is not None else None
    exact = _exact(spec, manifest.model) if settings.distill_weight else None

    first = load_shard(data_dir, min(manifest.shards, key=lambda s: s.index))
    params = np.asarray(first[:, :n_params], np.float64)
    shift, scale = params.mean(axis=0), params.std(axis=0) + 1e-6
    decided = ~np.isnan(first[:, n_params])
    t0 = params[:, t_index] if t_index is not None else 0.0
    y = np.asarray(mnle.decision_log_time(first[:, n_params], t0))[decided]
    out_scale, out_shift = mnle.output_affine(k, m, float(y.mean()), float(y.std()))
    out_scale, out_shift = jnp.asarray(out_scale, jnp.float32), jnp.asarray(out_shift, jnp.float32)
    in_shift, in_scale = jnp.asarray(shift, jnp.float32), jnp.asarray(scale, jnp.float32)

    model = MLP([n_params, *settings.hidden, mnle.n_outputs(k, m)], nnx.Rngs(settings.seed))
    bias = np.zeros(mnle.n_outputs(k, m), np.float32)  # components spread over y at the start
    at = mnle.blocks(k, m)
    bias[at.means] = np.tile(np.linspace(-1.5, 1.5, m), k)
    bias[at.log_sds] = np.log(0.5)
    model.layers[-1].bias[...] = bias

    def trial_loglik(model: MLP, batch: Any) -> tuple[Any, Any, Any, Any]:
        """Per-trial log-likelihood of (S, n, P + 2) trials, and the trials as rows."""
        theta = batch[:, 0, :n_params]
        h = mnle.head(model((theta - in_shift) / in_scale) * out_scale + out_shift, k, m)
        rt, response = batch[:, :, n_params].ravel(), batch[:, :, n_params + 1].ravel()
        ok = ~jnp.isnan(rt)
        rows = jnp.repeat(theta, per_set, axis=0)
        t = rows[:, t_index] if t_index is not None else 0.0
        rt = jnp.where(ok, rt, t + 1.0)  # NaN in the unused branch would poison gradients
        response = jnp.where(ok, response, choices[0])
        index = mnle.choice_index(response, choices)
        h_rows = mnle.Head(*(jnp.repeat(x, per_set, axis=0) for x in h))
        ll = mnle.log_likelihood(h_rows, index, mnle.decision_log_time(rt, t))
        return jnp.where(ok, ll, h_rows.log_choice[:, k]), ok, rows, (rt, response)

    def loss_of(model: MLP, batch: Any) -> Any:
        ll, ok, rows, (rt, response) = trial_loglik(model, batch)
        loss = -ll.mean()
        if exact is None:
            return loss
        target = exact.logp_rt(rows, rt, response)
        use = ok & jnp.isfinite(target)
        error = jnp.where(use, ll - jnp.maximum(jnp.where(use, target, 0.0), DISTILL_FLOOR), 0.0)
        return loss + settings.distill_weight * (error**2).sum() / jnp.maximum(use.sum(), 1)

    def batches(validation: bool, rng: np.random.Generator) -> Iterator[np.ndarray]:
        sets = _split(manifest, data_dir, settings, validation, rng, group=per_set)
        return _batches(sets, sets_per_batch)

    n_sets = sum(s.rows for s in manifest.shards) // per_set
    steps = max(1, int(n_sets * (1 - settings.validation_fraction)) // sets_per_batch)

    def snapshot(model: MLP) -> list[tuple[np.ndarray, np.ndarray]]:
        layers = fold_scaling(model.layers_as_arrays(), shift, scale)
        kernel, b = layers[-1]
        scale_out, shift_out = np.asarray(out_scale), np.asarray(out_shift)
        return [*layers[:-1], (kernel * scale_out, b * scale_out + shift_out)]

    fitted = fit(model, loss_of, batches, steps, settings, snapshot, on_epoch)
    undecided = float(
        np.mean([np.isnan(load_shard(data_dir, s)[:, n_params]).mean() for s in manifest.shards])
    )
    config = network_config(
        manifest,
        data_dir,
        settings,
        fitted,
        inputs=names,
        output="mixture",
        choices=choices,
        components=m,
        non_decision_time=ndt,
    )
    config.metrics["undecided_share"] = undecided
    save_network(out_dir, config, fitted.layers)
    return read_network(out_dir)


def _exact(spec: Any, model: str) -> Likelihood:
    from ssmhub.plugins import get_manager

    exact = get_manager().find_likelihood(spec, "exact")
    if exact is None:
        raise SsmhubError(
            f"distill_weight: distillation needs an 'exact' likelihood of model {model!r}, "
            "and no plugin registers one; train with distill_weight 0"
        )
    return exact
