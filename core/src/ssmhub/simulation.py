"""Simulating a model: `simulate`, the public entry point (the contract it calls is in
`ssmhub.simulator`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from ssmhub.errors import SsmhubError
from ssmhub.plugins import get_manager
from ssmhub.simulator import OMITTED, Simulation, marked

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


def simulate(
    model: str, theta: Mapping[str, float | np.ndarray], n: int = 1000, seed: int | None = None
) -> pd.DataFrame:
    """Simulate ``n`` trials of ``model`` at ``theta``.

    ``theta`` holds every parameter as a number or as a length-K array (trial-wise); with
    trial-wise values ``n`` trials are drawn per row, in row order, and the parameters are
    returned as columns beside ``rt`` and ``response``. An omitted trial (see `OMITTED`) has
    rt NaN and response `OMITTED`.
    """
    import numpy as np
    import pandas as pd  # imported here: it is slow to import and the CLI's --help needs none

    manager = get_manager()
    spec = manager.catalog.get(model)
    if not isinstance(n, int | np.integer) or n <= 0:
        raise SsmhubError(f"n must be a positive whole number of trials, got {n!r}")
    if seed is not None and (not isinstance(seed, int | np.integer) or seed < 0):
        raise SsmhubError(f"seed must be a non-negative whole number, got {seed!r}")
    values = spec.check_theta(theta)
    k = len(next(iter(values.values())))
    sim = manager.simulator(spec)(values, int(n), seed)
    _check_simulation(sim, spec.name, spec.choices, (k, int(n)))
    rt, response = marked(sim)
    frame = pd.DataFrame({"rt": rt.ravel(), "response": response.ravel().astype(int)})
    trialwise = any(np.ndim(v) > 0 and np.size(v) > 1 for v in theta.values())
    if trialwise:
        for name, v in values.items():
            frame[name] = np.repeat(v, n)
    return frame


def _check_simulation(
    sim: Simulation, model: str, choices: tuple[int, ...], shape: tuple[int, int]
) -> None:
    """Catch a simulator that breaks its contract here, not deep inside training."""
    import numpy as np

    for field in ("rt", "response"):
        got = np.shape(getattr(sim, field))
        if got != shape:
            raise SsmhubError(
                f"simulator of model {model!r} returned {field} of shape {got}, expected {shape}"
            )
    bad = ~np.isin(sim.response, choices) & (np.asarray(sim.rt) != OMITTED)
    if bad.any():
        raise SsmhubError(
            f"simulator of model {model!r} returned response {sim.response.flat[bad.argmax()]} "
            f"outside the model's choices {list(choices)}"
        )
