"""Pictures of networks people expect: LAN densities over rt, CPN choice probabilities."""

from __future__ import annotations

import io
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from ssmhub.errors import SsmhubError
from ssmhub.files import write_atomically

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def pyplot() -> ModuleType:
    """matplotlib.pyplot on the Agg backend: ssmhub draws to files, never to a screen."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Figure, out: Path) -> None:
    """Save a matplotlib figure as PNG, atomically."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    write_atomically(out, lambda f: f.write(buffer.getvalue()))


def plot_network(model: str, sweep: str, out: Path, values: int = 5) -> None:
    """LAN densities for a sweep of one parameter (others at their defaults), beside the CPN's
    P(response = +1) against ``v`` for several ``z`` where the model has both."""
    import numpy as np

    from ssmhub.network import load_network
    from ssmhub.plugins import get_manager

    plt = pyplot()
    spec = get_manager().catalog.get(model)
    if sweep not in spec.parameter_names:
        raise SsmhubError(
            f"--sweep: model {model!r} has no parameter {sweep!r}; it has "
            f"{', '.join(spec.parameter_names)}"
        )
    lan = load_network(model, "lan")
    box = lan.config.box
    defaults = np.array([p.default for p in spec.parameters])
    i = spec.parameter_names.index(sweep)
    has_cpn = {"v", "z"} <= set(spec.parameter_names) and get_manager().locate_network(spec, "cpn")
    fig, axes = plt.subplots(
        1, 2 if has_cpn else 1, figsize=(10 if has_cpn else 5.5, 4), squeeze=False
    )
    ax = axes[0][0]
    t0 = defaults[spec.parameter_names.index("t")] if "t" in spec.parameter_names else 0.0
    rt = np.linspace(t0 + 1e-3, t0 + 4, 400)
    for k, value in enumerate(np.linspace(*box[sweep], values)):
        theta = defaults.copy()
        theta[i] = value
        for response in (1, -1):
            rows = np.column_stack([np.tile(theta, (len(rt), 1)), rt, np.full(len(rt), response)])
            density = np.exp(np.asarray(lan(rows.astype(np.float32))))
            label = f"{sweep}={value:.2f}" if response == 1 else None
            ax.plot(rt, response * density, lw=1, color=f"C{k}", label=label)
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_xlabel("rt (s)")
    ax.set_ylabel("density (response -1 below zero)")
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
        ax.set_ylabel("P(response = +1)")
        ax.set_title(f"{model} CPN")
        ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, out)
