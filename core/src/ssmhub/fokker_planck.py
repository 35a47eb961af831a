"""Likelihoods of single-accumulator Gaussian models from PyDDM's Fokker-Planck solver.

This labels the training data of models without a closed form (``angle``, ``weibull``) and is
the reference their networks are measured against. ssm-simulators' own PyDDM path
(``PyDDMEstimatorBuilder``) is not used because it cannot set the space step, hands PyDDM its
drift as a function of (t, x) (which makes PyDDM tabulate the whole grid: 3-4x slower) and
truncates the start point and the non-decision time to the grid. Here the model is built from
the same ssm-simulators config, but:

- a constant drift stays a constant, and a drift that depends only on x (``ornstein``) is
  passed as such;
- the start point's mass is split between its two neighbouring grid nodes;
- the non-decision time is not solved for: the decision-time density is shifted by it exactly;
- PyDDM's value at step i is the mass absorbed during that step, so it is read as the density
  at the step's midpoint;
- PyDDM stops solving once less than 1e-4 of the probability is left undecided, and reports
  a density of zero after that, though the simulator still makes such trials (1 in 3,000 to
  8,000 of angle's and weibull's); the tail is continued exponentially from there, at the
  rate that puts exactly the undecided probability in it (the slowest mode of the
  diffusion, which dominates by then);
- PyDDM's implicit solver is first order in dt, so solving at dt and 2 dt and extrapolating
  (Richardson) removes most of the time-step error for half again the cost.

``benchmarks/pyddm_accuracy.py`` measures the result against the exact ddm density.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ssmhub.errors import SsmhubError
from ssmhub.recipe import SolverGrid
from ssmhub.spec import ModelSpec


@dataclass(frozen=True)
class Solution:
    """Decision-time densities (1/s) at the midpoints ``(i - 0.5) * dt`` of the solver's steps."""

    upper: np.ndarray
    lower: np.ndarray
    dt: float
    t: float  # non-decision time
    p_upper: float
    choices: tuple[int, int]  # the spec's (lower, upper) response codes

    def density(self, rt: np.ndarray, response: np.ndarray) -> np.ndarray:
        midpoints = (np.arange(self.upper.size) - 0.5) * self.dt
        decision = np.asarray(rt, dtype=np.float64) - self.t
        up = np.interp(decision, midpoints, self.upper, left=0.0, right=0.0)
        down = np.interp(decision, midpoints, self.lower, left=0.0, right=0.0)
        return np.where(np.asarray(response) == self.choices[1], up, down)

    def log_density(self, rt: np.ndarray, response: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.log(self.density(rt, response))

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Draws (rt, response), uniform within the chosen step."""
        mass = np.concatenate([self.upper, self.lower])
        cell = rng.choice(mass.size, size=n, p=mass / mass.sum())
        step = cell % self.upper.size
        rt = self.t + (step - 1 + rng.uniform(size=n)) * self.dt
        return rt, np.where(cell < self.upper.size, self.choices[1], self.choices[0])


def _ssms_config(spec: ModelSpec) -> dict[str, Any]:
    from ssms.config import model_config
    from ssms.external_simulators.pyddm_mapper import SSMSToPyDDMMapper

    spec.check_binary("a Fokker-Planck solution (one particle between two bounds)")
    config = model_config.get(spec.ssms_model or "")
    if config is None:
        raise SsmhubError(f"PyDDM needs an ssm-simulators model; {spec.name!r} names none")
    ok, why = SSMSToPyDDMMapper.is_compatible(config)
    if not ok:
        raise SsmhubError(f"PyDDM cannot solve model {spec.name!r} ({why}); use 'kde'")
    return config


def check_solvable(spec: ModelSpec) -> None:
    """Fail before any work if PyDDM cannot solve ``spec``."""
    _ssms_config(spec)


def _model(spec: ModelSpec, theta: dict[str, float], dt: float, dx: float, t_dur: float) -> Any:
    import pyddm
    from ssms.external_simulators.pyddm_mapper import SSMSToPyDDMMapper

    config = _ssms_config(spec)
    # The non-decision time shifts the solution afterwards; PyDDM's own t is time.
    params = {k: float(v) for k, v in theta.items() if k != spec.non_decision_time}
    if config.get("boundary_name", "constant") == "constant":
        bound: Any = params["a"]
    else:
        shape = SSMSToPyDDMMapper.create_boundary_function(config)
        # A bound collapsed to zero has absorbed everything; PyDDM needs it positive.
        bound = lambda t: max(shape(t, **params), dx)  # noqa: E731
    if "ornstein" in config["name"]:
        drift: Any = lambda x: params["v"] - params["g"] * x  # noqa: E731
    elif config.get("drift_fun") is None and config.get("drift_config") is None:
        drift = params["v"]
    else:
        shifted = SSMSToPyDDMMapper.create_drift_function(config)
        drift = lambda t: shifted(t, 0.0, **params)  # noqa: E731
    x0 = (2.0 * params.get("z", 0.5) - 1.0) * (bound(0.0) if callable(bound) else bound)

    def start(x: np.ndarray) -> np.ndarray:
        position = (x0 - x[0]) / (x[1] - x[0])
        i = min(int(position), x.size - 2)
        pdf = np.zeros(x.size)
        pdf[i], pdf[i + 1] = i + 1 - position, position - i
        return pdf

    return pyddm.gddm(
        drift=drift,
        bound=bound,
        starting_position=start,
        nondecision=0.0,
        mixture_coef=0.0,
        dx=dx,
        dt=dt,
        T_dur=t_dur,
    )


def _solve_once(
    spec: ModelSpec, theta: dict[str, float], dt: float, dx: float, t_dur: float
) -> tuple[np.ndarray, np.ndarray, float]:
    solution = _model(spec, theta, dt, dx, t_dur).solve()
    upper, lower = solution.pdf("correct"), solution.pdf("error")
    tail_upper = _continue_tail(upper, lower, dt, float(solution.prob_undecided()))
    return upper, lower, float(solution.prob("correct")) + tail_upper


def _continue_tail(upper: np.ndarray, lower: np.ndarray, dt: float, undecided: float) -> float:
    """Fill in, in place, the densities after the step where PyDDM stopped; return the
    probability of an upper response in the whole continued tail (to infinite time)."""
    decided = np.nonzero(upper + lower)[0]
    if decided.size == 0 or undecided <= 0.0 or decided[-1] == upper.size - 1:
        return 0.0  # nothing decided, or solved to the end
    last = decided[-1]
    rate = (upper[last] + lower[last]) / undecided  # so that the tail holds `undecided`
    decay = np.exp(-rate * dt * np.arange(1, upper.size - last))
    share = upper[last] / (upper[last] + lower[last])
    upper[last + 1 :] = upper[last] * decay
    lower[last + 1 :] = lower[last] * decay
    return share * undecided


def solve(
    spec: ModelSpec,
    theta: dict[str, float],
    grid: SolverGrid,
    t_dur: float,
    richardson: bool = True,
) -> Solution:
    """The likelihood of ``spec`` at ``theta`` for decision times up to ``t_dur``."""
    dt, t = grid.dt, float(spec.non_decision_time_of(theta))
    choices = (spec.lower_choice, spec.upper_choice)
    t_dur = max(t_dur, 4 * dt)
    fine_up, fine_down, fine_p = _solve_once(spec, theta, dt, grid.dx, t_dur)
    if not richardson:  # for benchmarks/pyddm_accuracy.py
        return Solution(fine_up, fine_down, dt, t, fine_p, choices)
    coarse_up, coarse_down, coarse_p = _solve_once(spec, theta, 2 * dt, grid.dx, t_dur)
    fine_mid = (np.arange(fine_up.size) - 0.5) * dt
    coarse_mid = (np.arange(coarse_up.size) - 0.5) * 2 * dt

    def extrapolate(fine: np.ndarray, coarse: np.ndarray) -> np.ndarray:
        both = 2 * fine - np.interp(fine_mid, coarse_mid, coarse, left=0.0, right=0.0)
        # Where the two disagree in sign (steep onsets, the far tail) keep the fine solution.
        return np.where(both > 0, both, fine)

    return Solution(
        upper=extrapolate(fine_up, coarse_up),
        lower=extrapolate(fine_down, coarse_down),
        dt=dt,
        t=t,
        p_upper=float(np.clip(2 * fine_p - coarse_p, 0.0, 1.0)),
        choices=choices,
    )
