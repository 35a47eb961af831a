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
from typing import ClassVar

import numpy as np

from ssmhub import fokker_planck
from ssmhub.errors import SsmhubError
from ssmhub.likelihood import Likelihood
from ssmhub.network import CARD, CONFIG, PLOT, Accuracy, Network, model_card, read_network
from ssmhub.recipe import NetworkKind, SolverGrid
from ssmhub.spec import ModelSpec

# Ten times below the angle/weibull bars on the ddm (benchmarks/pyddm_accuracy.py).
REFERENCE_GRID = SolverGrid(dt=0.0005, dx=0.001)


@dataclass(frozen=True)
class Reference:
    """Reference log-likelihoods for one parameter set."""

    log_density: Callable[[np.ndarray, np.ndarray], np.ndarray]  # (rt, response) -> logp
    p_choice: dict[int, float]  # P(response) of the choices it gives, by response code


@dataclass(frozen=True)
class ExactReference:
    """A plugin's closed-form likelihood as the reference."""

    spec: ModelSpec
    likelihood: Likelihood
    name: ClassVar[str] = "exact"

    def __call__(self, theta: dict[str, float], max_t: float) -> Reference:
        import jax

        params = np.array([[theta[n] for n in self.spec.parameter_names]])

        # In float64 whatever the process's JAX default: a reference should be the more
        # precise side, and the same in every process (a sampler may have switched x64 on).
        def log_density(rt: np.ndarray, response: np.ndarray) -> np.ndarray:
            rows = np.repeat(params, len(rt), axis=0)
            with jax.enable_x64(True):
                logp = self.likelihood.logp_rt(rows, rt, response)
                return np.asarray(logp, dtype=np.float64)

        assert self.likelihood.logp_choice is not None
        choices = np.array(self.spec.choices)
        with jax.enable_x64(True):
            rows = np.repeat(params, len(choices), axis=0)
            p = np.exp(np.asarray(self.likelihood.logp_choice(rows, choices), np.float64))
        return Reference(log_density, dict(zip(self.spec.choices, map(float, p), strict=True)))


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

    @property
    def name(self) -> str:
        return f"pyddm(dt={self.grid.dt}, dx={self.grid.dx}, richardson)"

    def __call__(self, theta: dict[str, float], max_t: float) -> Reference:
        t_dur = max_t - self.spec.non_decision_time_of(theta)
        solution = fokker_planck.solve(self.spec, theta, self.grid, t_dur)
        return Reference(solution.log_density, {self.spec.upper_choice: solution.p_upper})


class NoReferenceError(SsmhubError):
    """A model with no likelihood to measure its networks against."""


def reference_for(spec: ModelSpec) -> ExactReference | PyDDMReference:
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


N_PLOTTED = 4  # LAN parameter sets drawn in accuracy.png
N_MASS = 50  # MNLE parameter sets whose densities are integrated


@dataclass(frozen=True)
class ReferenceDraw:
    """One parameter set's trials and their reference values: what a worker sends back."""

    theta: np.ndarray
    rt: np.ndarray  # empty for a CPN
    response: np.ndarray
    log_density: np.ndarray  # the reference log-likelihood of each trial
    p_choice: dict[int, float]  # the reference P(response), by response code (`Reference`)
    curves: np.ndarray | None  # reference log-density on `plot_grid`, one row per choice


def plot_grid(spec: ModelSpec, theta_row: np.ndarray) -> np.ndarray:
    """The rts at which accuracy.png compares the densities."""
    t = spec.non_decision_time_of(dict(zip(spec.parameter_names, theta_row, strict=True)))
    return np.linspace(t + 1e-3, t + 5, 300)


def draw_reference(
    model: str,
    kind: NetworkKind,
    theta_row: np.ndarray,
    seed: int,
    n_trials: int,
    plotted: bool,
) -> ReferenceDraw:
    """Simulate one parameter set's trials and score them with the reference (the slow part,
    so it runs on the workers; the network is scored in one batch afterwards)."""
    from ssmhub.plugins import get_manager

    manager = get_manager()
    spec = manager.catalog.get(model)
    reference = reference_for(spec)
    theta = dict(zip(spec.parameter_names, map(float, theta_row), strict=True))
    empty = np.empty(0)
    if kind == "cpn":
        return ReferenceDraw(theta_row, empty, empty, empty, reference(theta, 20.0).p_choice, None)
    sim = manager.simulator(spec)({k: np.array([v]) for k, v in theta.items()}, n_trials, seed)
    rt, response = sim.rt[0], sim.response[0]
    # Solve only as far as the data (and the plot) reach: PyDDM's cost grows with it.
    ref = reference(theta, float(max(rt.max(), spec.non_decision_time_of(theta)) + 5.1))
    curves = None
    if plotted:
        grid = plot_grid(spec, theta_row)
        curves = np.stack([ref.log_density(grid, np.full(grid.size, r)) for r in spec.choices])
    return ReferenceDraw(
        theta_row, rt, response, ref.log_density(rt, response), ref.p_choice, curves
    )


def measure(
    network: Network,
    spec: ModelSpec,
    n_parameter_sets: int = 200,
    n_trials: int = 100,
    seed: int = 0,
    n_workers: int | None = 1,
    scheduler: str | None = None,
) -> tuple[Accuracy, list[ReferenceDraw]]:
    """Accuracy of ``network`` against the reference, and the reference draws behind it.

    The reference solutions are the slow part: they run here with ``n_workers=1`` and no
    ``scheduler``, else on Dask as `ssmhub.cluster.dask_client` sets it up (``None``
    workers: one per core). The parameter sets and their trials depend only on ``seed``, so
    the report does not depend on where they ran.
    """
    name = reference_for(spec).name  # and no reference (NoReferenceError) fails before work
    rng = np.random.default_rng(seed)
    box = network.config.box
    lower = np.array([box[n][0] for n in spec.parameter_names])
    upper = np.array([box[n][1] for n in spec.parameter_names])
    thetas = rng.uniform(lower, upper, size=(n_parameter_sets, len(lower)))
    kind = network.config.kind
    seeds = [int(rng.integers(2**31)) if kind != "cpn" else 0 for _ in thetas]
    plotted = [kind != "cpn" and k < N_PLOTTED for k in range(n_parameter_sets)]
    tasks = (
        [spec.name] * n_parameter_sets,
        [kind] * n_parameter_sets,
        list(thetas),
        seeds,
        [n_trials] * n_parameter_sets,
        plotted,
    )
    if n_workers == 1 and scheduler is None:
        draws = [draw_reference(*args) for args in zip(*tasks, strict=True)]
    else:
        from ssmhub.cluster import dask_client

        with dask_client(scheduler, n_workers) as client:
            draws = client.gather(client.map(draw_reference, *tasks, pure=False))
    if kind == "cpn":
        net = np.exp(np.asarray(network(thetas.astype(np.float32)), dtype=np.float64))
        err = np.abs(net - np.array([d.p_choice[spec.upper_choice] for d in draws]))
        unscored = 0
    else:
        rows = np.concatenate(
            [
                np.column_stack([np.repeat(d.theta[None, :], d.rt.size, 0), d.rt, d.response])
                for d in draws
            ]
        )
        net = np.asarray(network(rows.astype(np.float32)), dtype=np.float64)
        ref = np.concatenate([d.log_density for d in draws])
        finite = np.isfinite(ref)
        err = np.abs(net[finite] - ref[finite])
        unscored = int(np.sum(~finite))
    report = _report(name, n_parameter_sets, n_trials if kind != "cpn" else None, seed, err)
    report = report.model_copy(update={"n_unscored": unscored})
    return report, draws


def _report(
    reference: str, n_sets: int, n_trials: int | None, seed: int, err: np.ndarray
) -> Accuracy:
    """Errors in nats per trial (``n_trials`` per set), or in probability (None)."""
    return Accuracy(
        reference=reference,
        unit="nats" if n_trials else "probability",
        n_parameter_sets=n_sets,
        n_trials_per_set=n_trials or 1,
        seed=seed,
        median_abs_error=float(np.median(err)),
        p90_abs_error=float(np.quantile(err, 0.9)),
        p99_abs_error=float(np.quantile(err, 0.99)),
        max_abs_error=float(np.max(err)),
    )


def choice_accuracy(
    network: Network, spec: ModelSpec, draws: list[ReferenceDraw], reference: str, seed: int
) -> Accuracy:
    """An MNLE's error in P(choice) against the reference at the draws' parameters, over
    every choice the reference gives (all of them for a closed form; PyDDM's, the upper).

    The network's probability is that of deciding a choice within its horizon; the
    reference's may have no horizon, so the two differ by at most the undecided share.
    """
    import jax.numpy as jnp

    from ssmhub.mnle import choice_index, log_choice_probability

    thetas = np.stack([d.theta for d in draws]).astype(np.float32)
    head = network.head(thetas)
    err = []
    for choice in draws[0].p_choice:
        index = choice_index(jnp.full(len(thetas), choice), spec.choices)
        net = np.exp(np.asarray(log_choice_probability(head, index), np.float64))
        err.append(np.abs(net - np.array([d.p_choice[choice] for d in draws])))
    return _report(reference, len(draws), None, seed, np.concatenate(err))


def mass_error(network: Network, thetas: np.ndarray) -> float:
    """The largest |integral over rt of p(rt | choice) - 1| of an MNLE, over ``thetas`` and
    choices: the check that its densities are normalised, measured rather than assumed.

    Trapezoid rule in y = log decision time, over the reach of the mixture's own components
    (12 SDs either side of each) in steps of a tenth of the narrowest: a choice the model
    almost never makes can have its components far outside any fixed range of rts.
    """
    import jax.numpy as jnp

    from ssmhub.mnle import log_rt_density

    head = network.head(thetas.astype(np.float32))
    worst = 0.0
    for k in range(len(network.config.choices or ())):
        for row in range(len(thetas)):
            one = type(head)(*(x[row : row + 1] for x in head))
            mean = np.asarray(one.mean[0, k], np.float64)
            sd = np.exp(np.asarray(one.log_sd[0, k], np.float64))
            lo, hi = float(np.min(mean - 12 * sd)), float(np.max(mean + 12 * sd))
            n = int(np.clip((hi - lo) / (sd.min() / 10), 20_001, 400_001))
            y = np.linspace(lo, hi, n)
            log_p = log_rt_density(one, jnp.full(y.size, k), jnp.asarray(y, jnp.float32))
            density = np.exp(np.asarray(log_p, np.float64) + y)  # per unit of y
            worst = max(worst, abs(float(np.trapezoid(density, y)) - 1.0))
    return worst


def evaluate(
    path: Path,
    n_parameter_sets: int = 200,
    n_trials: int = 100,
    seed: int = 0,
    plot: bool = True,
    n_workers: int | None = 1,
    scheduler: str | None = None,
) -> Accuracy:
    """Measure a network's accuracy (see `measure` for ``n_workers`` and ``scheduler``),
    record it in its config and card, and plot it."""
    from ssmhub.files import write_text_atomically
    from ssmhub.plugins import get_manager

    model = read_network(path).config.model
    spec = get_manager().catalog.get(model)
    network = read_network(path, spec)
    report, draws = measure(
        network, spec, n_parameter_sets, n_trials, seed, n_workers=n_workers, scheduler=scheduler
    )
    metrics = {**network.config.metrics, "accuracy": report.model_dump()}
    if network.config.kind == "mnle":
        thetas = np.stack([d.theta for d in draws])
        metrics["choice_accuracy"] = choice_accuracy(
            network, spec, draws, report.reference, seed
        ).model_dump()
        metrics["mass_error"] = mass_error(network, thetas[:N_MASS])
    config = network.config.model_copy(update={"metrics": metrics})
    write_text_atomically(path / CONFIG, config.model_dump_json(indent=2))
    write_text_atomically(path / CARD, model_card(config))
    if plot:
        _plot(path / PLOT, network, spec, draws)
    return report


def _plot(out: Path, network: Network, spec: ModelSpec, draws: list[ReferenceDraw]) -> None:
    from ssmhub.plots import save_figure, subplots

    if network.config.kind == "cpn":
        thetas = np.stack([d.theta for d in draws]).astype(np.float32)
        fig, ax = subplots(figsize=(4.5, 4))
        reference = [d.p_choice[spec.upper_choice] for d in draws]
        ax.scatter(reference, np.exp(np.asarray(network(thetas))), s=8)
        ax.plot([0, 1], [0, 1], color="grey", lw=0.8)
        upper = spec.meaning(spec.upper_choice)
        ax.set_xlabel(f"reference P({upper})")
        ax.set_ylabel(f"network P({upper})")
    else:
        plotted = [d for d in draws if d.curves is not None]
        fig, axes = subplots(1, len(plotted), figsize=(4 * len(plotted), 3.5), squeeze=False)
        for ax, draw in zip(axes[0], plotted, strict=True):
            grid = plot_grid(spec, draw.theta)
            for k, (curve, response) in enumerate(zip(draw.curves, spec.choices, strict=True)):
                resp = np.full_like(grid, response)
                rows = np.column_stack([np.repeat(draw.theta[None], len(grid), 0), grid, resp])
                net = np.exp(np.asarray(network(rows.astype(np.float32))))
                meaning = spec.meaning(response)
                ax.plot(grid, np.exp(curve), color=f"C{k}", lw=1, label=f"{meaning}: reference")
                ax.plot(grid, net, color=f"C{k}", lw=1, ls="--", label=f"{meaning}: network")
            ax.set_title(
                ", ".join(
                    f"{n}={x:.2f}" for n, x in zip(spec.parameter_names, draw.theta, strict=True)
                ),
                fontsize=7,
            )
            ax.set_xlabel("rt (s)")
            ax.set_ylabel("density")
        axes[0][0].legend(fontsize=7)
    fig.suptitle(f"{network.config.model} {network.config.kind}: network vs reference")
    fig.tight_layout()
    save_figure(fig, out)
