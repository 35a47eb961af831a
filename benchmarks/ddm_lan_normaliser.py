"""Experiment: a normaliser network for the ddm LAN, judged by the Laplace prediction.

``inference.py --laplace-only`` shows that renormalising the LAN's density to the CPN's
choice probability removes most of the posterior shift, but by quadrature over rt that costs
128 LAN evaluations per trial. Here a small network learns the correction instead:
c(parameters, response) = log(mass the LAN puts on the response) - log P_CPN(response), from
noise-free labels computed by that quadrature (values and their gradients with respect to
the parameters, at parameter sets drawn uniformly from the box), so that a trial scores
LAN - c. Printed: the held-out error of c during training, then the predicted shift in
posterior SDs on the NeuroRacer datasets of ``inference.py``.

The LAN is whichever ``ssmhub.load_network`` finds (put a candidate in a scratch
``SSMHUB_HOME``). Run by hand: ``python benchmarks/ddm_lan_normaliser.py [--sets 1200000]
[--epochs 40] [--hidden 128] [--gradient-weight 1]``.
"""

from __future__ import annotations

import argparse
import itertools
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from inference import FREE, TRUTH, _maximum, _neuroracer_loglik, log_mass, simulate_trials

import ssmhub
from ssmhub.likelihood import Likelihood
from ssmhub.ops import guard
from ssmhub.plugins import get_manager

Weights = list[tuple[jax.Array, jax.Array]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", type=int, default=1_200_000)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--gradient-weight", type=float, default=1.0)
    args = parser.parse_args()

    spec = ssmhub.get_model("ddm")
    lan = get_manager().likelihood(spec, "lan")
    assert lan.logp_choice is not None
    assert lan.box is not None
    box = np.array([lan.box[p] for p in spec.parameter_names])

    def correction(theta: jax.Array, response: jax.Array) -> jax.Array:
        return log_mass(lan, theta, response) - lan.logp_choice(theta, response)

    @jax.jit
    def labels(theta: jax.Array, response: jax.Array) -> tuple[jax.Array, jax.Array]:
        gradient = jax.grad(lambda th: correction(th, response).sum())(theta)
        return correction(theta, response), gradient

    rng = np.random.default_rng(0)
    start = time.time()
    theta = rng.uniform(box[:, 0], box[:, 1], (args.sets, 4)).astype(np.float32)
    response = np.where(rng.random(args.sets) < 0.5, 1.0, -1.0).astype(np.float32)
    parts = [
        labels(jnp.asarray(theta[i : i + 2000]), jnp.asarray(response[i : i + 2000]))
        for i in range(0, args.sets, 2000)
    ]
    y = np.concatenate([np.asarray(p[0]) for p in parts])
    gradients = np.nan_to_num(np.concatenate([np.asarray(p[1]) for p in parts]))
    print(f"labels for {args.sets} sets: {time.time() - start:.0f}s", flush=True)

    x = np.column_stack([theta, response]).astype(np.float32)
    shift, scale = x.mean(0), x.std(0)
    n_train = int(args.sets * 0.95)
    sd = jnp.asarray((box[:, 1] - box[:, 0]) / np.sqrt(12), jnp.float32)

    def mlp(weights: Weights, rows: jax.Array) -> jax.Array:
        h = (rows - shift) / scale
        for kernel, bias in weights[:-1]:
            h = jnp.tanh(h @ kernel + bias)
        kernel, bias = weights[-1]
        return (h @ kernel + bias)[..., 0]

    weights, key = [], jax.random.key(0)
    sizes = [5, args.hidden, args.hidden, args.hidden, 1]
    for a, b in itertools.pairwise(sizes):
        key, sub = jax.random.split(key)
        weights.append((jax.random.normal(sub, (a, b)) * np.sqrt(1.0 / a), jnp.zeros(b)))
    batch = 1024
    steps = args.epochs * (n_train // batch)
    optimizer = optax.adam(optax.warmup_cosine_decay_schedule(0.0, 2e-3, steps // 20, steps, 2e-5))
    state = optimizer.init(weights)

    @jax.jit
    def step(weights: Weights, state: optax.OptState, xb: jax.Array, yb: jax.Array, gb: jax.Array):
        def loss(weights: Weights) -> jax.Array:
            value = jnp.mean((mlp(weights, xb) - yb) ** 2)
            gx = jax.grad(lambda rows: mlp(weights, rows).sum())(xb)[:, :4]
            return value + args.gradient_weight * jnp.mean(((gx - gb) * sd) ** 2)

        value, grads = jax.value_and_grad(loss)(weights)
        updates, state = optimizer.update(grads, state, weights)
        return optax.apply_updates(weights, updates), state, value

    x_train, y_train, g_train = (jnp.asarray(a[:n_train]) for a in (x, y, gradients))
    x_val, y_val = jnp.asarray(x[n_train:]), y[n_train:]
    for epoch in range(args.epochs):
        order = rng.permutation(n_train)
        for i in range(0, n_train - batch + 1, batch):
            index = order[i : i + batch]
            weights, state, _ = step(weights, state, x_train[index], y_train[index], g_train[index])
        if epoch % 5 == 4 or epoch == args.epochs - 1:
            error = np.asarray(mlp(weights, x_val)) - y_val
            print(
                f"epoch {epoch + 1}: held-out RMS {np.sqrt(np.mean(error**2)):.5f}, max "
                f"{np.abs(error).max():.4f}  {time.time() - start:.0f}s",
                flush=True,
            )

    exact = guard(get_manager().likelihood(spec, "exact"), spec, None)
    guarded = guard(lan, spec, None)

    def logp_rt(params: jax.Array, rt: jax.Array, response: jax.Array) -> jax.Array:
        rows = jnp.column_stack([params, response]).astype(jnp.float32)
        return guarded.logp_rt(params, rt, response) - mlp(weights, rows)

    corrected = Likelihood(logp_rt, guarded.logp_choice)
    print(
        "| dataset | v: shift / SD | a: shift / SD | t: shift / SD |",
        "| --- | ---: | ---: | ---: |",
        sep="\n",
    )
    with jax.enable_x64(True):
        for k in range(5):
            data = simulate_trials(500, seed=100 + k)
            loglik = _neuroracer_loglik(exact, data)
            top = _maximum(loglik, np.array([TRUTH[p] for p in FREE]))
            cov = jnp.linalg.inv(-jax.hessian(loglik)(top))
            moved = (
                cov @ jax.grad(_neuroracer_loglik(corrected, data))(top) / jnp.sqrt(jnp.diag(cov))
            )
            print(f"| {k} | " + " | ".join(f"{s:+.3f}" for s in moved) + " |", flush=True)


if __name__ == "__main__":
    main()
