"""Training networks with Flax (NNX) and Optax, streaming shards from disk.

Rows stay on disk as memory-mapped shards; an epoch visits the shards in a shuffled order
and shuffles rows within each, so data larger than memory trains. A fixed, seeded share of
every shard's rows is held out for validation; the best validation checkpoint is kept.

Sobolev training (``gradient_weight > 0``) also fits a LAN's gradient with respect to the
parameters to the model's exact likelihood, computed batch by batch, so no labels are stored.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import numpy as np
from flax import nnx

from ssmhub.errors import SsmhubError
from ssmhub.generate import MANIFEST, Manifest, load_shard, read_manifest
from ssmhub.network import (
    Network,
    NetworkConfig,
    command_line,
    features,
    fold_scaling,
    read_network,
    save_network,
)
from ssmhub.recipe import NetworkKind
from ssmhub.spec import ModelSpec
from ssmhub.trainer import EpochReport, TrainSettings

# Sobolev training leaves rows whose exact gradient is steeper than this (per SD of the
# parameter across the box) to the value loss: the density's onset and far tails, which no
# network follows and which would otherwise dominate the loss.
STEEPEST_GRADIENT = 10.0


def _split(
    manifest: Manifest,
    root: Path,
    settings: TrainSettings,
    validation: bool,
    rng: np.random.Generator,
    group: int = 1,
) -> Iterator[np.ndarray]:
    """Rows of each shard on one side of the fixed train/validation split; with ``group`` > 1,
    blocks of that many consecutive rows (one parameter set's trials) split and shuffle as
    one, shaped (blocks, group, columns)."""
    shards = sorted(manifest.shards, key=lambda s: s.index)
    for i in rng.permutation(len(shards)) if not validation else range(len(shards)):
        rows = load_shard(root, shards[i])
        if group > 1:
            rows = rows.reshape(-1, group, rows.shape[-1])
        held = np.random.default_rng([settings.seed, shards[i].index]).random(len(rows))
        keep = np.flatnonzero((held < settings.validation_fraction) == validation)
        yield np.asarray(rows[keep] if validation else rows[rng.permutation(keep)])


def _batches(chunks: Iterator[np.ndarray], size: int) -> Iterator[np.ndarray]:
    carry = np.empty((0, 0), dtype=np.float32)
    for chunk in chunks:
        carry = chunk if carry.size == 0 else np.concatenate([carry, chunk])
        while len(carry) >= size:
            yield carry[:size]
            carry = carry[size:]
    if len(carry):
        yield carry


def complete_manifest(data_dir: Path, kind: NetworkKind | None) -> Manifest:
    """The manifest of finished ``kind`` data in ``data_dir`` (any kind if None)."""
    manifest = read_manifest(data_dir)
    if not manifest.complete:
        raise SsmhubError(
            f"{data_dir}: {len(manifest.shards)} of {manifest.n_shards} shards present; "
            "finish it with `ssmhub generate` first"
        )
    if kind is not None and kind != manifest.kind:
        raise SsmhubError(f"{data_dir} holds {manifest.kind} data, not {kind} data")
    return manifest


def schedule(settings: TrainSettings, steps_per_epoch: int) -> Any:
    """Warm-up, then cosine decay to 1% of the peak learning rate over all epochs."""
    import optax

    total_steps = steps_per_epoch * settings.epochs
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0,
        peak_value=settings.learning_rate,
        warmup_steps=max(1, int(settings.warmup_fraction * total_steps)),
        decay_steps=max(2, total_steps),
        end_value=settings.learning_rate * 0.01,
    )


class MLP(nnx.Module):
    """The trainable twin of `ssmhub.network.mlp_outputs`."""

    def __init__(self, sizes: list[int], rngs: nnx.Rngs) -> None:
        self.layers = nnx.List([nnx.Linear(a, b, rngs=rngs) for a, b in itertools.pairwise(sizes)])

    def __call__(self, x: Any) -> Any:
        import jax.numpy as jnp

        for layer in self.layers[:-1]:
            x = jnp.tanh(layer(x))
        return self.layers[-1](x)

    def layers_as_arrays(self) -> list[tuple[np.ndarray, np.ndarray]]:
        return [(np.asarray(m.kernel[...]), np.asarray(m.bias[...])) for m in self.layers]


@dataclass(frozen=True)
class Fitted:
    validation_loss: float
    layers: list[tuple[np.ndarray, np.ndarray]]  # the best epoch's, as `snapshot` gave them
    history: list[dict[str, float]]


@jax.enable_x64(False)
def fit(
    model: MLP,
    loss_of: Callable[[MLP, Any], Any],
    batches: Callable[[bool, np.random.Generator], Iterator[np.ndarray]],
    steps_per_epoch: int,
    settings: TrainSettings,
    snapshot: Callable[[MLP], list[tuple[np.ndarray, np.ndarray]]],
    on_epoch: Callable[[EpochReport], None] | None = None,
) -> Fitted:
    """Adam over ``batches(validation, rng)``, keeping the best validation epoch's layers.

    In float32 whatever the process's JAX precision, which PyTensor's JAX backend turns to
    64 bits for the whole process once it is imported.
    """
    import jax.numpy as jnp
    import optax

    @nnx.jit
    def step(model: MLP, optimizer: nnx.Optimizer, batch: Any) -> Any:
        loss, grads = nnx.value_and_grad(loss_of)(model, batch)
        optimizer.update(model, grads)
        return loss

    evaluate = nnx.jit(loss_of)
    optimizer = nnx.Optimizer(model, optax.adam(schedule(settings, steps_per_epoch)), wrt=nnx.Param)
    rng = np.random.default_rng(settings.seed)
    best: tuple[float, list[tuple[np.ndarray, np.ndarray]]] | None = None
    stale, history = 0, []
    for epoch in range(1, settings.epochs + 1):
        train_losses = [
            (float(step(model, optimizer, jnp.asarray(b))), len(b)) for b in batches(False, rng)
        ]
        val_losses = [(float(evaluate(model, jnp.asarray(b))), len(b)) for b in batches(True, rng)]
        train_loss, val_loss = _mean(train_losses), _mean(val_losses)
        improved = best is None or val_loss < best[0]
        if improved:
            best = (val_loss, snapshot(model))
            stale = 0
        else:
            stale += 1
        history.append({"epoch": epoch, "train_loss": train_loss, "validation_loss": val_loss})
        if on_epoch:
            on_epoch(EpochReport(epoch, train_loss, val_loss, improved))
        if stale >= settings.patience:
            break
    assert best is not None
    return Fitted(best[0], best[1], history)


def network_config(
    manifest: Manifest, data_dir: Path, settings: TrainSettings, fitted: Fitted, **fields: Any
) -> NetworkConfig:
    """The config of a network trained on ``data_dir``: its provenance and training record."""
    import importlib.metadata

    return NetworkConfig(
        model=manifest.model,
        kind=manifest.kind,
        parameter_names=manifest.parameter_names,
        hidden=settings.hidden,
        box=manifest.box,
        recipe=manifest.recipe,
        recipe_sha256=manifest.recipe_sha256,
        data_manifest_sha256=hashlib.sha256((data_dir / MANIFEST).read_bytes()).hexdigest(),
        settings=settings,
        versions={
            **manifest.versions,
            **{n: importlib.metadata.version(n) for n in ("jax", "flax", "optax")},
        },
        metrics={
            "validation_loss": fitted.validation_loss,
            "epochs": len(fitted.history),
            "history": fitted.history,
        },
        command=command_line(),
        **fields,
    )


def train(
    data_dir: Path,
    out_dir: Path,
    settings: TrainSettings,
    kind: NetworkKind | None = None,
    on_epoch: Callable[[EpochReport], None] | None = None,
) -> Network:
    """Train a LAN or CPN on the shards in ``data_dir``; save the best network to
    ``out_dir``, return it."""
    import jax
    import jax.numpy as jnp
    import optax

    from ssmhub.plugins import get_manager

    manifest = complete_manifest(data_dir, kind)
    spec = get_manager().catalog.get(manifest.model)
    spec.check_kind(manifest.kind)
    ndt = spec.non_decision_time
    if ndt is None:
        settings = settings.model_copy(update={"rt_feature": "rt"})
    inputs = manifest.columns[:-1]
    n_in = len(inputs)
    total_rows = sum(s.rows for s in manifest.shards)
    steps_per_epoch = max(
        1, int(total_rows * (1 - settings.validation_fraction)) // settings.batch_size
    )

    # Inputs are standardised for training (rt and v live on very different scales); the
    # scaling is folded into the first layer when saving, so the network stays a plain MLP.
    # A network to fine-tune has its scaling folded in already.
    model = MLP([n_in, *settings.hidden, 1], nnx.Rngs(settings.seed))
    if settings.init is None:
        first = load_shard(data_dir, min(manifest.shards, key=lambda s: s.index))
        first_x = np.asarray(features(inputs, settings.rt_feature, ndt, first[:, :-1]))
        shift = np.asarray(first_x.mean(axis=0), dtype=np.float32)
        scale = np.asarray(first_x.std(axis=0) + 1e-6, dtype=np.float32)
    else:
        _start_from(model, settings.init, manifest, settings, spec)
        shift, scale = np.zeros(n_in, np.float32), np.ones(n_in, np.float32)
    n_params = len(manifest.parameter_names)
    exact_gradient = _exact_gradient(manifest) if settings.gradient_weight else None
    sd = jnp.asarray(
        [(hi - lo) / np.sqrt(12) for lo, hi in (manifest.box[n] for n in manifest.parameter_names)]
    )

    def network_of(model: MLP, x: jax.Array) -> jax.Array:
        return model((features(inputs, settings.rt_feature, ndt, x) - shift) / scale)[..., 0]

    def gradient_loss(model: MLP, batch: jax.Array) -> jax.Array:
        """Squared error of the LAN's parameter gradient, per SD of each parameter."""
        assert exact_gradient is not None
        x, theta = batch[:, :-1], batch[:, :n_params]

        def along(direction: jax.Array) -> jax.Array:  # one forward-mode pass per parameter
            tangent = jnp.broadcast_to(direction, theta.shape)
            return jax.jvp(
                lambda p: network_of(model, x.at[:, :n_params].set(p)), (theta,), (tangent,)
            )[1]

        ours = jax.vmap(along)(jnp.eye(n_params, dtype=batch.dtype)).T * sd
        exact = exact_gradient(batch) * sd
        keep = jnp.all(jnp.abs(exact) < STEEPEST_GRADIENT, axis=1, keepdims=True)
        return jnp.where(keep, (ours - jnp.where(keep, exact, 0.0)) ** 2, 0.0).sum(1).mean()

    def loss_of(model: MLP, batch: jax.Array) -> jax.Array:
        out = network_of(model, batch[:, :-1])
        if manifest.kind == "cpn":
            return optax.sigmoid_binary_cross_entropy(out, batch[:, -1]).mean()
        labels = batch[:, -1]
        if settings.label_floor is not None:
            labels = jnp.maximum(labels, settings.label_floor)
        loss = optax.huber_loss(out, labels).mean()
        if exact_gradient is None:
            return loss
        return loss + settings.gradient_weight * gradient_loss(model, batch)

    def batches(validation: bool, rng: np.random.Generator) -> Iterator[np.ndarray]:
        rows = _split(manifest, data_dir, settings, validation, rng)
        return _batches(rows, settings.batch_size)

    fitted = fit(
        model,
        loss_of,
        batches,
        steps_per_epoch,
        settings,
        lambda m: fold_scaling(m.layers_as_arrays(), shift, scale),
        on_epoch,
    )
    config = network_config(
        manifest,
        data_dir,
        settings,
        fitted,
        inputs=inputs,
        output="log_likelihood" if manifest.kind == "lan" else "logit_p_upper",
        non_decision_time=ndt,
    )
    save_network(out_dir, config, fitted.layers)
    return read_network(out_dir)


def _start_from(
    model: Any, path: Path, manifest: Manifest, settings: TrainSettings, spec: ModelSpec
) -> None:
    """Load the weights of the network at ``path`` into ``model``, if its layout matches
    (its parameters and non-decision time checked against ``spec``)."""
    network = read_network(path, spec)
    config = network.config
    mine = (manifest.kind, manifest.columns[:-1], settings.hidden, settings.rt_feature)
    theirs = (config.kind, config.inputs, config.hidden, config.settings.rt_feature)
    for field, a, b in zip(("kind", "inputs", "hidden", "rt_feature"), theirs, mine, strict=True):
        if a != b:
            raise SsmhubError(
                f"{path}: cannot start from this network: its {field} is {a}, not {b}"
            )
    for layer, (kernel, bias) in zip(model.layers, network.weights, strict=True):
        layer.kernel[...] = kernel
        layer.bias[...] = bias


def _exact_gradient(manifest: Manifest) -> Callable[[Any], Any]:
    """Per-row gradient of the exact log-likelihood with respect to the parameters."""
    import jax

    from ssmhub.plugins import get_manager

    manager = get_manager()
    exact = manager.find_likelihood(manager.catalog.get(manifest.model), "exact")
    if manifest.kind != "lan" or exact is None:
        raise SsmhubError(
            f"gradient_weight: Sobolev training needs LAN data of a model with an exact "
            f"likelihood; {manifest.model!r} {manifest.kind} has none"
        )
    n = len(manifest.parameter_names)

    def total(theta: Any, batch: Any) -> Any:
        return exact.logp_rt(theta, batch[:, n], batch[:, n + 1]).sum()

    return lambda batch: jax.grad(total)(batch[:, :n], batch)


def _mean(pairs: list[tuple[float, int]]) -> float:
    n = sum(w for _, w in pairs)
    return sum(v * w for v, w in pairs) / n if n else float("nan")
