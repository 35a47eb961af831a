"""Labelled training rows for one parameter set.

The mixture of training points and the KDE estimator come from ssm-simulators
(``ResampleMixtureStrategy``, ``KDELikelihoodEstimator``); ssmhub adds what they lack:
simulations from any plugin's simulator (not just ssms models), an ``exact`` estimator that
labels genuine model draws with a closed-form likelihood registered by a plugin, and a
``pyddm`` estimator on ssmhub's own Fokker-Planck path (see ``fokker_planck`` for why not
ssms' ``PyDDMEstimatorBuilder``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ssmhub import fokker_planck
from ssmhub.errors import SsmhubError
from ssmhub.likelihood import Likelihood
from ssmhub.recipe import Estimator, Recipe
from ssmhub.simulator import Simulator
from ssmhub.spec import ModelSpec

# The revision of each estimator's labels. Bump it when the labels a recipe makes change, so
# that `generate` does not mix old and new shards in one directory. pyddm 2: the tail after
# PyDDM stops solving is continued (see fokker_planck) instead of labelled impossible.
LABELS_REVISION: dict[Estimator, int] = {"kde": 1, "pyddm": 2, "exact": 1, "simulation": 1}

# Label of impossible points (rt below zero or beyond the density's reach), as in LAN training.
LOG_FLOOR = math.log(1e-29)


@dataclass(frozen=True)
class DensityEstimator:
    """ssms' estimator protocol (sample, evaluate, get_metadata) over a sampler and a density."""

    draw: Callable[[int, np.random.Generator], tuple[np.ndarray, np.ndarray]]
    log_density: Callable[[np.ndarray, np.ndarray], np.ndarray]
    metadata: dict[str, Any]

    def sample(self, n_samples: int, random_state: int | None = None) -> dict[str, np.ndarray]:
        rt, response = self.draw(n_samples, np.random.default_rng(random_state))
        return {"rts": rt, "choices": response}

    def evaluate(self, rts: np.ndarray, choices: np.ndarray) -> np.ndarray:
        rt = np.asarray(rts, dtype=np.float64).ravel()
        logp = np.asarray(self.log_density(rt, np.asarray(choices).ravel()), dtype=np.float64)
        return np.maximum(np.nan_to_num(logp, nan=LOG_FLOOR, neginf=LOG_FLOOR), LOG_FLOOR)

    def get_metadata(self) -> dict[str, Any]:
        return self.metadata


def _resampler(
    rt: np.ndarray, response: np.ndarray
) -> Callable[[int, np.random.Generator], tuple[np.ndarray, np.ndarray]]:
    """Draws with replacement from simulated trials."""

    def draw(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        pick = rng.integers(0, rt.size, n)
        return rt[pick], response[pick]

    return draw


def _generator_config(recipe: Recipe) -> dict[str, Any]:
    """The slice of an ssms generator config that its mixture strategy reads."""
    return {
        "training": {
            "n_samples_per_param": recipe.n_training_points,
            "mixture_probabilities": list(recipe.mixture),
            "separate_response_channels": False,
            "negative_rt_log_likelihood": LOG_FLOOR,
        },
    }


def check_estimator(spec: ModelSpec, recipe: Recipe, likelihood: Likelihood | None) -> None:
    """Fail before any work if the recipe's estimator cannot serve this model."""
    if recipe.estimator == "exact" and likelihood is None:
        raise SsmhubError(
            f"recipe.estimator: 'exact' needs a likelihood named 'exact' for model "
            f"{spec.name!r}, and no plugin registers one; use 'kde'"
        )
    if recipe.estimator == "pyddm":
        try:
            fokker_planck.check_solvable(spec)
        except SsmhubError as exc:
            raise SsmhubError(f"recipe.estimator: 'pyddm': {exc}") from None


def undecided(spec: ModelSpec, rt: np.ndarray, response: np.ndarray, horizon: float, t: Any) -> Any:
    """Trials the simulator did not finish within ``horizon`` (decision time): marked with rt
    `OMITTED` (see `ssmhub.simulator.Simulation`), or ended there; neither is a choice the
    model made."""
    decision_time = rt - t
    return ~np.isin(response, spec.choices) | ~(rt >= 0) | (decision_time >= horizon)


def simulated_trials(
    spec: ModelSpec, recipe: Recipe, simulator: Simulator, thetas: np.ndarray, seed: int
) -> np.ndarray:
    """``n_simulations`` raw trials of each parameter row, one simulator call for all rows.

    Rows are [parameters, rt, response], grouped by parameter set (the `mnle` trainer reads
    them ``n_simulations`` at a time); an undecided trial (see `undecided`) keeps its row,
    with rt and response NaN, so that its share is learnt as the undecided outcome.
    """
    n, names = recipe.n_simulations, spec.parameter_names
    theta = {name: thetas[:, i] for i, name in enumerate(names)}
    sim = simulator(theta, n, seed)
    t = np.asarray(spec.non_decision_time_of(theta))[..., None]
    rt, response = sim.rt.astype(np.float64), sim.response.astype(np.float64)
    lost = undecided(spec, rt, response, recipe.max_rt, t)
    rt[lost], response[lost] = np.nan, np.nan
    params = np.repeat(thetas, n, axis=0)
    return np.column_stack([params, rt.ravel(), response.ravel()]).astype(np.float32)


@dataclass(frozen=True)
class Labeller:
    """Makes the labelled rows of one model's recipe, one parameter set at a time."""

    spec: ModelSpec
    recipe: Recipe
    simulator: Simulator
    likelihood: Likelihood | None  # the closed form, for the 'exact' estimator

    def rows(self, theta: dict[str, float], seed: int) -> np.ndarray:
        """Training rows for one parameter set, as float32.

        LAN: up to ``n_training_points`` rows of [parameters, rt, response, log-likelihood];
        rows with rt <= t (the spec's non-decision time) are dropped. CPN: one row of
        [parameters, P(upper choice)] (`ModelSpec.upper_choice`).
        """
        params = np.array([theta[n] for n in self.spec.parameter_names])
        sim_seed, mix_seed = np.random.SeedSequence(seed).generate_state(2) >> 1  # 31 bits
        if self.recipe.kind == "cpn":
            p_upper = self._p_upper(theta, int(sim_seed))
            return np.append(params, p_upper).astype(np.float32)[None, :]
        from ssms.dataset_generators.strategies.resample_mixture_strategy import (
            ResampleMixtureStrategy,
        )

        strategy = ResampleMixtureStrategy(
            _generator_config(self.recipe),
            {"params": list(self.spec.parameter_names), "nchoices": len(self.spec.choices)},
        )
        estimator = self._estimator(theta, int(sim_seed))
        rows = strategy.generate(theta, estimator, random_state=int(mix_seed))
        # Every SSM has rt > t; the likelihood is -inf below that whatever a network says,
        # so rows there would only teach the network a jump it cannot fit.
        return rows[rows[:, len(params)] > self.spec.non_decision_time_of(theta)]

    def _simulate(self, theta: dict[str, float], seed: int) -> tuple[np.ndarray, np.ndarray]:
        """The trials that ended in a choice: KDE densities and choice shares are those of
        the decided trials, so an omitted trial is never counted as a choice."""
        sim = self.simulator(
            {k: np.array([v]) for k, v in theta.items()}, self.recipe.n_simulations, seed
        )
        rt, response = sim.rt[0], sim.response[0]
        t = self.spec.non_decision_time_of(theta)
        decided = ~undecided(self.spec, rt, response, self.recipe.max_rt, t)
        if not decided.any():
            raise SsmhubError(
                f"model {self.spec.name!r} at {theta}: none of {rt.size} simulated trials "
                f"ended within the horizon ({self.recipe.max_rt:g} s); narrow the recipe's box"
            )
        return rt[decided], response[decided]

    def _estimator(self, theta: dict[str, float], seed: int) -> Any:
        metadata = {"max_t": self.recipe.max_rt, "possible_choices": list(self.spec.choices)}
        if self.recipe.estimator == "pyddm":
            solution = self._solve(theta)
            return DensityEstimator(solution.sample, solution.log_density, metadata)
        rt, response = self._simulate(theta, seed)
        if self.recipe.estimator == "exact":
            return DensityEstimator(
                _resampler(rt, response), self._exact_log_density(theta), metadata
            )
        from ssms.dataset_generators.likelihood_estimators.kde_estimator import (
            KDELikelihoodEstimator,
        )

        estimator = KDELikelihoodEstimator()
        estimator.fit({"rts": rt[:, None], "choices": response[:, None], "metadata": metadata})
        return estimator

    def _solve(self, theta: dict[str, float]) -> fokker_planck.Solution:
        t_dur = self.recipe.max_rt - self.spec.non_decision_time_of(theta)
        return fokker_planck.solve(self.spec, theta, self.recipe.grid, t_dur)

    def _exact_log_density(
        self, theta: dict[str, float]
    ) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        assert self.likelihood is not None
        logp_rt = self.likelihood.logp_rt
        params = np.array([[theta[n] for n in self.spec.parameter_names]])
        return lambda rt, response: logp_rt(np.repeat(params, rt.size, 0), rt, response)

    def _p_upper(self, theta: dict[str, float], seed: int) -> float:
        if self.recipe.estimator == "exact":
            assert self.likelihood is not None
            assert self.likelihood.logp_choice is not None
            params = np.array([[theta[n] for n in self.spec.parameter_names]])
            upper = np.array([self.spec.upper_choice])
            return float(np.exp(self.likelihood.logp_choice(params, upper)[0]))
        if self.recipe.estimator == "pyddm":
            return self._solve(theta).p_upper
        _, response = self._simulate(theta, seed)  # the share of simulated upper responses
        return float(np.mean(response == self.spec.upper_choice))
