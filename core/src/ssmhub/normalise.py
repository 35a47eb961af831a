"""`ssmhub normalise`: fit a LAN's correction network to its model's CPN.

What the correction is and why: `ssmhub.correction`. Its labels cost no simulation: the
LAN's mass on a response is a quadrature over rt, and JAX differentiates it, so the network
fits noise-free values and parameter gradients at parameter sets drawn from the box.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ssmhub.correction import Correction, CorrectionSettings, Quadrature
from ssmhub.errors import SsmhubError
from ssmhub.files import write_atomically
from ssmhub.likelihood import Array
from ssmhub.network import (
    PLOT,
    Network,
    command_line,
    fold_scaling,
    mlp,
    read_network,
    save_network,
)
from ssmhub.trainer import EpochReport

if TYPE_CHECKING:
    from ssmhub.network import Layers

Rows = tuple[np.ndarray, np.ndarray, np.ndarray]  # inputs, values, parameter gradients
LABEL_CHUNK = 2000  # parameter sets labelled per jitted call (x nodes LAN rows)
DEFAULT_QUADRATURE = Quadrature()


def log_mass(
    logp_rt: Callable[[Array, Array, Array], Array],
    params: Array,
    response: Array,
    t_index: int,
    quadrature: Quadrature = DEFAULT_QUADRATURE,
) -> Array:
    """Log of the probability the density ``logp_rt`` puts on each row's response.

    Gauss-Legendre in u = log(rt - t): the density's steep onset and long tail both get
    nodes, and d(rt) = e^u du. ``t_index`` is the column of t in the (N, P) ``params``.
    """
    import jax
    import jax.numpy as jnp

    x, w = np.polynomial.legendre.leggauss(quadrature.nodes)
    lo, hi = np.log(quadrature.min_decision_time), np.log(quadrature.max_decision_time)
    u = jnp.asarray((x + 1) / 2 * (hi - lo) + lo, jnp.float32)
    log_weight = jnp.asarray(np.log(w * (hi - lo) / 2), jnp.float32) + u
    n, k = params.shape[0], u.shape[0]
    at_nodes = logp_rt(
        jnp.repeat(params, k, axis=0),
        (params[:, t_index : t_index + 1] + jnp.exp(u)[None, :]).reshape(-1),
        jnp.repeat(response, k),
    ).reshape(n, k)
    return jax.nn.logsumexp(at_nodes + log_weight, axis=1)


def read_pair(lan_dir: Path, cpn_dir: Path) -> tuple[Network, Network]:
    """A LAN and a CPN of the same model, with a non-decision time to integrate rt from."""
    lan, cpn = read_network(lan_dir), read_network(cpn_dir)
    for path, net, kind in ((lan_dir, lan, "lan"), (cpn_dir, cpn, "cpn")):
        if net.config.kind != kind:
            raise SsmhubError(f"{path}: holds a {net.config.kind} network, not a {kind}")
    if (lan.config.model, lan.config.parameter_names) != (
        cpn.config.model,
        cpn.config.parameter_names,
    ):
        raise SsmhubError(
            f"{cpn_dir}: a CPN of {cpn.config.model!r} {list(cpn.config.parameter_names)}, "
            f"but the LAN is of {lan.config.model!r} {list(lan.config.parameter_names)}"
        )
    if lan.config.non_decision_time is None:
        raise SsmhubError(
            f"{lan_dir}: the network records no non_decision_time, which the quadrature over "
            "rt starts from"
        )
    return lan, cpn


def correction_labels(
    lan: Network,
    cpn: Network,
    theta: np.ndarray,
    response: np.ndarray,
    quadrature: Quadrature,
    upper: int,
) -> tuple[np.ndarray, np.ndarray]:
    """c and its parameter gradient at each row, by quadrature (see `ssmhub.correction`);
    ``upper`` is the response the CPN gives the probability of (`ModelSpec.upper_choice`)."""
    import jax
    import jax.numpy as jnp

    from ssmhub.default_plugins.network_likelihood import cpn_logp, lan_logp

    assert lan.config.non_decision_time is not None  # read_pair checks it
    t_index = lan.config.parameter_names.index(lan.config.non_decision_time)

    @jax.jit
    def labels(theta: Array, response: Array) -> tuple[Array, Array]:
        def c(theta: Array) -> Array:
            mass = log_mass(partial(lan_logp, lan), theta, response, t_index, quadrature)
            return mass - cpn_logp(cpn, upper, theta, response)

        value, pull = jax.vjp(c, theta)
        return value, pull(jnp.ones_like(value))[0]

    parts = [
        labels(jnp.asarray(theta[i : i + LABEL_CHUNK]), jnp.asarray(response[i : i + LABEL_CHUNK]))
        for i in range(0, len(theta), LABEL_CHUNK)
    ]
    values, gradients = (np.concatenate([np.asarray(p[j]) for p in parts]) for j in (0, 1))
    return values, gradients


def normalise(
    lan_dir: Path,
    cpn_dir: Path,
    out_dir: Path,
    settings: CorrectionSettings,
    on_epoch: Callable[[EpochReport], None] | None = None,
) -> Network:
    """Fit the LAN's correction to the CPN; save the LAN with it to ``out_dir``, return it."""
    from ssmhub.plugins import get_manager

    lan, cpn = read_pair(lan_dir, cpn_dir)
    spec = get_manager().catalog.get(lan.config.model)
    spec.check_kind("lan")
    names = lan.config.parameter_names
    both = [lan.config.box, cpn.config.box]  # where both networks were trained
    box = np.array([(max(b[n][0] for b in both), min(b[n][1] for b in both)) for n in names])
    rng = np.random.default_rng(settings.seed)
    n = settings.parameter_sets
    theta = rng.uniform(box[:, 0], box[:, 1], (n, len(names))).astype(np.float32)
    upper, lower = spec.upper_choice, spec.lower_choice
    response = np.where(rng.random(n) < 0.5, upper, lower).astype(np.float32)
    y, gradients = correction_labels(lan, cpn, theta, response, settings.quadrature, upper)
    finite = np.isfinite(y)
    x = np.column_stack([theta, response])[finite]
    y, gradients = y[finite], np.nan_to_num(gradients[finite])
    n_train = int(len(x) * (1 - settings.validation_fraction))
    sd = (box[:, 1] - box[:, 0]) / np.sqrt(12)
    train = (x[:n_train], y[:n_train], gradients[:n_train])
    held_out = (x[n_train:], y[n_train:], gradients[n_train:])
    layers = fit_correction(train, held_out, sd, settings, rng, on_epoch)
    error = np.asarray(mlp(layers, x[n_train:])) - y[n_train:]
    correction = Correction(
        cpn_sha256=cpn.weights_sha256,
        settings=settings,
        rms_error=float(np.sqrt(np.mean(error**2))),
        max_error=float(np.abs(error).max()),
        command=command_line(),
    )
    config = lan.config.model_copy(update={"correction": correction})
    lan_layers = [(np.asarray(k), np.asarray(b)) for k, b in lan.weights]
    save_network(out_dir, config, lan_layers, layers)
    if (lan_dir / PLOT).is_file():  # the LAN's accuracy, which its config still records
        write_atomically(out_dir / PLOT, lambda f: f.write((lan_dir / PLOT).read_bytes()))
    return read_network(out_dir)


def fit_correction(
    train: Rows,
    held_out: Rows,
    sd: np.ndarray,
    settings: CorrectionSettings,
    rng: np.random.Generator,
    on_epoch: Callable[[EpochReport], None] | None = None,
) -> Layers:
    """A tanh MLP fitted to values and parameter gradients (per ``sd`` of each parameter);
    the best on ``held_out`` is returned, its input standardisation folded in."""
    import jax
    import jax.numpy as jnp
    import optax

    p = train[2].shape[1]
    shift, scale = train[0].mean(0), train[0].std(0) + 1e-6
    per_sd = jnp.asarray(sd, jnp.float32)

    def predict(weights: Layers, rows: Array) -> Array:
        return mlp(weights, (rows - shift) / scale)

    def loss(weights: Layers, xb: Array, yb: Array, gb: Array) -> Array:
        value = jnp.mean((predict(weights, xb) - yb) ** 2)
        gx = jax.grad(lambda rows: predict(weights, rows).sum())(xb)[:, :p]
        return value + settings.gradient_weight * jnp.mean(((gx - gb) * per_sd) ** 2)

    key, weights = jax.random.key(settings.seed), []
    for a, b in itertools.pairwise([p + 1, *settings.hidden, 1]):
        key, sub = jax.random.split(key)
        weights.append((jax.random.normal(sub, (a, b)) * np.sqrt(1.0 / a), jnp.zeros(b)))
    n_train = len(train[0])
    steps = settings.epochs * (n_train // settings.batch_size)
    schedule = optax.warmup_cosine_decay_schedule(
        0.0, settings.learning_rate, steps // 20, steps, settings.learning_rate / 100
    )
    optimizer = optax.adam(schedule)
    state = optimizer.init(weights)

    @jax.jit
    def step(weights: Layers, state: optax.OptState, xb: Array, yb: Array, gb: Array) -> tuple:
        value, grads = jax.value_and_grad(loss)(weights, xb, yb, gb)
        updates, state = optimizer.update(grads, state, weights)
        return optax.apply_updates(weights, updates), state, value

    evaluate = jax.jit(loss)
    on_device = [jnp.asarray(a) for a in train]
    checked = [jnp.asarray(a) for a in held_out]
    best: tuple[float, Layers] | None = None
    for epoch in range(1, settings.epochs + 1):
        order = rng.permutation(n_train)
        losses = []
        for i in range(0, n_train - settings.batch_size + 1, settings.batch_size):
            index = order[i : i + settings.batch_size]
            weights, state, value = step(weights, state, *(a[index] for a in on_device))
            losses.append(float(value))
        val_loss = float(evaluate(weights, *checked))
        improved = best is None or val_loss < best[0]
        if improved:
            best = (val_loss, [(np.asarray(k), np.asarray(b)) for k, b in weights])
        if on_epoch:
            on_epoch(EpochReport(epoch, float(np.mean(losses)), val_loss, improved))
    assert best is not None
    return fold_scaling(best[1], shift, scale)
