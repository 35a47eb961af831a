"""The pictures of a fit: posterior histograms, predictive rt distributions per choice and
condition, and the quantile-probability plot.

ArviZ draws generic posterior and predictive plots, but none of them knows that a trial is
an (rt, choice) pair: the distributions here are per choice, with each choice's share of
trials, which is what a sequential sampling model is judged by. Matplotlib is imported by
`ssmhub.plots` without choosing a backend.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ssmhub.plots import save_figure, subplots

if TYPE_CHECKING:
    import pandas as pd

    from ssmhub.spec import ModelSpec

__all__ = ["QUANTILES", "plot_posterior", "plot_ppc", "plot_quantile_probability"]

QUANTILES = (0.1, 0.3, 0.5, 0.7, 0.9)  # the rt quantiles of a quantile-probability plot


def plot_posterior(idata: Any, out: Path, truth: Mapping[str, float]) -> None:
    """A histogram per scalar parameter, with its true value if known."""
    names = [n for n in idata.posterior.data_vars if idata.posterior[n].ndim == 2]
    fig, axes = subplots(1, len(names), figsize=(3.2 * len(names), 3), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        ax.hist(idata.posterior[name].values.ravel(), bins=40, color="black", histtype="step")
        if name in truth:
            ax.axvline(truth[name], color="tab:green", label="true value")
            ax.legend(fontsize=7)
        ax.set_title(name, fontsize=8)
    fig.suptitle("posterior")
    fig.tight_layout()
    save_figure(fig, out)


def _predicted(idata: Any) -> np.ndarray:
    """Posterior-predictive trials as (draws, N, 2)."""
    values = np.asarray(next(iter(idata.posterior_predictive.data_vars.values())))
    return values.reshape(-1, *values.shape[-2:])


def _conditions(data: pd.DataFrame, by: str | None) -> list[tuple[str, np.ndarray]]:
    """(label, row mask) per condition of column ``by``; one for all trials without it."""
    if by is None:
        return [("all trials", np.ones(len(data), dtype=bool))]
    return [(f"{by} = {c}", (data[by] == c).to_numpy()) for c in sorted(data[by].unique())]


def plot_ppc(
    idata: Any, data: pd.DataFrame, out: Path, spec: ModelSpec, by: str | None = None
) -> None:
    """Observed rt histograms beside posterior-predictive ones: a row per condition of
    column ``by``, a panel per choice (any number of choices, so none is drawn over another),
    each titled with the choice's observed and predicted share of trials."""
    predicted = _predicted(idata)
    observed = data[["rt", "response"]].to_numpy(dtype=float)
    finite = observed[np.isfinite(observed[:, 0])]
    top = np.quantile(finite[:, 0], 0.99) if len(finite) else 5.0
    bins = np.linspace(0, top * 1.2, 50)
    conditions = _conditions(data, by)
    k = len(spec.choices)
    fig, axes = subplots(
        len(conditions), k, figsize=(3.5 * k, 3.2 * len(conditions)), sharey=True, squeeze=False
    )
    for row, (label, mask) in zip(axes, conditions, strict=True):
        obs, pred = observed[mask], predicted[:, mask].reshape(-1, 2)
        for ax, response in zip(row, spec.choices, strict=True):
            for rows, style in (
                (pred, {"color": "tab:orange", "label": "posterior predictive"}),
                (obs, {"color": "black", "label": "observed"}),
            ):
                rt = rows[(rows[:, 1] == response) & np.isfinite(rows[:, 0]), 0]
                heights, edges = np.histogram(rt, bins=bins)
                ax.stairs(heights / max(len(rows), 1) / np.diff(edges), edges, **style)
            prefix = "" if by is None else f"{label}, "
            ax.set_title(
                f"{prefix}{spec.meaning(response)}: observed "
                f"{np.mean(obs[:, 1] == response):.3f}, predicted "
                f"{np.mean(pred[:, 1] == response):.3f}",
                fontsize=8,
            )
            ax.set_xlabel("rt (s)")
        row[0].set_ylabel("density per trial")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, out)


def plot_quantile_probability(
    idata: Any, data: pd.DataFrame, out: Path, spec: ModelSpec, by: str | None = None
) -> None:
    """The quantile-probability plot: for each condition and choice, the rt quantiles
    (`QUANTILES`) above the choice's share of trials; observed as dots, posterior
    predictive as crosses joined by lines. A choice with fewer than 5 rts has no quantiles."""
    predicted = _predicted(idata)
    observed = data[["rt", "response"]].to_numpy(dtype=float)
    conditions = _conditions(data, by)
    colours = [f"C{i}" for i in range(len(conditions))]
    fig, axes = subplots(1, 1, figsize=(5.5, 4.5), squeeze=False)
    ax = axes[0][0]
    for (label, mask), colour in zip(conditions, colours, strict=True):
        obs, pred = observed[mask], predicted[:, mask].reshape(-1, 2)
        for rows, marker, kind in ((obs, "o", "observed"), (pred, "x-", "predicted")):
            points = []
            for response in spec.choices:
                chosen = rows[:, 1] == response
                rt = rows[chosen & np.isfinite(rows[:, 0]), 0]
                if rt.size >= len(QUANTILES):
                    points.append((chosen.mean(), np.quantile(rt, QUANTILES)))
            if not points:
                continue
            x = np.array([p for p, _ in points])
            y = np.array([q for _, q in points])  # (choices, quantiles)
            order = np.argsort(x)
            for j in range(len(QUANTILES)):  # one line per quantile, across choices
                ax.plot(
                    x[order],
                    y[order, j],
                    marker,
                    color=colour,
                    mfc="none" if kind == "predicted" else colour,
                    lw=0.8,
                    label=f"{label}, {kind}" if j == 0 else None,
                )
    ax.set_xlabel("response probability")
    ax.set_ylabel(f"rt quantiles {', '.join(map(str, QUANTILES))} (s)")
    ax.set_xlim(0, 1)
    ax.legend(fontsize=7)
    ax.set_title(f"quantile-probability plot ({spec.name})", fontsize=9)
    fig.tight_layout()
    save_figure(fig, out)
