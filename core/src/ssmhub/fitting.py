"""From a table of trials to a posterior: what `ssmhub fit` and `ssmhub demo` run.

Priors are uniform over the likelihood's valid range (a network's training box, else the
spec's bounds), so nothing is silently extrapolated; parameters can be fixed, or regressed on
the data's columns by formulas (`ssmhub.formulas`), and contaminant trials mixed in. Results
are written the way people read them: ``idata.nc``, ``summary.csv``, ``posterior.png``,
``ppc.png``.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, field_validator

from ssmhub.errors import SsmhubError
from ssmhub.formulas import Design, Formula, FormulaError, Link, describe_priors, design, regress
from ssmhub.observed import where

if TYPE_CHECKING:
    import pandas as pd
    import pymc as pm

    from ssmhub.spec import ModelSpec

Sampler = Literal["pymc", "numpyro", "blackjax"]
PREDICTIVE_DRAWS = 500
P_OUTLIER_PRIOR = (1.0, 19.0)  # Beta: mean 0.05, most mass below 0.15


class FitConfig(BaseModel):
    """How to fit one model to one table of trials."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str
    likelihood: str | None = None  # None: the model's best network (default_likelihood)
    fixed: dict[str, float] = {}
    formulas: tuple[Formula, ...] = ()  # "v ~ 1 + x + (1|participant)" strings are parsed
    p_outlier: Annotated[float, Field(ge=0.0, lt=1.0)] | Literal["free"] | None = None
    method: Literal["nuts", "advi"] = "nuts"
    sampler: Sampler = "numpyro"  # of NUTS
    advi_iterations: PositiveInt = 30_000
    draws: PositiveInt = 1000
    tune: PositiveInt = 1000
    chains: PositiveInt = 2
    seed: int = 0

    @field_validator("formulas", mode="before")
    @classmethod
    def _parse(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        return tuple(Formula.parse(v) if isinstance(v, str) else v for v in value)

    def check_formulas(self, spec: ModelSpec) -> None:
        """Each formula names a free parameter of the model, once."""
        seen: set[str] = set()
        for f in self.formulas:
            if f.parameter not in spec.parameter_names:
                raise FormulaError(
                    f"formula '{f}': model {spec.name!r} has no parameter {f.parameter!r}; "
                    f"it has {', '.join(spec.parameter_names)}"
                )
            if f.parameter in self.fixed:
                raise FormulaError(f"formula '{f}': {f.parameter} is also fixed (--fix)")
            if f.parameter in seen:
                raise FormulaError(f"formula '{f}': a second formula for {f.parameter}")
            seen.add(f.parameter)


def read_trials(path: Path) -> pd.DataFrame:
    """A CSV of trials with columns ``rt`` and ``response`` (an empty rt: no reaction time)."""
    import pandas as pd

    try:
        data = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise SsmhubError(f"{path}: cannot read as CSV: {exc}") from None
    missing = [c for c in ("rt", "response") if c not in data.columns]
    if missing:
        raise SsmhubError(
            f"{path}: missing column(s) {', '.join(missing)}; found {', '.join(data.columns)}"
        )
    return data


def prior_ranges(config: FitConfig) -> dict[str, tuple[float, float]]:
    """Uniform prior bounds of each free parameter: the likelihood's box (for networks, where
    they were trained), else the spec's bounds."""
    from ssmhub.plugins import get_manager

    manager = get_manager()
    spec = manager.catalog.get(config.model)
    unknown = sorted(set(config.fixed) - set(spec.parameter_names))
    if unknown:
        raise SsmhubError(
            f"--fix: model {spec.name!r} has no parameter {', '.join(unknown)}; it has "
            f"{', '.join(spec.parameter_names)}"
        )
    spec.check_theta({**{p.name: p.default for p in spec.parameters}, **config.fixed})
    box = manager.likelihood(spec, config.likelihood).box or {}
    return {
        p.name: box.get(p.name, (p.lower, p.upper))
        for p in spec.parameters
        if p.name not in config.fixed
    }


PARTICIPANT_COLUMNS = ("participant_id", "participant", "subj_idx", "subject", "subject_id")


class UnusedColumnWarning(UserWarning):
    """A column that looks like a participant identifier, which no formula uses: the fit
    pools every participant's trials as one."""


@dataclass(frozen=True)
class FitPlan:
    """What a fit will be, decided before any model is built: priors, regressions, links
    and what is done with each row and column of the data (printed by `ssmhub fit`)."""

    config: FitConfig
    ranges: dict[str, tuple[float, float]]  # uniform priors of the parameters not regressed
    designs: list[Design]
    links: dict[str, Link]
    n_rt: int  # trials scored with their reaction time
    n_choice_only: int  # trials scored by their choice alone (an empty rt)
    unused: list[str]  # columns that nothing in the model reads

    def report(self) -> list[str]:
        lines = [
            f"{self.n_rt} trials scored with their rt, {self.n_choice_only} by their choice "
            "alone (an empty rt)"
        ]
        lines += [f"{name} ~ Uniform({lo:g}, {hi:g})" for name, (lo, hi) in self.ranges.items()]
        lines += describe_priors(self.designs, self.links)
        if self.config.p_outlier == "free":
            lines.append(f"p_outlier ~ Beta{P_OUTLIER_PRIOR}: contaminants, uniform rt and choice")
        elif self.config.p_outlier is not None:
            lines.append(
                f"p_outlier = {self.config.p_outlier:g}: contaminants, uniform rt and choice"
            )
        if self.unused:
            lines.append(f"columns no formula uses: {', '.join(self.unused)}")
        return lines


def plan_fit(
    data: pd.DataFrame, config: FitConfig, trialwise: Mapping[str, Any] | None = None
) -> FitPlan:
    """The priors, designs and links of a fit of ``data``; warns (`UnusedColumnWarning`)
    when a participant column is left out of every formula."""
    from ssmhub.plugins import get_manager

    spec = get_manager().catalog.get(config.model)
    config.check_formulas(spec)
    ranges = prior_ranges(config)
    designs = [design(f, data) for f in config.formulas]
    links = {}
    ndt = spec.non_decision_time
    for d in designs:
        p = d.formula.parameter
        lower, upper = ranges.pop(p)
        centre = (lower + upper) / 2
        if p == ndt and config.p_outlier is None:
            # Every trial needs rt > t (unless contaminants explain it): start t below the
            # fastest rt.
            centre = sum(_below_fastest_rt(p, (lower, upper), data)) / 2
        links[p] = Link(lower, upper, centre)
    if ndt in ranges and ndt not in (trialwise or {}) and config.p_outlier is None:
        ranges[ndt] = _below_fastest_rt(ndt, ranges[ndt], data)
    read = {"rt", "response"}.union(*(d.variables for d in designs))
    unused = [str(c) for c in data.columns if c not in read]
    for column in unused:
        if column.lower() in PARTICIPANT_COLUMNS:
            warnings.warn(
                f"column {column!r} looks like a participant identifier, but no formula uses "
                f"it: all trials are fitted as one participant; to fit participants, add a "
                f'group effect, e.g. --formula "v ~ 1 + (1|{column})"',
                UnusedColumnWarning,
                stacklevel=2,
            )
    has_rt = int(data["rt"].notna().sum())
    return FitPlan(config, ranges, designs, links, has_rt, len(data) - has_rt, unused)


def build_model(
    data: pd.DataFrame, config: FitConfig, trialwise: Mapping[str, Any] | None = None
) -> pm.Model:
    """A PyMC model: uniform priors, fixed values, regressions from the formulas, and
    ``SSM`` on the trials (mixed with contaminants if ``config.p_outlier``) (`plan_fit`).

    ``trialwise`` maps a parameter to per-trial multipliers (e.g. ``{"v": condition_sign}``),
    so one free parameter serves conditions that differ by a known factor.
    """
    return model_from_plan(data, plan_fit(data, config, trialwise), trialwise)


def model_from_plan(
    data: pd.DataFrame, plan: FitPlan, trialwise: Mapping[str, Any] | None = None
) -> pm.Model:
    """The PyMC model that ``plan`` describes."""
    import pymc as pm

    from ssmhub.pymc import SSM

    config = plan.config
    with pm.Model() as model:
        params: dict[str, Any] = dict(config.fixed)
        for name, (lower, upper) in plan.ranges.items():
            params[name] = pm.Uniform(name, lower, upper)
        params.update(regress(plan.designs, plan.links))
        for name, factor in (trialwise or {}).items():
            params[name] = params[name] * factor
        p_outlier = config.p_outlier
        if p_outlier == "free":
            p_outlier = pm.Beta("p_outlier", *P_OUTLIER_PRIOR)
        SSM(
            "trials",
            model=config.model,
            likelihood=config.likelihood,
            observed=data[["rt", "response"]],
            p_outlier=p_outlier,
            **params,
        )
    return model


def _below_fastest_rt(
    name: str, t_range: tuple[float, float], data: pd.DataFrame
) -> tuple[float, float]:
    """The prior range of the non-decision time ``name`` ended at the fastest observed rt.

    Every trial needs rt > t, so the likelihood is zero beyond: the posterior is the same,
    but NUTS no longer runs into the edge where the likelihood drops from a network's finite
    value to zero, where it diverges (levy: 11,642 divergences in 20 fits, against 78).
    """
    lower, upper = t_range
    rts = data["rt"].dropna()
    if rts.empty:
        return t_range
    row = rts.idxmin()
    if rts[row] <= lower:
        raise SsmhubError(
            f"{where('rt', data.index.get_loc(row))}: rt {rts[row]:.4g} is not above the "
            f"lowest value {lower:.4g} of "
            f"{name}, the non-decision time, so no {name} in the likelihood's range explains "
            f"it (every trial needs rt > {name})"
        )
    return lower, min(upper, float(rts[row]))


def draw_posterior(
    model: pm.Model, config: FitConfig, progressbar: bool = True, **nuts: Any
) -> Any:
    """NUTS draws as ``config`` says, started where every observed trial is possible;
    ``nuts`` goes to ``pm.sample`` (e.g. ``target_accept``). The networks that made them are
    recorded in ``attrs["ssmhub"]`` (JSON, `ssmhub.pymc.provenance`).

    With ``config.method == "advi"``, draws from PyMC's mean-field ADVI instead (one
    "chain"): much faster on large hierarchical models, but its posterior SDs are too small
    and it hides what NUTS's diagnostics would show; check a final model with NUTS.
    """
    import pymc as pm

    from ssmhub.pymc import initvals, provenance, sample

    with model:
        if config.method == "advi":
            approx = pm.fit(
                n=config.advi_iterations,
                method="advi",
                random_seed=config.seed,
                progressbar=progressbar,
            )
            idata = approx.sample(draws=config.draws, random_seed=config.seed)
            idata.attrs["ssmhub"] = json.dumps(provenance(model))
            return idata
        idata = sample(
            initvals=initvals(),
            draws=config.draws,
            tune=config.tune,
            chains=config.chains,
            random_seed=config.seed,
            nuts_sampler=config.sampler,
            progressbar=progressbar,
            **nuts,
        )
    idata.attrs["ssmhub"] = json.dumps(provenance(model))
    return idata


def sample(model: pm.Model, config: FitConfig, progressbar: bool = True) -> Any:
    """Posterior draws, posterior predictive (about `PREDICTIVE_DRAWS` of them) and the
    pointwise log-likelihood, as one DataTree."""
    import pymc as pm

    idata = draw_posterior(model, config, progressbar)
    with model:
        # Predictive draws run the simulator once per posterior draw: a few hundred are
        # plenty for checking fit, and thousands would take minutes.
        step = max(1, idata.posterior.sizes["chain"] * config.draws // PREDICTIVE_DRAWS)
        thinned = idata.posterior.dataset.isel(draw=slice(None, None, step))
        with warnings.catch_warnings():
            # PyTensor's numba backend runs the simulator, Python and C code, in object mode,
            # which is right for it; its warning says nothing the user can act on.
            warnings.filterwarnings("ignore", "Numba will use object mode to run SSM_")
            predictive = pm.sample_posterior_predictive(
                thinned, random_seed=config.seed, progressbar=False
            )
        idata["posterior_predictive"] = predictive["posterior_predictive"]
        pm.compute_log_likelihood(idata, extend_inferencedata=True, progressbar=False)
    return idata


def write_results(
    idata: Any,
    data: pd.DataFrame,
    out: Path,
    model: str,
    truth: Mapping[str, float] | None = None,
    by: str | None = None,
) -> pd.DataFrame:
    """Write idata.nc, summary.csv, posterior.png, ppc.png and qp.png of a fit of ``model``
    (predictive plots per condition of column ``by``, if given); return the summary."""
    import arviz as az

    from ssmhub.files import write_text_atomically
    from ssmhub.fit_plots import plot_posterior, plot_ppc, plot_quantile_probability
    from ssmhub.plugins import get_manager

    out.mkdir(parents=True, exist_ok=True)
    tmp = out / ".idata.nc.tmp"
    idata.to_netcdf(tmp)
    tmp.replace(out / "idata.nc")
    summary = az.summary(idata, round_to="none")
    if truth:
        summary["true"] = [truth.get(str(name), float("nan")) for name in summary.index]
    write_text_atomically(out / "summary.csv", summary.to_csv())
    spec = get_manager().catalog.get(model)
    plot_posterior(idata, out / "posterior.png", truth or {})
    plot_ppc(idata, data, out / "ppc.png", spec, by)
    plot_quantile_probability(idata, data, out / "qp.png", spec, by)
    return summary
