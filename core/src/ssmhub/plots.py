"""Pictures of networks people expect: LAN densities over rt, CPN choice probabilities."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ssmhub.errors import SsmhubError
from ssmhub.files import write_atomically

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def subplots(
    nrows: int = 1,
    ncols: int = 1,
    *,
    figsize: tuple[float, float],
    squeeze: bool = True,
    sharey: bool = False,
) -> tuple[Figure, Any]:
    """A figure and its axes, drawn for a file: no pyplot, so no backend is chosen or
    changed for the user's session (a notebook keeps its inline plots)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, squeeze=squeeze, sharey=sharey)


def save_figure(fig: Figure, out: Path) -> None:
    """Save a matplotlib figure as PNG, atomically."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    write_atomically(out, lambda f: f.write(buffer.getvalue()))


def plot_network(model: str, sweep: str, out: Path, values: int = 5) -> None:
    """LAN densities for a sweep of one parameter (others at their defaults), beside the CPN's
    P(upper choice) against ``v`` for several ``z`` where the model has both."""
    import numpy as np

    from ssmhub.plugins import get_manager, load_network

    spec = get_manager().catalog.get(model)
    if sweep not in spec.parameter_names:
        raise SsmhubError(
            f"--sweep: model {model!r} has no parameter {sweep!r}; it has "
            f"{', '.join(spec.parameter_names)}"
        )
    spec.check_kind("lan")
    lan = load_network(model, "lan")
    box = lan.config.box
    defaults = np.array([p.default for p in spec.parameters])
    i = spec.parameter_names.index(sweep)
    has_cpn = {"v", "z"} <= set(spec.parameter_names) and get_manager().locate_network(spec, "cpn")
    fig, axes = subplots(1, 2 if has_cpn else 1, figsize=(10 if has_cpn else 5.5, 4), squeeze=False)
    ax = axes[0][0]
    t0 = spec.non_decision_time_of(dict(zip(spec.parameter_names, defaults, strict=True)))
    rt = np.linspace(t0 + 1e-3, t0 + 4, 400)
    upper = spec.upper_choice
    for k, value in enumerate(np.linspace(*box[sweep], values)):
        theta = defaults.copy()
        theta[i] = value
        for response in spec.choices:
            rows = np.column_stack([np.tile(theta, (len(rt), 1)), rt, np.full(len(rt), response)])
            density = np.exp(np.asarray(lan(rows.astype(np.float32))))
            label = f"{sweep}={value:.2f}" if response == upper else None
            sign = 1 if response == upper else -1
            ax.plot(rt, sign * density, lw=1, color=f"C{k}", label=label)
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_xlabel("rt (s)")
    ax.set_ylabel(f"density ({spec.meaning(upper)} above zero)")
    ax.set_title(f"{model} LAN, other parameters at their defaults")
    ax.legend(fontsize=7)
    if has_cpn:
        cpn = load_network(model, "cpn")
        ax = axes[0][1]
        iv, iz = spec.parameter_names.index("v"), spec.parameter_names.index("z")
        v = np.linspace(*cpn.config.box["v"], 200)
        for z in np.linspace(*cpn.config.box["z"], 5):
            theta = np.tile(defaults, (len(v), 1))
            theta[:, iv], theta[:, iz] = v, z
            ax.plot(v, np.exp(np.asarray(cpn(theta.astype(np.float32)))), label=f"z={z:.2f}")
        ax.set_xlabel("v")
        ax.set_ylabel(f"P({spec.meaning(spec.upper_choice)})")
        ax.set_title(f"{model} CPN")
        ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, out)
