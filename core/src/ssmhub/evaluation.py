"""How accurate is a network? Errors against a reference likelihood on data from the model.

Parameters are drawn uniformly from the network's training box and trials from the model's
simulator, so errors are weighted where data actually fall. The reference is the model's
closed-form likelihood when a plugin registers one named ``exact`` (the ddm), otherwise a
Fokker-Planck solution from PyDDM on a grid fine enough to be checked against the exact ddm
density first (see ``benchmarks/``). A model with neither (one whose training labels come from
KDE over simulations, such as ``levy``) has no reference: measuring it raises
`NoReferenceError` before any work, and its networks are checked by parameter recovery
instead (``benchmarks/recovery.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ssmhub import fokker_planck
from ssmhub.errors import SsmhubError
from ssmhub.likelihood import Likelihood
from ssmhub.network import CARD, CONFIG, Accuracy, Network, model_card, read_network
from ssmhub.recipe import SolverGrid
from ssmhub.spec import ModelSpec

# Ten times below the angle/weibull bars on the ddm (benchmarks/pyddm_accuracy.py).
REFERENCE_GRID = SolverGrid(dt=0.0005, dx=0.001)


@dataclass(frozen=True)
class Reference:
    """Reference log-likelihoods for one parameter set."""

    name: str
    log_density: Callable[[np.ndarray, np.ndarray], np.ndarray]  # (rt, response) -> logp
    p_upper: float


@dataclass(frozen=True)
class ExactReference:
    """A plugin's closed-form likelihood as the reference."""

    spec: ModelSpec
    likelihood: Likelihood

    def __call__(self, theta: dict[str, float], max_t: float) -> Reference:
        params = np.array([[theta[n] for n in self.spec.parameter_names]])

        def log_density(rt: np.ndarray, response: np.ndarray) -> np.ndarray:
            rows = np.repeat(params, len(rt), axis=0)
            return np.asarray(self.likelihood.logp_rt(rows, rt, response), dtype=np.float64)

        assert self.likelihood.logp_choice is not None
        p = float(np.exp(self.likelihood.logp_choice(params, np.array([1]))[0]))
        return Reference("exact", log_density, p)


@dataclass(frozen=True)
class PyDDMReference:
    """ssmhub's Fokker-Planck solution (PyDDM), on a grid finer than the labels'."""

    spec: ModelSpec
    grid: SolverGrid = REFERENCE_GRID

    def __post_init__(self) -> None:
        try:
            fokker_planck.check_solvable(self.spec)
        except SsmhubError as exc:
            raise SsmhubError(f"no reference likelihood: {exc}") from None

    def __call__(self, theta: dict[str, float], max_t: float) -> Reference:
        t_dur = max_t - theta.get("t", 0.0)
        solution = fokker_planck.solve(self.spec, theta, self.grid, t_dur)
        name = f"pyddm(dt={self.grid.dt}, dx={self.grid.dx}, richardson)"
        return Reference(name, solution.log_density, solution.p_upper)


class NoReferenceError(SsmhubError):
    """A model with no likelihood to measure its networks against."""


def reference_for(spec: ModelSpec) -> Callable[[dict[str, float], float], Reference]:
    """The exact likelihood if a plugin registers one for ``spec``, else PyDDM.

    Raises `NoReferenceError` for a model with neither.
    """
    from ssmhub.plugins import get_manager

    exact = get_manager().find_likelihood(spec, "exact")
    if exact is not None:
        return ExactReference(spec, exact)
    try:
        fokker_planck.check_solvable(spec)
    except SsmhubError as exc:
        why = str(exc).removesuffix("; use 'kde'")
        raise NoReferenceError(
            f"model {spec.name!r} has no reference likelihood to measure a network against: no "
            f"plugin registers an 'exact' likelihood for it, and {why}. Its accuracy cannot be "
            "measured this way; check its networks by parameter recovery instead "
            "(benchmarks/recovery.py)"
        ) from None
    return PyDDMReference(spec)


def has_reference(spec: ModelSpec) -> bool:
    """Whether `reference_for` has a reference likelihood for ``spec``."""
    try:
        reference_for(spec)
    except NoReferenceError:
        return False
    return True


def measure(
    network: Network,
    spec: ModelSpec,
    n_parameter_sets: int = 200,
    n_trials: int = 100,
    seed: int = 0,
) -> tuple[Accuracy, list[Any]]:
    """Accuracy of ``network`` against the reference, and a few examples to plot."""
    from ssmhub.plugins import get_manager

    reference = reference_for(spec)
    simulator = get_manager().simulator(spec)
    rng = np.random.default_rng(seed)
    box = network.config.box
    lower = np.array([box[n][0] for n in spec.parameter_names])
    upper = np.array([box[n][1] for n in spec.parameter_names])
    t_index = spec.parameter_names.index("t") if "t" in spec.parameter_names else None
    errors, name, examples, unscored = [], "", [], 0
    for theta_row in rng.uniform(lower, upper, size=(n_parameter_sets, len(lower))):
        theta = dict(zip(spec.parameter_names, map(float, theta_row), strict=True))
        if network.config.kind == "cpn":
            ref = reference(theta, 20.0)
            net_p = float(np.exp(network(theta_row[None, :].astype(np.float32))[0]))
            errors.append(np.array([abs(net_p - ref.p_upper)]))
            examples.append((theta_row, net_p, ref.p_upper))
            name = ref.name
            continue
        seed_k = int(rng.integers(2**31))
        sim = simulator({k: np.array([v]) for k, v in theta.items()}, n_trials, seed_k)
        rt, response = sim.rt[0], sim.response[0]
        # Solve only as far as the data (and the plots) reach: PyDDM's cost grows with it.
        t = theta_row[t_index] if t_index is not None else 0.0
        ref = reference(theta, float(max(rt.max(), t) + 5.1))
        ref_logp = ref.log_density(rt, response)
        rows = np.column_stack([np.repeat(theta_row[None, :], n_trials, 0), rt, response])
        net_logp = np.asarray(network(rows.astype(np.float32)), dtype=np.float64)
        finite = np.isfinite(ref_logp)
        unscored += int(np.sum(~finite))
        errors.append(np.abs(net_logp[finite] - ref_logp[finite]))
        if len(examples) < 4:
            examples.append((theta_row, ref))
        name = ref.name
    err = np.concatenate(errors)
    report = Accuracy(
        reference=name,
        unit="nats" if network.config.kind == "lan" else "probability",
        n_parameter_sets=n_parameter_sets,
        n_trials_per_set=n_trials if network.config.kind == "lan" else 1,
        seed=seed,
        median_abs_error=float(np.median(err)),
        p90_abs_error=float(np.quantile(err, 0.9)),
        p99_abs_error=float(np.quantile(err, 0.99)),
        max_abs_error=float(np.max(err)),
        n_unscored=unscored,
    )
    return report, examples


def evaluate(
    path: Path,
    n_parameter_sets: int = 200,
    n_trials: int = 100,
    seed: int = 0,
    plot: bool = True,
) -> Accuracy:
    """Measure a network's accuracy, record it in its config and card, and plot it."""
    from ssmhub.files import write_text_atomically
    from ssmhub.plugins import get_manager

    model = read_network(path).config.model
    spec = get_manager().catalog.get(model)
    network = read_network(path, spec)
    report, examples = measure(network, spec, n_parameter_sets, n_trials, seed)
    config = network.config.model_copy(
        update={"metrics": {**network.config.metrics, "accuracy": report.model_dump()}}
    )
    write_text_atomically(path / CONFIG, config.model_dump_json(indent=2))
    write_text_atomically(path / CARD, model_card(config))
    if plot:
        _plot(path / "accuracy.png", network, spec, examples)
    return report


def _plot(out: Path, network: Network, spec: ModelSpec, examples: list[Any]) -> None:

    from ssmhub.plots import pyplot, save_figure

    plt = pyplot()

    if network.config.kind == "cpn":
        fig, ax = plt.subplots(figsize=(4.5, 4))
        ref = np.array([e[2] for e in examples])
        net = np.array([e[1] for e in examples])
        ax.scatter(ref, net, s=8)
        ax.plot([0, 1], [0, 1], color="grey", lw=0.8)
        ax.set_xlabel("reference P(response = +1)")
        ax.set_ylabel("network P(response = +1)")
    else:
        fig, axes = plt.subplots(1, len(examples), figsize=(4 * len(examples), 3.5), squeeze=False)
        for ax, (theta_row, ref) in zip(axes[0], examples, strict=True):
            t = theta_row[spec.parameter_names.index("t")] if "t" in spec.parameter_names else 0
            grid = np.linspace(t + 1e-3, t + 5, 300)
            for response, sign in ((1, 1), (-1, -1)):
                resp = np.full_like(grid, response)
                rows = np.column_stack([np.repeat(theta_row[None], len(grid), 0), grid, resp])
                net = np.exp(np.asarray(network(rows.astype(np.float32))))
                ax.plot(grid, sign * np.exp(ref.log_density(grid, resp)), color="black", lw=1)
                ax.plot(grid, sign * net, color="tab:orange", lw=1, ls="--")
            ax.set_title(
                ", ".join(
                    f"{n}={x:.2f}" for n, x in zip(spec.parameter_names, theta_row, strict=True)
                ),
                fontsize=7,
            )
            ax.set_xlabel("rt (s); response -1 drawn below zero")
        axes[0][0].legend(["reference", "network"], fontsize=7)
    fig.suptitle(f"{network.config.model} {network.config.kind}: network vs reference")
    fig.tight_layout()
    save_figure(fig, out)
