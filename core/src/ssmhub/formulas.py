"""Per-parameter regressions from formulas: ``v ~ 1 + x + C(condition) + (1|participant)``.

Design matrices come from formulae (the formula library bambi is built on), so fixed
effects, categorical predictors and group effects mean what they mean in lme4 and bambi.
Each group term gets its own standard deviation and non-centred offsets. The linear
predictor reaches the likelihood through a logistic link into the parameter's range,
``lower + (upper - lower) * sigmoid(eta)``, so that no value of the regression ever leaves
the box a network was trained on (where the likelihood is -inf and NUTS stalls).

Priors are stated on the linear predictor's scale (`PRIORS`) and printed by
`describe_priors`: an intercept Normal(0, 1.5) is close to uniform over the range.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, ConfigDict

from ssmhub.errors import SsmhubError
from ssmhub.observed import where

if TYPE_CHECKING:
    import pandas as pd
    from pytensor.tensor.variable import TensorVariable

__all__ = [
    "PRIORS",
    "Design",
    "Formula",
    "FormulaError",
    "Link",
    "describe_priors",
    "design",
    "regress",
]

PRIORS = {
    "intercept": "Normal(0, 1.5)",
    "slope": "Normal(0, 1 / SD of the predictor's column)",
    "group SD": "HalfNormal(1)",
    "group offsets": "Normal(0, 1) x group SD (non-centred)",
}
INTERCEPT_SD = 1.5
GROUP_SD = 1.0


class FormulaError(SsmhubError, ValueError):
    """A formula that cannot be built on the data or the model."""


class Formula(BaseModel):
    """``parameter ~ terms``: one parameter's regression on the data's columns."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    parameter: str
    terms: str

    @classmethod
    def parse(cls, text: str) -> Formula:
        # Only the response is split off here; the terms are formulae's to parse.
        parameter, tilde, terms = text.partition("~")
        if not tilde or not parameter.strip() or not terms.strip():
            raise FormulaError(
                f"formula {text!r}: write it as 'parameter ~ terms', "
                "e.g. 'v ~ 1 + x + (1|participant)'"
            )
        return cls(parameter=parameter.strip(), terms=terms.strip())

    def __str__(self) -> str:
        return f"{self.parameter} ~ {self.terms}"


@dataclass(frozen=True)
class GroupTerm:
    """One group term, e.g. ``1|participant``: its (N, levels) design matrix."""

    name: str
    matrix: np.ndarray
    levels: list[str]


@dataclass(frozen=True)
class Design:
    """A formula's design matrices on the trials: fixed effects and group terms."""

    formula: Formula
    columns: list[str]  # of ``common``, e.g. Intercept, x, condition[b]
    common: np.ndarray  # (N, len(columns))
    groups: list[GroupTerm]
    variables: set[str]  # the data columns the formula reads

    def slope_sds(self) -> np.ndarray:
        """Each slope's prior SD: 1 / SD of its column, so that a change of one SD in the
        predictor moves the linear predictor by about 1 a priori, whatever its units."""
        spread = self.common.std(axis=0)
        return np.where(spread > 0, 1.0 / np.where(spread > 0, spread, 1.0), 1.0)


def design(formula: Formula, data: pd.DataFrame) -> Design:
    """The design matrices of ``formula`` on ``data``, after checks that name the column and
    the rule broken (formulae's own errors are a KeyError or 'incomplete rows')."""
    import formulae
    import pandas as pd

    described = formulae.model_description(formula.terms)
    variables = set(described.var_names)
    missing = sorted(variables - set(data.columns))
    if missing:
        raise FormulaError(
            f"formula '{formula}': no column {', '.join(map(repr, missing))} in the data; "
            f"its columns are {', '.join(map(str, data.columns))}"
        )
    for column in sorted(variables):
        values = data[column]
        absent = values.isna().to_numpy()
        if absent.any():
            raise FormulaError(
                f"formula '{formula}': {where(column, int(np.argmax(absent)))} is empty; "
                "every trial needs a value of each predictor"
            )
        if isinstance(values.dtype, pd.CategoricalDtype):
            unused = [c for c in values.cat.categories if c not in set(values)]
            if unused:
                raise FormulaError(
                    f"formula '{formula}': column {column!r} declares the level(s) "
                    f"{', '.join(map(repr, unused))}, which no trial has; their effect "
                    "cannot be estimated: remove them (Series.cat.remove_unused_categories)"
                )
    matrices = formulae.design_matrices(formula.terms, data, na_action="error")
    groups = []
    if matrices.group is not None:
        for name, term in matrices.group.terms.items():
            if len(term.groups) < 2:
                raise FormulaError(
                    f"formula '{formula}': the group term ({name}) has one level "
                    f"({term.groups[0]!r}); a group effect needs at least two groups"
                )
            matrix = np.asarray(matrices.group[name].toarray(), dtype=np.float64)
            groups.append(GroupTerm(name, matrix, [str(g) for g in term.groups]))
    if matrices.common is None:
        columns, common = [], np.zeros((len(data), 0))
    else:
        frame = matrices.common.as_dataframe()
        columns, common = list(map(str, frame.columns)), frame.to_numpy(dtype=np.float64)
    return Design(formula, columns, common, groups, variables)


@dataclass(frozen=True)
class Link:
    """``lower + (upper - lower) * sigmoid(eta + shift)``: eta = 0 maps to ``centre``.

    NUTS starts at eta = 0, so the centre is where a parameter starts: the middle of its
    range, except that a non-decision time must start below the fastest rt.
    """

    lower: float
    upper: float
    centre: float

    @property
    def shift(self) -> float:
        x = (self.centre - self.lower) / (self.upper - self.lower)
        return float(np.log(x) - np.log1p(-x))

    def __str__(self) -> str:
        shift = f" {self.shift:+.3g}" if abs(self.shift) > 1e-12 else ""
        return f"{self.lower:g} + {self.upper - self.lower:g} * sigmoid(eta{shift})"


def regress(designs: Sequence[Design], links: Mapping[str, Link]) -> dict[str, TensorVariable]:
    """Each formula's parameter, one value per trial, as a PyMC expression in the current
    model: its coefficients (named ``{parameter}_{column}``, ``{parameter}_{term}_sigma``,
    ``{parameter}_{term}_offset``) with `PRIORS`, through its link."""
    import pymc as pm

    out = {}
    for d in designs:
        p = d.formula.parameter
        eta = 0.0
        for column, matrix, sd in zip(d.columns, d.common.T, d.slope_sds(), strict=True):
            scale = INTERCEPT_SD if column == "Intercept" else sd
            eta = eta + pm.Normal(f"{p}_{column}", 0.0, scale) * matrix
        for term in d.groups:
            sigma = pm.HalfNormal(f"{p}_{term.name}_sigma", GROUP_SD)
            offset = pm.Normal(f"{p}_{term.name}_offset", 0.0, 1.0, shape=len(term.levels))
            eta = eta + pm.math.dot(term.matrix, sigma * offset)
        link = links[p]
        # Not a Deterministic: that would store one value per trial and draw.
        out[p] = link.lower + (link.upper - link.lower) * pm.math.sigmoid(
            (eta + link.shift) * np.ones(len(d.common))
        )
    return out


def describe_priors(designs: Sequence[Design], links: Mapping[str, Link]) -> list[str]:
    """One line per formula: its link and its coefficients' priors, for the fit's report."""
    lines = []
    for d in designs:
        p = d.formula.parameter
        priors = [
            f"{p}_{c} ~ Normal(0, {INTERCEPT_SD if c == 'Intercept' else sd:.3g})"
            for c, sd in zip(d.columns, d.slope_sds(), strict=True)
        ]
        priors += [f"{p}_{g.name}_sigma ~ HalfNormal({GROUP_SD:g})" for g in d.groups]
        lines.append(f"{d.formula}: {p} = {links[p]}; " + ", ".join(priors))
    return lines
