"""Experiment: fine-tune a ddm LAN with a term on the probability mass its density holds.

The fidelity benchmark (``inference.py --laplace-only``) traces most of the LAN's posterior
shift to the choice probability its density integrates to. This adds to ``ssmhub train``'s
value loss (Huber, labels floored at -20) ``weight`` times the squared error of the LAN's
log mass per response, against the exact density's on the same nodes (Gauss-Legendre in
log decision time, 1 ms to 20 s), at 64 parameter sets drawn from the box each step. The
exact density makes it a ddm-only experiment; docs/benchmarks.md reports what it gave.

    python benchmarks/ddm_lan_mass_term.py START WEIGHT STEPS OUT PEAK_LR
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ssmhub.generate import load_shard, read_manifest
from ssmhub.network import mlp, read_network, save_network
from ssmhub_ddm.exact import logpdf

FLOOR, NODES, SETS, BATCH, PARAMETERS = -20.0, 96, 64, 4096, ("v", "a", "z", "t")
Weights = list[tuple[jax.Array, jax.Array]]

x, w = np.polynomial.legendre.leggauss(NODES)
U_LO, U_HI = np.log(1e-3), np.log(20.0)
U = jnp.asarray((x + 1) / 2 * (U_HI - U_LO) + U_LO, jnp.float32)
LOG_WEIGHT = jnp.asarray(np.log(w * (U_HI - U_LO) / 2), jnp.float32) + U  # d(rt) = e^u du


def quadrature_rows(theta: jax.Array) -> jax.Array:
    """(B, 4) parameter sets -> (B, 2, NODES, 6) LAN rows, responses +1 and -1."""
    shape = (theta.shape[0], 2, NODES)
    rt = theta[:, None, None, 3] + jnp.exp(U)[None, None, :]
    response = jnp.asarray([1.0, -1.0])[None, :, None]
    return jnp.concatenate(
        [
            jnp.broadcast_to(theta[:, None, None, :], (*shape, 4)),
            jnp.broadcast_to(rt, shape)[..., None],
            jnp.broadcast_to(response, shape)[..., None],
        ],
        axis=-1,
    )


def log_mass(log_density: jax.Array) -> jax.Array:
    return jax.scipy.special.logsumexp(log_density + LOG_WEIGHT, axis=-1)


def exact_log_mass(theta: jax.Array) -> jax.Array:
    rows = quadrature_rows(theta).reshape(-1, 6)
    exact = logpdf(rows[:, :4], rows[:, 4], rows[:, 5]).reshape(theta.shape[0], 2, NODES)
    return log_mass(exact.astype(jnp.float32))


def losses(
    weights: Weights, batch: jax.Array, theta: jax.Array, target: jax.Array
) -> tuple[jax.Array, jax.Array]:
    value = optax.huber_loss(mlp(weights, batch[:, :6]), jnp.maximum(batch[:, 6], FLOOR)).mean()
    error = (log_mass(mlp(weights, quadrature_rows(theta))) - target) ** 2
    # Only responses with real mass: below 1e-3 the LAN's mass is its far tail.
    return value, jnp.where(target > jnp.log(1e-3), error, 0.0).mean()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("start", type=Path)
    parser.add_argument("weight", type=float)
    parser.add_argument("steps", type=int)
    parser.add_argument("out", type=Path)
    parser.add_argument("peak_lr", type=float)
    parser.add_argument("--data", type=Path, default=Path("out/ddm-lan/data"))
    args = parser.parse_args()

    network = read_network(args.start)
    weights = [(jnp.asarray(k), jnp.asarray(b)) for k, b in network.weights]
    manifest = read_manifest(args.data)
    lo, hi = (jnp.asarray([manifest.box[n][i] for n in PARAMETERS], jnp.float32) for i in (0, 1))
    schedule = optax.warmup_cosine_decay_schedule(
        0.0, args.peak_lr, max(1, args.steps // 20), args.steps, args.peak_lr * 0.02
    )
    optimizer = optax.adam(schedule)
    state = optimizer.init(weights)

    def loss(weights: Weights, batch: jax.Array, theta: jax.Array, target: jax.Array) -> jax.Array:
        value, mass = losses(weights, batch, theta, target)
        return value + args.weight * mass

    @jax.jit
    def step(weights: Weights, state: optax.OptState, batch: jax.Array, key: jax.Array):
        theta = lo + (hi - lo) * jax.random.uniform(key, (SETS, 4))
        value, grads = jax.value_and_grad(loss)(weights, batch, theta, exact_log_mass(theta))
        updates, state = optimizer.update(grads, state, weights)
        return optax.apply_updates(weights, updates), state, value

    @jax.jit
    def evaluate(weights: Weights, batch: jax.Array, key: jax.Array):
        theta = lo + (hi - lo) * jax.random.uniform(key, (1024, 4))
        return losses(weights, batch, theta, exact_log_mass(theta))

    # ssmhub train's held-out rule: 5 % of each shard's rows, seeded by the shard's index.
    def held_out(index: int, n: int) -> np.ndarray:
        return np.random.default_rng([0, index]).random(n) < 0.05

    shards = sorted(manifest.shards, key=lambda s: s.index)
    validation = []
    for shard in shards[:20]:
        rows = np.asarray(load_shard(args.data, shard))
        validation.append(rows[held_out(shard.index, len(rows))])
    val = jnp.asarray(np.concatenate(validation), jnp.float32)

    def report(tag: str) -> None:
        parts = [
            evaluate(weights, val[i : i + 8192], jax.random.key(99 + i))
            for i in range(0, len(val), 8192)
        ]
        value, mass = (np.mean([p[j] for p in parts]) for j in (0, 1))
        print(f"{tag}: value {value:.6f} mass {mass:.3e}", flush=True)

    report("start")
    rng, key, done, t0 = np.random.default_rng(1), jax.random.key(0), 0, time.time()
    while done < args.steps:
        for i in rng.permutation(len(shards)):
            rows = np.asarray(load_shard(args.data, shards[i]))
            kept = ~held_out(shards[i].index, len(rows))
            rows = rows[kept][rng.permutation(int(kept.sum()))]
            for j in range(0, len(rows) - BATCH + 1, BATCH):
                key, sub = jax.random.split(key)
                batch = jnp.asarray(rows[j : j + BATCH], jnp.float32)
                weights, state, value = step(weights, state, batch, sub)
                done += 1
                if done % 5000 == 0:
                    print(done, float(value), f"{time.time() - t0:.0f}s", flush=True)
                    report(f"step {done}")
                if done >= args.steps:
                    break
            if done >= args.steps:
                break
    report("end")
    command = "python benchmarks/ddm_lan_mass_term.py " + " ".join(
        str(a) for a in (args.start, args.weight, args.steps, args.out, args.peak_lr)
    )
    config = network.config.model_copy(update={"command": command})
    save_network(args.out, config, [(np.asarray(k), np.asarray(b)) for k, b in weights])
    print("saved", args.out)


if __name__ == "__main__":
    main()
