"""The core's defaults: ssm-simulators as simulator, and the spec's recipes (else KDE)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ssmhub.hookspecs import hookimpl
from ssmhub.recipe import NetworkKind, Recipe
from ssmhub.simulation import Simulation
from ssmhub.spec import ModelSpec

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class SsmsSimulator:
    """Calls ``ssms`` for one model; imported lazily, since importing ssms takes seconds."""

    ssms_model: str
    max_t: float = 20.0

    def __call__(
        self, theta: Mapping[str, np.ndarray], n_samples: int, seed: int | None
    ) -> Simulation:
        import numpy as np
        from ssms.basic_simulators.simulator import simulator

        k = len(next(iter(theta.values())))
        out = simulator(
            theta={name: np.asarray(v, dtype=np.float32) for name, v in theta.items()},
            model=self.ssms_model,
            n_samples=n_samples,
            max_t=self.max_t,
            # ssms' C code takes 31-bit seeds; fold larger ones in, deterministically.
            random_state=None if seed is None else seed % 2**31,
        )
        # ssms returns (n, 1) for one parameter row and (n, K, 1) for K rows.
        rt = np.asarray(out["rts"], dtype=np.float64).reshape(n_samples, k).T
        response = np.asarray(out["choices"]).reshape(n_samples, k).T.astype(np.int64)
        return Simulation(rt=rt, response=response)


@hookimpl(trylast=True)
def model_simulator(spec: ModelSpec) -> SsmsSimulator | None:
    return SsmsSimulator(spec.ssms_model) if spec.ssms_model else None


@hookimpl(trylast=True)
def model_recipe(spec: ModelSpec, kind: NetworkKind) -> Recipe:
    """The spec's own recipe, else one that works for any simulator: raw trials for 'mnle'
    (a million, minutes on a laptop), KDE labels for the others."""
    if kind == "mnle":
        default = Recipe(
            kind="mnle",
            estimator="simulation",
            n_parameter_sets=100_000,
            n_simulations=10,
            shard_size=5_000,
        )
        return spec.recipe(kind) or default
    return spec.recipe(kind) or Recipe(kind=kind, estimator="kde")
