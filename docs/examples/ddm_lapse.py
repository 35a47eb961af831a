"""ddm_lapse for ssmhub: the ddm with lapses, a model that brings its own simulator.

The worked example of docs/custom-simulator.md, as a plugin module: install it as the
package ``ssmhub_ddm_lapse`` with the entry point ``ddm_lapse = "ssmhub_ddm_lapse"`` in the
group ``ssmhub``. tests/test_custom_simulator.py installs this very file and checks it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from ssmhub import OMITTED, ModelSpec, Parameter, Recipe, Simulation, hookimpl

# --8<-- [start:spec]
GUESS_SHAPE, GUESS_SCALE = 2.0, 0.5
"""A lapse's response comes a Gamma(2, 0.5 s) delay after ``t`` (mean 1 s)."""

BOX = {"p_lapse": (0.0, 0.3)}
"""Where the networks are trained: the spec's bounds, except for fewer lapses."""

SPEC = ModelSpec(
    name="ddm_lapse",
    description=(
        "The ddm with lapses: with probability p_lapse a trial is a guess, either response "
        f"with equal odds, made a Gamma({GUESS_SHAPE:g}, {GUESS_SCALE:g} s) distributed "
        "time after t; otherwise it is a ddm trial (v, a, z, t as in the ddm: a is half the "
        "boundary separation)."
    ),
    parameters=(
        Parameter(name="v", lower=-3.0, upper=3.0, default=0.0, description="drift rate"),
        Parameter(
            name="a", lower=0.3, upper=2.5, default=1.0, description="half the boundary separation"
        ),
        Parameter(name="z", lower=0.1, upper=0.9, default=0.5, description="relative start"),
        Parameter(name="t", lower=0.0, upper=2.0, default=0.3, description="non-decision time"),
        Parameter(
            name="p_lapse", lower=0.0, upper=1.0, default=0.05, description="lapse probability"
        ),
    ),
    non_decision_time="t",  # rt <= t is impossible, for lapses too
    choices=(-1, 1),
    choice_meanings=("lower bound", "upper bound"),
    # No ssms_model: ssm-simulators does not have this model, the plugin simulates it.
    recipes=(
        Recipe(kind="lan", estimator="kde", box=BOX, n_parameter_sets=10_000, n_simulations=20_000),
        Recipe(kind="cpn", estimator="kde", box=BOX, n_parameter_sets=10_000, n_simulations=5_000),
    ),
)
# --8<-- [end:spec]


# --8<-- [start:simulator]
@dataclass(frozen=True)
class DdmLapseSimulator:
    """Simulates ddm_lapse: K parameter rows, ``n_samples`` trials each, in one pass.

    The diffusion is stepped by Euler-Maruyama on all undecided trials of all rows at once.
    After each step a trial that stayed between the bounds may still have crossed one in
    between; the chance of that is known for Brownian motion (a Brownian bridge), so it is
    drawn, and choices keep their exact probabilities at a coarse ``dt``. A trial still
    undecided at ``max_t`` is omitted: its rt is ``ssmhub.OMITTED``, and its response is
    ignored. A lapse comes a Gamma-distributed delay after ``t``, whose density
    is 0 at ``t`` and smooth everywhere (docs/custom-simulator.md says why).
    """

    dt: float = 0.001
    max_t: float = 20.0
    guess_shape: float = GUESS_SHAPE
    guess_scale: float = GUESS_SCALE

    def __call__(
        self, theta: Mapping[str, np.ndarray], n_samples: int, seed: int | None
    ) -> Simulation:
        rng = np.random.default_rng(seed)
        k = len(theta["v"])
        # One flat array of K * n_samples trials, each with its row's parameters.
        names = ("v", "a", "z", "t", "p_lapse")
        v, a, z, t, p_lapse = (np.repeat(theta[name], n_samples) for name in names)

        lapse = rng.random(v.size) < p_lapse
        decision = rng.gamma(self.guess_shape, self.guess_scale, size=v.size)  # lapses only
        upper = rng.random(v.size) < 0.5
        ddm = np.flatnonzero(~lapse)
        decision[ddm], upper[ddm] = self._diffuse(v[ddm], a[ddm], z[ddm], rng)

        rt = np.where(np.isfinite(decision), t + decision, OMITTED).reshape(k, n_samples)
        response = np.where(upper, 1, -1).reshape(k, n_samples)
        return Simulation(rt=rt, response=response)

    def _diffuse(
        self, v: np.ndarray, a: np.ndarray, z: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Decision times (inf: undecided at max_t) and whether the upper bound was hit, for
        bounds at -a and +a."""
        dt = self.dt
        decision = np.full(v.size, np.inf)
        upper = np.zeros(v.size, dtype=bool)
        left = np.arange(v.size)  # the undecided trials, and their state:
        x, v, a = a * (2.0 * z - 1.0), v.copy(), a.copy()
        for step in range(1, round(self.max_t / dt) + 1):
            if not left.size:
                break
            new = x + v * dt + np.sqrt(dt) * rng.standard_normal(left.size)
            # P(the path crossed a bound during the step | where it started and ended);
            # 1 if it ended beyond that bound.
            p_up = np.exp(-2.0 * np.maximum((a - x) * (a - new), 0.0) / dt)
            p_down = np.exp(-2.0 * np.maximum((a + x) * (a + new), 0.0) / dt)
            u = rng.random(left.size)
            hit = u < p_up + p_down
            if hit.any():
                decision[left[hit]] = (step - 0.5) * dt  # the middle of the step
                upper[left[hit]] = u[hit] < p_up[hit]
                keep = ~hit
                left, x, v, a = left[keep], new[keep], v[keep], a[keep]
            else:
                x = new
        return decision, upper


# --8<-- [end:simulator]


# --8<-- [start:hooks]
@hookimpl
def register_models(register: Callable[[ModelSpec], None]) -> None:
    register(SPEC)


@hookimpl
def model_simulator(spec: ModelSpec) -> DdmLapseSimulator | None:
    return DdmLapseSimulator() if spec.name == SPEC.name else None


# --8<-- [end:hooks]
