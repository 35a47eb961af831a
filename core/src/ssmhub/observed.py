"""Checking observed trials before they reach a likelihood.

Observed data are an (N, 2) array of ``[rt, response]`` rows or a DataFrame with columns
``rt`` and ``response``. A NaN ``rt`` marks a response without a reaction time (an omission,
a withheld press); such rows are scored by the choice likelihood alone. Anything else odd is
an error naming the column, the first offending row and the rule, because a single bad row
otherwise shows up much later as a -inf log-likelihood or a sampler that will not start.
Rows are named as their owner counts them (see `where`): a line of the file they were read
from, else a position counted from 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ssmhub.errors import SsmhubError
from ssmhub.simulator import OMITTED

COLUMNS = ("rt", "response")


class ObservedDataError(SsmhubError, ValueError):
    """Observed trials that no likelihood can score."""


def check_observed(
    data: Any,
    choices: Sequence[int],
    trialwise: Mapping[str, int] | None = None,
    file: Path | None = None,
) -> np.ndarray:
    """Validate ``data``; return it as a float64 (N, 2) array of ``[rt, response]`` rows.

    ``choices`` are the model's responses; ``trialwise`` maps each trial-wise parameter to
    its length, which must be the number of rows; ``file`` is the CSV (one header line) the
    rows were read from, whose line numbers errors then give.
    """
    rt, response = _columns(data)
    if rt.size == 0:
        raise ObservedDataError("observed data have no rows")
    rt = _numeric("rt", rt, file)
    response = _numeric("response", response, file)
    finite = "rt must be finite (NaN marks a trial without an rt)"
    _first_bad("rt", rt, np.isinf(rt), finite, file)
    _first_bad("rt", rt, rt <= 0, "rt must be positive", file)
    _check_seconds(rt)
    _first_bad(
        "response",
        response,
        response == OMITTED,
        f"response {OMITTED} marks an omitted trial, one the simulator did not finish, which "
        "is no choice to score: leave such rows out (data[data.response != ssmhub.OMITTED])",
        file,
    )
    _first_bad(
        "response",
        response,
        ~np.isin(response, np.asarray(choices, dtype=float)),
        f"response must be one of the model's choices {list(choices)}",
        file,
    )
    for name, length in (trialwise or {}).items():
        if length != rt.size:
            raise ObservedDataError(
                f"parameter {name!r} is trial-wise with {length} values but the observed data "
                f"have {rt.size} rows; a trial-wise parameter needs one value per row"
            )
    return np.stack([rt, response], axis=1)


def _columns(data: Any) -> tuple[np.ndarray, np.ndarray]:
    if hasattr(data, "columns"):  # a DataFrame; pandas need not be imported to check it
        missing = [c for c in COLUMNS if c not in data.columns]
        if missing:
            raise ObservedDataError(
                f"observed data lack column(s) {', '.join(map(repr, missing))}; "
                f"they have {', '.join(map(repr, map(str, data.columns)))}"
            )
        return np.asarray(data["rt"]), np.asarray(data["response"])
    array = np.asarray(data)
    if array.ndim != 2 or array.shape[1] != 2:
        raise ObservedDataError(
            f"observed data must be an (N, 2) array of [rt, response] rows or a DataFrame with "
            f"columns 'rt' and 'response', got an array of shape {array.shape}"
        )
    return array[:, 0], array[:, 1]


def where(column: str, row: int, file: Path | None = None) -> str:
    """A cell as a person finds it: by its line in ``file`` (the header is line 1; pandas
    skips blank lines, which would shift it) or, for data in memory, by its position counted
    from 0, as ``DataFrame.iloc`` and NumPy count."""
    if file is not None:
        return f"{file}, line {row + 2}, column {column!r}"
    return f"column {column!r}, row {row} (counted from 0)"


def _numeric(column: str, values: np.ndarray, file: Path | None) -> np.ndarray:
    try:
        return values.astype(np.float64)
    except (TypeError, ValueError):
        pass
    for row, value in enumerate(values):
        try:
            float(value)
        except (TypeError, ValueError):
            raise ObservedDataError(
                f"{where(column, row, file)}: {value!r} is not a number"
            ) from None
    raise ObservedDataError(f"column {column!r}: values of type {values.dtype} are not numbers")


# Reaction times are in seconds. A median this long is no decision experiment; it is what
# data recorded in milliseconds look like, which would otherwise be scored as very slow trials.
LONGEST_MEDIAN_RT = 20.0


def _check_seconds(rt: np.ndarray) -> None:
    if np.isnan(rt).all():
        return
    median = float(np.nanmedian(rt))
    if median > LONGEST_MEDIAN_RT:
        raise ObservedDataError(
            f"column 'rt': the median reaction time is {median:g}, but ssmhub takes seconds "
            f"(a median above {LONGEST_MEDIAN_RT:g} s looks like milliseconds: divide rt by 1000)"
        )


def _first_bad(
    column: str, values: np.ndarray, bad: np.ndarray, rule: str, file: Path | None
) -> None:
    if bad.any():
        row = int(np.argmax(bad))
        raise ObservedDataError(f"{where(column, row, file)}: {rule}, got {values[row]:g}")
