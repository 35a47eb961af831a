"""The core's defaults: ssm-simulators as simulator, and the spec's recipes (else KDE)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ssmhub.hookspecs import hookimpl
from ssmhub.recipe import NetworkKind, Recipe
from ssmhub.simulator import OMITTED, Simulation
from ssmhub.spec import ModelSpec

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class SsmsSimulator:
    """Calls ``ssms`` for one model; imported lazily, since importing ssms takes seconds.

    ssm-simulators marks some trials it did not finish with rt -999, and ends others at its
    horizon, ``max_t`` after the non-decision time, with a response it picked; both become
    omitted trials here (rt `OMITTED`), never choices.
    """

    ssms_model: str
    non_decision_time: str | None
    max_t: float = 20.0

    def __call__(
        self, theta: Mapping[str, np.ndarray], n_samples: int, seed: int | None
    ) -> Simulation:
        import numpy as np
        from ssms.basic_simulators.simulator import simulator

        k = len(next(iter(theta.values())))
        # ssms' C code takes 31-bit seeds; fold larger ones in, deterministically.
        random_state = None if seed is None else seed % 2**31
        with _numpy_global_seed(random_state):
            out = simulator(
                theta={name: np.asarray(v, dtype=np.float32) for name, v in theta.items()},
                model=self.ssms_model,
                n_samples=n_samples,
                max_t=self.max_t,
                random_state=random_state,
            )
        # ssms returns (n, 1) for one parameter row and (n, K, 1) for K rows.
        rt = np.asarray(out["rts"], dtype=np.float64).reshape(n_samples, k).T
        response = np.asarray(out["choices"]).reshape(n_samples, k).T.astype(np.int64)
        t = 0.0 if self.non_decision_time is None else theta[self.non_decision_time][:, None]
        ended = (rt == OMITTED) | (rt - t >= self.max_t)
        return Simulation(
            rt=np.where(ended, OMITTED, rt), response=np.where(ended, OMITTED, response)
        )


@contextlib.contextmanager
def _numpy_global_seed(seed: int | None) -> Iterator[None]:
    """NumPy's global generator seeded for one call, and put back as it was afterwards.

    Some ssm-simulators 0.15 simulators (the LBAs' ``lba_vanilla``) draw from it and ignore
    ``random_state``; without this the same seed would give other trials each time.
    """
    import numpy as np

    if seed is None:
        yield
        return
    saved = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(saved)


@hookimpl(trylast=True)
def model_simulator(spec: ModelSpec) -> SsmsSimulator | None:
    return SsmsSimulator(spec.ssms_model, spec.non_decision_time) if spec.ssms_model else None


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
