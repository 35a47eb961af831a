"""How a model's training data is made.

A recipe is the whole, hashable description of a training set: anyone holding it (and the
plugin's version) can regenerate the same data, so every field that changes the data is here.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    model_validator,
)

from ssmhub.errors import SsmhubError

if TYPE_CHECKING:
    from ssmhub.spec import ModelSpec

NetworkKind = Literal["lan", "cpn", "mnle"]
# Kinds whose format has room for two choices only: a LAN's input is one response code read
# as lower/upper, a CPN's output one logit (and the LAN's correction is fitted to that CPN).
BINARY_KINDS: frozenset[NetworkKind] = frozenset({"lan", "cpn"})
# "simulation": raw simulated trials, no labels (the `mnle` kind, trained by maximum likelihood).
Estimator = Literal["kde", "pyddm", "exact", "simulation"]


class SolverGrid(BaseModel):
    """Time and space steps of a Fokker-Planck solution (see ``fokker_planck``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dt: PositiveFloat = 0.001
    dx: PositiveFloat = 0.002


class Recipe(BaseModel):
    """A training-data recipe for one network kind of one model."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: NetworkKind
    estimator: Estimator = "kde"
    box: dict[str, tuple[float, float]] = Field(
        default_factory=dict,
        description="Parameter ranges to sample; parameters left out use the spec's bounds.",
    )
    n_parameter_sets: PositiveInt = 10_000
    n_simulations: PositiveInt = Field(
        default=100_000,
        description="Simulations per parameter set (KDE or choice estimate; for 'mnle', the "
        "trials kept per set).",
    )
    n_training_points: PositiveInt = Field(
        default=1_000, description="Labelled (rt, response) points drawn per parameter set."
    )
    mixture: tuple[float, float, float] = Field(
        default=(0.9, 0.1, 0.0),
        description="Shares of training points from the model, uniform on the rt range, and "
        "uniform at rt <= 0 (LAN only; rows at rt <= t are dropped, see labels.py).",
    )
    max_rt: float = Field(
        default=20.0,
        gt=0,
        description="Upper end of the rt range (uniform draws, PyDDM grid); for 'mnle', the "
        "horizon: a trial whose decision takes this long or longer is undecided.",
    )
    grid: SolverGrid = Field(
        default_factory=SolverGrid, description="Fokker-Planck grid (estimator 'pyddm' only)."
    )
    shard_size: PositiveInt = Field(default=100, description="Parameter sets per shard.")
    seed: int = 0

    @model_validator(mode="after")
    def _check_mixture(self) -> Self:
        if any(m < 0 for m in self.mixture) or abs(sum(self.mixture) - 1.0) > 1e-9:
            raise ValueError(
                f"mixture must be three non-negative shares summing to 1, got {list(self.mixture)}"
            )
        if (self.kind == "mnle") != (self.estimator == "simulation"):
            raise ValueError(
                f"estimator {self.estimator!r} cannot make {self.kind} data: 'mnle' networks "
                "train on raw simulated trials (estimator 'simulation'), and only they do"
            )
        for name, (lo, hi) in self.box.items():
            if not lo < hi:
                raise ValueError(f"box[{name!r}]: lower ({lo}) must be below upper ({hi})")
        return self

    def resolved_box(self, spec: ModelSpec) -> dict[str, tuple[float, float]]:
        """The full box for ``spec``, checked to lie inside the spec's bounds."""
        unknown = sorted(set(self.box) - set(spec.parameter_names))
        if unknown:
            raise ValueError(
                f"box names unknown parameter(s) {', '.join(unknown)} of model {spec.name!r}"
            )
        box = {}
        for p in spec.parameters:
            lo, hi = self.box.get(p.name, (p.lower, p.upper))
            if lo < p.lower or hi > p.upper:
                raise ValueError(
                    f"box[{p.name!r}] = [{lo}, {hi}] reaches outside the spec's bounds "
                    f"[{p.lower}, {p.upper}]"
                )
            box[p.name] = (lo, hi)
        return box

    def cost(self) -> str:
        """The work of making this data, in the units its estimator spends, for a person to
        read before it starts: plugin defaults are sized for a cluster, not a laptop."""
        sets = f"{self.n_parameter_sets:,} parameter sets"
        if self.estimator == "pyddm":  # see labels.Labeller: PyDDM simulates nothing
            return (
                f"{sets}, one Fokker-Planck solution each (grid dt={self.grid.dt:g}, "
                f"dx={self.grid.dx:g})"
            )
        if self.estimator == "exact" and self.kind == "cpn":
            return f"{sets}, one closed-form choice probability each (no simulations)"
        total = self.n_parameter_sets * self.n_simulations
        return f"{sets} x {self.n_simulations:,} simulations = {total:,} simulated trials"

    def digest(self) -> str:
        """A sha256 of the recipe's canonical JSON, recorded with data and networks."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()


def load_recipe(path: Path, base: Recipe | None = None) -> Recipe:
    """Read a recipe from JSON, naming the file and the field on error.

    With ``base`` (the plugin's recipe), the file holds changes to it: the fields it names
    replace ``base``'s, and in ``box`` and ``grid`` only the entries it names, so that a file
    resizing a data set keeps the plugin's narrowed box. Without, unnamed fields take their
    defaults.
    """
    try:
        changes = json.loads(path.read_text())
    except OSError as exc:
        raise SsmhubError(f"{path}: cannot read recipe: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise SsmhubError(f"{path}: invalid recipe: not JSON: {exc}") from None
    if not isinstance(changes, dict):
        raise SsmhubError(
            f"{path}: invalid recipe: must be a JSON object of Recipe fields, got "
            f"{type(changes).__name__}"
        )
    try:
        if base is None:
            return Recipe.model_validate(changes)
        return Recipe.model_validate(_overlaid(base.model_dump(mode="json"), changes))
    except ValidationError as exc:
        raise SsmhubError(f"{path}: invalid recipe: {exc}") from None


def _overlaid(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes``; a mapping in both is overlaid key by key."""
    return {
        **base,
        **{
            key: _overlaid(base[key], value)
            if isinstance(value, dict) and isinstance(base.get(key), dict)
            else value
            for key, value in changes.items()
        },
    }
