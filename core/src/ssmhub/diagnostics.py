"""After sampling: what in a fit should not be trusted yet, and what to do about it.

The numbers come from ArviZ (its summary's r_hat and bulk ESS) and the sampler's own
statistics; this module only decides what to flag. Thresholds follow Vehtari et al. (2021):
r_hat above 1.01 and a bulk ESS under 400 (100 per chain for 4 chains).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Finding", "diagnose"]

R_HAT = 1.01
ESS_BULK = 400
EDGE = 0.01  # of a range: "at the edge"
EDGE_SHARE = 0.05  # of the draws there before it is flagged
MAX_TREE_DEPTH = 10  # PyMC's and NumPyro's default


@dataclass(frozen=True)
class Finding:
    """One problem: which check, what was seen, what to do."""

    check: str
    seen: str
    advice: str


def diagnose(
    idata: Any,
    summary: Any,
    ranges: Mapping[str, tuple[float, float]],
    fastest_rt: float | None = None,
    non_decision_time: str | None = None,
) -> list[Finding]:
    """Findings for a fit: ``summary`` is ``arviz.summary(idata)``; ``ranges`` the uniform
    priors' ranges (a network's box); ``fastest_rt`` the fastest observed rt, at which a
    free ``non_decision_time`` is pinned when a few trials are faster than the model allows.
    """
    found = []
    if "sample_stats" not in idata:  # a variational approximation: no chains to compare
        found.append(
            Finding(
                "ADVI",
                "draws from a mean-field approximation, not from the posterior",
                "its means are often close, its SDs too small, and it shows no divergences: "
                "fit the final model with NUTS (--method nuts)",
            )
        )
    high = summary[summary["r_hat"] > R_HAT]
    if len(high):
        found.append(
            Finding(
                "r_hat",
                ", ".join(f"{n} {r:.3f}" for n, r in high["r_hat"].items()) + f" (> {R_HAT})",
                "the chains disagree: run more tuning and draws (--tune, --draws) and check "
                "the other findings",
            )
        )
    low = summary[summary["ess_bulk"] < ESS_BULK]
    if len(low):
        found.append(
            Finding(
                "bulk ESS",
                ", ".join(f"{n} {e:.0f}" for n, e in low["ess_bulk"].items()) + f" (< {ESS_BULK})",
                "too few effective draws for stable means and intervals: more draws or chains",
            )
        )
    if "sample_stats" not in idata:
        return found + _edges(idata, ranges, fastest_rt, non_decision_time)
    stats = idata.sample_stats
    divergent = int(np.asarray(stats["diverging"]).sum())
    if divergent:
        found.append(
            Finding(
                "divergences",
                f"{divergent} of {np.asarray(stats['diverging']).size} draws",
                "NUTS could not follow the posterior there: raise target_accept, or narrow "
                "or reparameterise the priors (non-centred group effects)",
            )
        )
    depth = np.asarray(stats["tree_depth"]) if "tree_depth" in stats else None
    if depth is not None and (saturated := float(np.mean(depth >= MAX_TREE_DEPTH))) > 0:
        found.append(
            Finding(
                "tree depth",
                f"{saturated:.1%} of draws hit the maximum depth {MAX_TREE_DEPTH}",
                "trajectories are cut short: the posterior is badly scaled or correlated; "
                "reparameterise, or raise max_treedepth",
            )
        )
    return found + _edges(idata, ranges, fastest_rt, non_decision_time)


def _edges(
    idata: Any,
    ranges: Mapping[str, tuple[float, float]],
    fastest_rt: float | None,
    non_decision_time: str | None,
) -> list[Finding]:
    """Parameters whose draws pile at an end of their range, or a t pinned at the fastest rt."""
    found = []
    posterior = idata.posterior
    for name, (lo, hi) in ranges.items():
        if name not in posterior:
            continue
        draws = np.asarray(posterior[name]).ravel()
        width = hi - lo
        at_fastest = name == non_decision_time and fastest_rt is not None and hi >= fastest_rt
        for edge, bound, share in (
            ("lower", lo, np.mean(draws < lo + EDGE * width)),
            ("upper", hi, np.mean(draws > hi - EDGE * width)),
        ):
            if share <= EDGE_SHARE:
                continue
            if edge == "upper" and at_fastest:
                found.append(
                    Finding(
                        f"{name} at the fastest rt",
                        f"{share:.0%} of draws within {EDGE:.0%} of the fastest rt "
                        f"{fastest_rt:.3g} s",
                        f"a few trials faster than the others pin the non-decision time {name}: "
                        "contaminants (fast guesses)? fit with --p-outlier free, or leave "
                        "such trials out",
                    )
                )
            else:
                found.append(
                    Finding(
                        f"{name} at an edge",
                        f"{share:.0%} of draws within {EDGE:.0%} of the {edge} end {bound:g} of "
                        "its range",
                        "the posterior is cut by the prior's range, which is the network's "
                        "training box: the data want values the network was not trained on",
                    )
                )
    return found
