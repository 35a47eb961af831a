"""The simulator contract: what the `model_simulator` hook returns, and how an omitted trial
is marked. Apart from `ssmhub.simulation` so that the plugin machinery, which needs the
contract, and `simulate`, which needs the plugins, do not import each other."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, NamedTuple, Protocol

if TYPE_CHECKING:
    import numpy as np

__all__ = ["OMITTED", "Simulation", "Simulator", "marked"]


OMITTED = -999
"""An omitted trial: one the simulator did not finish within its horizon (ssm-simulators'
``max_t``, 20 s). A simulator gives it this rt (as ssm-simulators does; its response is then
ignored); `simulate` and predictive draws give it rt NaN and this response, so it is never
taken for a choice, nor its rt for a reaction time."""


class Simulation(NamedTuple):
    """Simulated trials: ``rt`` and ``response`` of shape (K parameter rows, n samples).

    An omitted trial has rt `OMITTED`; every other trial a response among the model's choices.
    """

    rt: np.ndarray
    response: np.ndarray


class Simulator(Protocol):
    """What the `model_simulator` hook returns.

    ``theta`` maps every parameter name of the spec to a 1-D array of one length K
    (already validated against the spec); the simulator draws ``n_samples`` trials for
    each of the K rows. The same seed must give the same trials. Simulators are sent to
    Dask workers, so they must pickle (a module-level class or function does).
    """

    def __call__(
        self, theta: Mapping[str, np.ndarray], n_samples: int, seed: int | None
    ) -> Simulation: ...


def marked(sim: Simulation) -> tuple[np.ndarray, np.ndarray]:
    """rt and response with each omitted trial as data show it: rt NaN, response `OMITTED`."""
    import numpy as np

    omitted = np.asarray(sim.rt) == OMITTED
    rt = np.where(omitted, np.nan, sim.rt).astype(np.float64)
    return rt, np.where(omitted, OMITTED, sim.response)
