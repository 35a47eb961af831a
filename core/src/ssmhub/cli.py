"""The ``ssmhub`` command. Heavy libraries are imported inside commands, so --help is quick."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, get_args

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ssmhub.errors import SsmhubError
from ssmhub.files import write_text_atomically
from ssmhub.plugins import get_manager
from ssmhub.recipe import NetworkKind

if TYPE_CHECKING:
    import pandas as pd
    from pydantic import BaseModel

    from ssmhub.recipe import Recipe
    from ssmhub.spec import ModelSpec
    from ssmhub.trainer import EpochReport

app = typer.Typer(
    name="ssmhub",
    help="Sequential sampling models: simulate, train neural likelihoods, fit with PyMC.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
plot_app = typer.Typer(help="Pictures of models and networks.", no_args_is_help=True)
app.add_typer(plot_app, name="plot")
demo_app = typer.Typer(help="Worked analyses on simulated data.", no_args_is_help=True)
app.add_typer(demo_app, name="demo")

Sampler = Annotated[str, typer.Option(help="NUTS sampler: pymc, numpyro or blackjax.")]
Draws = Annotated[int, typer.Option(help="Posterior draws per chain.")]
Tune = Annotated[int, typer.Option(help="Tuning steps per chain.")]
Chains = Annotated[int, typer.Option(help="Chains (run in parallel where the sampler can).")]
Seed = Annotated[int, typer.Option(help="Random seed.")]
# The Dask cluster of `generate` and `evaluate`.
Scheduler = Annotated[str | None, typer.Option(help="Address of a running Dask scheduler.")]
Workers = Annotated[
    int | None, typer.Option(help="Workers of the local cluster (default: one per core).")
]


@app.command()
def models() -> None:
    """List the installed models with their parameters and bounds."""
    manager = get_manager()
    table = Table("model", r"parameters \[lower, upper]", "plugin")
    for name in manager.catalog.names():
        spec = manager.catalog.specs[name]
        params = ", ".join(f"{p.name} [{p.lower:g}, {p.upper:g}]" for p in spec.parameters)
        table.add_row(name, params, manager.records[manager.catalog.owners[name]].distribution)
    console.print(table)


@app.command()
def info(model: Annotated[str, typer.Argument(help="Model name, e.g. ddm.")]) -> None:
    """Show one model: its description, parameters, choices and recipes."""
    manager = get_manager()
    spec = manager.catalog.get(model)
    owner = manager.records[manager.catalog.owners[model]]
    console.print(f"[bold]{spec.name}[/bold] ({owner.distribution} {owner.version})")
    console.print(spec.description, markup=False, highlight=False)  # a plugin's text, verbatim
    table = Table("parameter", "lower", "upper", "default", "description")
    for p in spec.parameters:
        table.add_row(
            p.name, f"{p.lower:g}", f"{p.upper:g}", f"{p.default:g}", escape(p.description)
        )
    console.print(table)
    meanings = ", ".join(f"{c}: {spec.meaning(c)}" for c in spec.choices)
    console.print(f"choices: {list(spec.choices)} ({escape(meanings)})")
    console.print(f"non-decision time: {spec.non_decision_time or '(none)'}")
    console.print(f"ssm-simulators model: {spec.ssms_model or '(own simulator)'}")
    for kind in spec.network_kinds:
        console.print(_recipe_in_force(spec, manager.recipe(spec, kind)), markup=False)


def _recipe_in_force(spec: ModelSpec, recipe: Recipe) -> str:
    """A recipe as `info` shows it and `generate` announces it: its cost, before anyone
    spends it, and the box it samples, where it narrows the spec's bounds included."""
    try:
        box = recipe.resolved_box(spec)
    except ValueError as exc:  # a hook's recipe is checked only when used: show why not
        ranges = f"invalid: {exc}"
    else:
        bounds = {p.name: (p.lower, p.upper) for p in spec.parameters}
        ranges = ", ".join(
            f"{name} [{lo:g}, {hi:g}]" + ("" if (lo, hi) == bounds[name] else " (narrowed)")
            for name, (lo, hi) in box.items()
        )
    return f"{recipe.kind} recipe: estimator={recipe.estimator}, {recipe.cost()}; box: {ranges}"


@app.command()
def plugins() -> None:
    """List the loaded plugins, the hooks they implement, and any error."""
    manager = get_manager()
    manager.trainers()  # run the registration hooks that are otherwise run lazily,
    manager.likelihoods()  # so that their failures show here too
    table = Table("plugin", "distribution", "version", "hooks", "status")
    for record in manager.records.values():
        status = (
            "[green]ok[/green]"
            if not record.errors
            else "[red]error[/red]\n" + "\n".join(record.errors)
        )
        table.add_row(
            record.name, record.distribution, record.version, ", ".join(record.hooks), status
        )
    console.print(table)


@app.command("new-plugin")
def new_plugin(
    name: Annotated[str, typer.Argument(help="Name of the model and plugin, e.g. ornstein.")],
    from_ssms: Annotated[
        str | None,
        typer.Option("--from-ssms", help="Fill the spec from this ssm-simulators model."),
    ] = None,
    directory: Annotated[
        Path, typer.Option("--dir", help="Where to create the plugin's folder NAME.")
    ] = Path("."),
) -> None:
    """Create a plugin distribution ssmhub-NAME that installs and passes its tests as made."""
    from ssmhub.scaffold import new_plugin as run

    root = run(name, directory, from_ssms)
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        console.print(f"wrote {path}")
    console.print(
        f"next: pip install -e '{root}[test]', then pytest {root / 'tests'}; "
        f"fill in what is marked FILL IN in {root / 'src' / f'ssmhub_{name}' / '__init__.py'}",
        markup=False,
        highlight=False,
    )


def _parse_theta(text: str) -> dict[str, float]:
    theta: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        if not sep:
            raise SsmhubError(f"--theta: {item!r} is not of the form name=value")
        try:
            theta[name.strip()] = float(value)
        except ValueError:
            raise SsmhubError(
                f"--theta: value of {name.strip()!r} is not a number: {value!r}"
            ) from None
    return theta


@app.command()
def simulate(
    model: Annotated[str, typer.Argument(help="Model name, e.g. ddm.")],
    theta: Annotated[str, typer.Option(help="Parameter values, e.g. v=1,a=1.5,z=0.5,t=0.3.")],
    n: Annotated[int, typer.Option("-n", help="Number of trials.")] = 1000,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write the trials to this CSV file.")
    ] = None,
) -> None:
    """Simulate trials; write them as CSV or print a summary."""
    from ssmhub.simulation import simulate as run

    data = run(model, _parse_theta(theta), n=n, seed=seed)
    if output is not None:
        write_text_atomically(output, data.to_csv(index=False))
        console.print(f"wrote {len(data)} trials to {output}")
        return
    table = Table(
        "response",
        "trials",
        "share",
        "mean rt",
        "rt 10%",
        "rt 50%",
        "rt 90%",
        title=f"{model}: {n} simulated trials",
    )
    for response, group in data.groupby("response"):
        q = group["rt"].quantile([0.1, 0.5, 0.9]).to_numpy()
        table.add_row(
            str(response),
            str(len(group)),
            f"{len(group) / len(data):.3f}",
            f"{group['rt'].mean():.3f}",
            *(f"{x:.3f}" for x in q),
        )
    console.print(table)


@app.command()
def generate(
    model: Annotated[str, typer.Argument(help="Model name, e.g. ddm.")],
    out: Annotated[Path, typer.Option(help="Directory for the shards and manifest.")],
    kind: Annotated[str, typer.Option(help="Network kind: lan, cpn or mnle.")] = "lan",
    recipe: Annotated[
        Path | None, typer.Option(help="Recipe JSON; default: the model's own recipe.")
    ] = None,
    parameter_sets: Annotated[int | None, typer.Option(help="Override n_parameter_sets.")] = None,
    seed: Annotated[int | None, typer.Option(help="Override the recipe's seed.")] = None,
    scheduler: Scheduler = None,
    workers: Workers = None,
) -> None:
    """Generate training data as checksummed shards; a rerun finishes what is missing."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from ssmhub.generate import Manifest, Shard
    from ssmhub.generate import generate as run
    from ssmhub.recipe import Recipe, load_recipe

    if kind not in get_args(NetworkKind):
        raise SsmhubError(f"--kind must be 'lan', 'cpn' or 'mnle', got {kind!r}")
    manager = get_manager()
    spec = manager.catalog.get(model)
    spec.check_kind(kind)
    chosen = manager.recipe(spec, kind)
    if recipe:
        chosen = load_recipe(recipe, base=chosen)
    overrides = {"n_parameter_sets": parameter_sets, "seed": seed}
    chosen = chosen.model_copy(update={k: v for k, v in overrides.items() if v is not None})
    chosen = Recipe.model_validate(chosen.model_dump())
    console.print(_recipe_in_force(spec, chosen), markup=False)
    with Progress(
        "{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        "shards",
        "{task.fields[rows]} rows",
        TimeRemainingColumn(),
        console=console,
    ) as progress:
        task = progress.add_task(f"{model} {kind}", total=None, rows=0)

        def on_shard(shard: Shard, manifest: Manifest) -> None:
            progress.update(
                task,
                total=manifest.n_shards,
                completed=len(manifest.shards),
                rows=sum(s.rows for s in manifest.shards),
            )

        manifest = run(
            model, kind, out, chosen, scheduler=scheduler, n_workers=workers, on_shard=on_shard
        )
    console.print(
        f"{out}: {len(manifest.shards)} shards, {sum(s.rows for s in manifest.shards)} rows, "
        f"recipe {manifest.recipe_sha256[:12]}"
    )


@app.command()
def train(
    data_dir: Annotated[Path, typer.Argument(help="Directory made by `ssmhub generate`.")],
    out: Annotated[Path, typer.Option(help="Directory for the trained network.")],
    hidden: Annotated[str, typer.Option(help="Hidden layer sizes.")] = "100,100,100",
    epochs: Annotated[int, typer.Option(help="Most epochs (early stopping may end sooner).")] = 20,
    batch_size: Annotated[int, typer.Option(help="Rows per step.")] = 4096,
    learning_rate: Annotated[float, typer.Option(help="Peak learning rate.")] = 1e-3,
    patience: Annotated[
        int, typer.Option(help="Stop after this many epochs without a better validation loss.")
    ] = 10,
    rt_feature: Annotated[
        str, typer.Option(help="LAN input for rt: log_decision_time (log(rt - t)) or rt.")
    ] = "log_decision_time",
    gradient_weight: Annotated[
        float,
        typer.Option(
            help="Sobolev training: weight of the loss on the LAN's parameter gradient "
            "against the model's exact likelihood (0: off)."
        ),
    ] = 0.0,
    label_floor: Annotated[
        float | None,
        typer.Option(help="LAN: train log-likelihood labels below this as this value."),
    ] = None,
    components: Annotated[
        int, typer.Option(help="mnle: Gaussians per choice in the density of log(rt - t).")
    ] = 8,
    distill_weight: Annotated[
        float,
        typer.Option(
            help="mnle: weight of the loss on each trial's log-likelihood against the model's "
            "exact likelihood (0: maximum likelihood on the simulations alone)."
        ),
    ] = 0.0,
    init: Annotated[
        Path | None, typer.Option(help="Network directory to start from (fine-tuning).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Initialisation and shuffling seed.")] = 0,
) -> None:
    """Train a LAN, CPN or MNLE (as the data say) on generated shards."""
    from ssmhub.generate import read_manifest
    from ssmhub.trainer import TrainSettings

    settings = _settings(
        TrainSettings,
        hidden,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        patience=patience,
        rt_feature=rt_feature,
        gradient_weight=gradient_weight,
        label_floor=label_floor,
        components=components,
        distill_weight=distill_weight,
        init=init,
        seed=seed,
    )
    kind = read_manifest(data_dir).kind
    trainer = get_manager().trainers().get(kind)
    if trainer is None:
        raise SsmhubError(f"no trainer registered for {kind} networks")
    with epoch_progress(f"train {kind}", epochs) as on_epoch:
        trainer.train(data_dir, out, settings, on_epoch=on_epoch)
    console.print(f"saved the best network to {out}")


def _settings[S: BaseModel](cls: type[S], hidden: str, **values: Any) -> S:
    """Training settings from options; ``hidden`` is comma-separated layer sizes."""
    from pydantic import ValidationError

    try:
        return cls(hidden=tuple(int(h) for h in hidden.split(",")), **values)
    except (ValueError, ValidationError) as exc:
        raise SsmhubError(f"invalid settings: {exc}") from None


@contextmanager
def epoch_progress(description: str, epochs: int) -> Iterator[Callable[[EpochReport], None]]:
    """A progress bar over epochs, with the losses; yields the ``on_epoch`` callback."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress

    with Progress(
        "{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        "epochs",
        "{task.fields[losses]}",
        console=console,
    ) as progress:
        task = progress.add_task(description, total=epochs, losses="")

        def on_epoch(report: EpochReport) -> None:
            progress.update(
                task,
                completed=report.epoch,
                losses=(
                    f"train {report.train_loss:.4g}  validation {report.validation_loss:.4g}"
                    + (" *" if report.best else "")
                ),
            )

        yield on_epoch


@app.command()
def normalise(
    lan: Annotated[Path, typer.Argument(help="The LAN's network directory.")],
    out: Annotated[Path, typer.Option(help="Directory for the LAN with its correction.")],
    cpn: Annotated[
        Path | None,
        typer.Option(help="The CPN's network directory (default: the model's installed CPN)."),
    ] = None,
    hidden: Annotated[str, typer.Option(help="Hidden layer sizes.")] = "128,128,128",
    parameter_sets: Annotated[
        int, typer.Option(help="Parameter sets labelled by quadrature.")
    ] = 1_200_000,
    epochs: Annotated[int, typer.Option(help="Epochs.")] = 40,
    learning_rate: Annotated[float, typer.Option(help="Peak learning rate.")] = 2e-3,
    gradient_weight: Annotated[
        float, typer.Option(help="Weight of the loss on the correction's gradient.")
    ] = 1.0,
    seed: Annotated[int, typer.Option(help="Parameter draws and initialisation seed.")] = 0,
) -> None:
    """Renormalise a LAN to its CPN: fit a correction that gives each response the CPN's mass."""
    from ssmhub.correction import CorrectionSettings
    from ssmhub.network import read_network
    from ssmhub.normalise import normalise as run

    settings = _settings(
        CorrectionSettings,
        hidden,
        parameter_sets=parameter_sets,
        epochs=epochs,
        learning_rate=learning_rate,
        gradient_weight=gradient_weight,
        seed=seed,
    )
    if cpn is None:
        model = read_network(lan).config.model
        cpn = get_manager().locate_network(get_manager().catalog.get(model), "cpn")
        if cpn is None:
            raise SsmhubError(f"no CPN for model {model!r} is installed; pass --cpn DIR")
    # Labelling the sets comes first: the bar stays at 0 for minutes with the defaults.
    with epoch_progress(f"label {parameter_sets:,} sets, fit", epochs) as on_epoch:
        network = run(lan, Path(cpn), out, settings, on_epoch=on_epoch)
    assert network.config.correction is not None
    console.print(
        f"saved the LAN with its correction to {out}: held-out RMS "
        f"{network.config.correction.rms_error:.2g}, max {network.config.correction.max_error:.2g}"
        " nats"
    )


@app.command()
def evaluate(
    run_dir: Annotated[Path, typer.Argument(help="A trained network directory.")],
    parameter_sets: Annotated[int, typer.Option(help="Parameter sets drawn from the box.")] = 200,
    trials: Annotated[int, typer.Option(help="Trials simulated per parameter set (LAN).")] = 100,
    seed: Annotated[int, typer.Option(help="Seed of parameters and trials.")] = 0,
    scheduler: Scheduler = None,
    workers: Workers = None,
) -> None:
    """Measure a network against the exact or PyDDM likelihood; record it in its card."""
    from ssmhub.evaluation import evaluate as run

    report = run(
        run_dir,
        n_parameter_sets=parameter_sets,
        n_trials=trials,
        seed=seed,
        n_workers=workers,
        scheduler=scheduler,
    )
    table = Table("metric", "value", title=f"{run_dir}: accuracy against {report.reference}")
    for key in ("median_abs_error", "p90_abs_error", "p99_abs_error", "max_abs_error"):
        table.add_row(f"{key} ({report.unit})", f"{getattr(report, key):.4f}")
    if report.n_unscored:
        table.add_row("trials not scored (reference density zero)", str(report.n_unscored))
    console.print(table)


@plot_app.command("network")
def plot_network(
    model: Annotated[str, typer.Argument(help="Model name, e.g. ddm.")],
    sweep: Annotated[str, typer.Option(help="The parameter to sweep over its range.")] = "v",
    output: Annotated[Path, typer.Option("-o", "--output", help="PNG file to write.")] = Path(
        "network.png"
    ),
) -> None:
    """LAN densities over rt for a sweep of one parameter, and the CPN's choice probability."""
    from ssmhub.plots import plot_network as run

    run(model, sweep, output)
    console.print(f"wrote {output}")


def _fit_and_report(
    data: pd.DataFrame,
    settings: dict[str, Any],
    out: Path,
    trialwise: dict[str, Any] | None = None,
    truth: dict[str, float] | None = None,
    condition: str | None = None,
) -> None:
    from pydantic import ValidationError

    from ssmhub.fitting import FitConfig, model_from_plan, plan_fit, sample, write_results

    try:
        config = FitConfig(**settings)
    except ValidationError as exc:
        raise SsmhubError(f"invalid fit settings: {exc}") from None
    if condition is not None and condition not in data.columns:
        raise SsmhubError(
            f"--condition: no column {condition!r} in the data; its columns are "
            f"{', '.join(map(str, data.columns))}"
        )
    plan = plan_fit(data, config, trialwise)
    for line in plan.report():
        console.print(escape(line), soft_wrap=True)
    idata = sample(model_from_plan(data, plan, trialwise), config)
    (used,) = json.loads(idata.attrs["ssmhub"])["observed"]  # build_model adds one SSM
    summary = write_results(idata, data, out, config.model, truth=truth, by=condition)
    columns = [
        c
        for c in summary.columns
        if c in {"mean", "sd", "r_hat", "ess_bulk", "true"} or c.endswith(("_lb", "_ub"))
    ]
    table = Table(
        "parameter",
        *columns,
        title=f"posterior ({used['likelihood']} likelihood, "
        + (
            f"ADVI, {config.draws} draws)"
            if config.method == "advi"
            else f"{config.sampler}, {config.chains} x {config.draws} draws)"
        ),
    )
    for name, row in summary[columns].iterrows():
        table.add_row(str(name), *(f"{x:.3f}" for x in row))
    console.print(table)
    from ssmhub.network.origin import describe

    for net in used["networks"]:
        console.print(
            f"{net['model']} {net['kind']} network: {escape(describe(net))} "
            f"(weights sha256 {net['weights_sha256'][:12]}…)",
            soft_wrap=True,
        )
    _print_diagnostics(idata, summary, plan, data)
    console.print(f"wrote idata.nc, summary.csv, posterior.png, ppc.png and qp.png to {out}")


def _print_diagnostics(idata: Any, summary: Any, plan: Any, data: pd.DataFrame) -> None:
    from ssmhub.diagnostics import diagnose

    rts = data["rt"].dropna()
    spec = get_manager().catalog.get(plan.config.model)
    found = diagnose(
        idata,
        summary,
        plan.ranges,
        fastest_rt=float(rts.min()) if len(rts) else None,
        non_decision_time=spec.non_decision_time,
    )
    if not found:
        console.print("diagnostics: no problems found (r_hat, ESS, divergences, tree depth, edges)")
        return
    table = Table("check", "seen", "what to do", title="diagnostics", show_lines=True)
    for f in found:
        table.add_row(f.check, escape(f.seen), f.advice)
    console.print(table)


@app.command()
def fit(
    data: Annotated[Path, typer.Argument(help="CSV with columns rt and response.")],
    model: Annotated[str, typer.Option(help="Model name, e.g. ddm.")],
    out: Annotated[Path, typer.Option(help="Directory for the results.")],
    likelihood: Annotated[
        str | None,
        typer.Option(help="mnle or lan (networks), exact; default: the model's mnle, else lan."),
    ] = None,
    fix: Annotated[
        list[str] | None, typer.Option(help="Fix a parameter, e.g. z=0.5 (repeatable).")
    ] = None,
    formula: Annotated[
        list[str] | None,
        typer.Option(
            help="Regress a parameter on the data's columns, e.g. "
            "'v ~ 1 + x + (1|participant_id)' (repeatable)."
        ),
    ] = None,
    p_outlier: Annotated[
        str | None,
        typer.Option(
            help="Share of contaminant trials (uniform rt and choice): a number, or 'free'."
        ),
    ] = None,
    condition: Annotated[
        str | None,
        typer.Option(help="A column whose values are conditions: predictive plots per value."),
    ] = None,
    method: Annotated[
        str, typer.Option(help="nuts, or advi (variational: fast, SDs too small).")
    ] = "nuts",
    sampler: Sampler = "numpyro",
    draws: Draws = 1000,
    tune: Tune = 1000,
    chains: Chains = 2,
    seed: Seed = 0,
) -> None:
    """Fit a model to your trials with NUTS; an empty rt is a response without a reaction time.

    Other columns are used only by formulas: a parameter without one takes one value for
    all trials.
    """
    from ssmhub.fitting import read_trials
    from ssmhub.observed import check_observed

    fixed = _parse_theta(",".join(fix or []))
    trials = read_trials(data)
    # Checked here, before the model is built, so that a bad cell is named by its file line.
    check_observed(trials, get_manager().catalog.get(model).choices, file=data)
    _fit_and_report(
        trials,
        {
            "model": model,
            "likelihood": likelihood,
            "fixed": fixed,
            "formulas": formula or [],
            "p_outlier": p_outlier,
            "method": method,
            "sampler": sampler,
            "draws": draws,
            "tune": tune,
            "chains": chains,
            "seed": seed,
        },
        out,
        condition=condition,
    )


@app.command()
def compare(
    fits: Annotated[list[Path], typer.Argument(help="Directories written by `ssmhub fit`.")],
) -> None:
    """Rank fits of the same trials by their expected predictive accuracy (PSIS-LOO, ArviZ)."""
    import arviz as az
    import xarray as xr

    if len(fits) < 2:
        raise SsmhubError("compare needs at least two fit directories")
    fitted = {}
    for directory in fits:
        path = directory / "idata.nc"
        if not path.is_file():
            raise SsmhubError(f"{path}: no such file; give directories written by `ssmhub fit`")
        tree = xr.open_datatree(path)
        if "log_likelihood" not in tree:
            raise SsmhubError(f"{path}: no pointwise log-likelihood to compare by")
        fitted[str(directory)] = tree
    trials = {
        name: {
            d: n for d, n in tree.log_likelihood.dataset.sizes.items() if d not in ("chain", "draw")
        }
        for name, tree in fitted.items()
    }
    if len({tuple(sorted(t.items())) for t in trials.values()}) > 1:
        raise SsmhubError(
            "the fits scored different trials, so LOO cannot compare them: "
            + "; ".join(f"{name}: {t}" for name, t in trials.items())
        )
    ranked = az.compare(fitted)
    table = Table("fit", *map(str, ranked.columns), title="PSIS-LOO, best first")
    for name, row in ranked.iterrows():
        table.add_row(
            escape(str(name)),
            *(escape(f"{x:.3f}" if isinstance(x, float) else str(x)) for x in row),
        )
    console.print(table)


@demo_app.command("neuroracer")
def demo_neuroracer(
    out: Annotated[Path, typer.Option(help="Directory for the results.")] = Path("neuroracer"),
    likelihood: Annotated[
        str | None,
        typer.Option(help="mnle or lan (networks), exact; default: the model's mnle, else lan."),
    ] = None,
    sampler: Sampler = "numpyro",
    draws: Draws = 2000,
    tune: Tune = 500,
    chains: Chains = 2,
    seed: Seed = 0,
) -> None:
    """The NeuroRacer go/no-go analysis: 500 Go and 500 NoGo trials, v flipped for NoGo."""
    from ssmhub.neuroracer import TRUTH, simulate_trials

    data = simulate_trials(500, seed=seed)
    console.print(
        f"simulated {len(data)} trials at {TRUTH}; "
        f"{int(data['rt'].isna().sum())} withheld presses have no reaction time"
    )
    _fit_and_report(
        data,
        {
            "model": "ddm",
            "likelihood": likelihood,
            "fixed": {"z": TRUTH["z"]},
            "sampler": sampler,
            "draws": draws,
            "tune": tune,
            "chains": chains,
            "seed": seed,
        },
        out,
        trialwise={"v": data["condition"].to_numpy()},
        truth=TRUTH,
    )


def one_jax_device_per_core() -> None:
    """Let JAX see one CPU device per core, so NumPyro and BlackJAX run chains in parallel.

    Must run before JAX starts; it changes nothing for single-device work such as training.
    """
    flag = "--xla_force_host_platform_device_count"
    flags = os.environ.get("XLA_FLAGS", "")
    if flag not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} {flag}={os.cpu_count() or 1}".strip()


def main() -> None:
    """Entry point: add plugin commands, run, and turn user errors into exit code 2."""
    one_jax_device_per_core()
    try:
        get_manager().add_commands(app)
        app()
    except SsmhubError as exc:
        Console(stderr=True).print(f"[red]error:[/red] {exc}", highlight=False)
        sys.exit(2)


if __name__ == "__main__":
    main()
