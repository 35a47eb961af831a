"""What a model is: its parameters, their bounds, its non-decision time and its choices.

A `ModelSpec` is the contract between a plugin and everything else in ssmhub: the simulator,
the training recipe, the networks and the PyMC distribution all read parameter names and
order from it, so it validates itself strictly and is immutable once built.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, Self, get_args

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from ssmhub.errors import ChoicesError, ThetaError
from ssmhub.recipe import BINARY_KINDS, NetworkKind, Recipe

if TYPE_CHECKING:
    import numpy as np

Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class Parameter(BaseModel):
    """One model parameter with the box the networks are trained on."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Name
    lower: float
    upper: float
    default: float
    description: str = ""

    @model_validator(mode="after")
    def _check_bounds(self) -> Self:
        if not (math.isfinite(self.lower) and math.isfinite(self.upper)):
            raise ValueError(
                f"parameter {self.name!r}: bounds must be finite, got [{self.lower}, {self.upper}]"
            )
        if not self.lower < self.upper:
            raise ValueError(
                f"parameter {self.name!r}: lower ({self.lower}) must be below upper ({self.upper})"
            )
        if not self.lower <= self.default <= self.upper:
            raise ValueError(
                f"parameter {self.name!r}: default {self.default} lies outside "
                f"[{self.lower}, {self.upper}]"
            )
        return self


class ModelSpec(BaseModel):
    """A sequential sampling model as a plugin registers it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Name
    description: str
    parameters: tuple[Parameter, ...] = Field(min_length=1)
    non_decision_time: Name | None = Field(
        description="The parameter that is the non-decision time (reaction times are "
        "impossible below it), or None for a model without one. Required: guessing it from "
        "a name would silently drop the rt > t guard of a model calling it, say, ndt."
    )
    choices: tuple[int, ...] = (-1, 1)
    choice_meanings: tuple[str, ...] = Field(
        default=(),
        description="What each of `choices` means, in the same order, for plots, legends and "
        'cards; left out, each reads "response <code>".',
    )
    ssms_model: str | None = Field(
        default=None, description="The ssm-simulators model this spec wraps, if any."
    )
    recipes: tuple[Recipe, ...] = Field(
        default=(), description="Tuned training-data recipes, at most one per network kind."
    )

    @model_validator(mode="before")
    @classmethod
    def _explicit_non_decision_time(cls, data: Any) -> Any:
        """Say what to write, where pydantic would only say "Field required": the one field
        without a default, so that no plugin gets a non-decision time by guesswork."""
        if isinstance(data, dict) and "non_decision_time" not in data:
            raise ValueError(
                f"model {data.get('name')!r}: non_decision_time is required: name the "
                "parameter that is the non-decision time, or None if the model has none"
            )
        return data

    @model_validator(mode="after")
    def _check_names_and_choices(self) -> Self:
        names = [p.name for p in self.parameters]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"model {self.name!r}: parameter names repeat: {', '.join(repeated)}")
        if len(self.choices) < 2 or len(set(self.choices)) != len(self.choices):
            raise ValueError(
                f"model {self.name!r}: choices must be at least two distinct integers, "
                f"got {list(self.choices)}"
            )
        if self.non_decision_time is not None and self.non_decision_time not in names:
            raise ValueError(
                f"model {self.name!r}: non_decision_time {self.non_decision_time!r} is not one "
                f"of its parameters ({', '.join(names)}), nor None"
            )
        if self.choice_meanings and len(self.choice_meanings) != len(self.choices):
            raise ValueError(
                f"model {self.name!r}: choice_meanings must give one meaning per choice "
                f"{list(self.choices)}, got {len(self.choice_meanings)}: "
                f"{list(self.choice_meanings)}"
            )
        kinds = [r.kind for r in self.recipes]
        if len(set(kinds)) != len(kinds):
            raise ValueError(f"model {self.name!r}: more than one recipe per kind: {kinds}")
        for recipe in self.recipes:
            recipe.resolved_box(self)
            if recipe.kind not in self.network_kinds:
                raise ValueError(
                    f"model {self.name!r}: a {recipe.kind} recipe, but a {recipe.kind} network "
                    f"represents two choices only and the model has {list(self.choices)}; "
                    "give an mnle recipe instead"
                )
        return self

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters)

    @property
    def upper_choice(self) -> int:
        """The response binary code (LAN, CPN, Fokker-Planck) calls upper: the largest choice,
        as in ssm-simulators, where 1 is the upper bound and -1 (or 0) the lower. Binary code
        calls `check_binary` first: for more than two choices there is no upper one."""
        return max(self.choices)

    @property
    def lower_choice(self) -> int:
        """The response binary code calls lower: the smallest choice."""
        return min(self.choices)

    @property
    def network_kinds(self) -> tuple[NetworkKind, ...]:
        """The network kinds that can represent this model's choices."""
        kinds = get_args(NetworkKind)
        return kinds if len(self.choices) == 2 else tuple(k for k in kinds if k not in BINARY_KINDS)

    def check_kind(self, kind: NetworkKind) -> None:
        """Refuse a network kind that cannot represent this model's choices, before any work:
        a binary kind applied to three choices would score them silently wrong."""
        if kind not in self.network_kinds:
            self.check_binary(f"a {kind} network")

    def check_binary(self, what: str) -> None:
        """Refuse ``what`` (something that knows two choices only) for a model with more."""
        if len(self.choices) != 2:
            raise ChoicesError(
                f"model {self.name!r} has {len(self.choices)} choices {list(self.choices)}, "
                f"but {what} represents two choices only; use the mnle kind instead, which "
                f"represents any number (`ssmhub generate {self.name} --kind mnle`)"
            )

    def non_decision_time_of(self, theta: Mapping[str, Any]) -> Any:
        """The earliest possible reaction time under ``theta`` (numbers or arrays by name):
        its non-decision time, or 0.0 for a model without one."""
        return 0.0 if self.non_decision_time is None else theta[self.non_decision_time]

    def meaning(self, choice: int) -> str:
        """What ``choice`` means, for legends and cards."""
        if self.choice_meanings:
            return self.choice_meanings[self.choices.index(choice)]
        return f"response {choice}"

    def parameter(self, name: str) -> Parameter:
        for p in self.parameters:
            if p.name == name:
                return p
        raise KeyError(name)

    def recipe(self, kind: NetworkKind) -> Recipe | None:
        """The spec's own recipe for ``kind``, if it brings one."""
        return next((r for r in self.recipes if r.kind == kind), None)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds as arrays in parameter order."""
        import numpy as np

        return (
            np.array([p.lower for p in self.parameters]),
            np.array([p.upper for p in self.parameters]),
        )

    def check_theta(self, theta: Mapping[str, float | np.ndarray]) -> dict[str, np.ndarray]:
        """Validate parameter values against the spec; return them as 1-D arrays of one length.

        Scalars and length-K arrays may be mixed (trial-wise parameters); scalars are broadcast.
        """
        import numpy as np

        names = self.parameter_names
        unknown = [k for k in theta if k not in names]
        if unknown:
            raise ThetaError(
                f"unknown parameter(s) {', '.join(map(repr, unknown))} for model {self.name!r}; "
                f"it takes {', '.join(names)}"
            )
        missing = [n for n in names if n not in theta]
        if missing:
            raise ThetaError(
                f"model {self.name!r} needs a value for {', '.join(map(repr, missing))}"
            )
        arrays = {n: np.atleast_1d(np.asarray(theta[n], dtype=np.float64)) for n in names}
        for n, a in arrays.items():
            if a.ndim != 1:
                raise ThetaError(f"parameter {n!r} must be a number or a 1-D array, got {a.ndim}-D")
            if not np.all(np.isfinite(a)):
                raise ThetaError(f"parameter {n!r} has a non-finite value")
        lengths = {a.size for a in arrays.values()} - {1}
        if len(lengths) > 1:
            raise ThetaError(
                "trial-wise parameters differ in length: "
                + ", ".join(f"{n}={a.size}" for n, a in arrays.items() if a.size > 1)
            )
        k = lengths.pop() if lengths else 1
        for p in self.parameters:
            a = arrays[p.name]
            outside = np.flatnonzero((a < p.lower) | (a > p.upper))
            if outside.size:
                i = int(outside[0])
                where = f" (row {i})" if a.size > 1 else ""
                raise ThetaError(
                    f"parameter {p.name!r} = {a[i]:g}{where} lies outside its bounds "
                    f"[{p.lower:g}, {p.upper:g}] for model {self.name!r}"
                )
        return {n: np.broadcast_to(a, (k,)).copy() for n, a in arrays.items()}
