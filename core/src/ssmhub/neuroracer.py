"""The NeuroRacer go/no-go analysis, end to end: ssmhub's main demo.

Go and NoGo trials share one drift rate whose sign flips with the condition; a press is the
upper bound (with a reaction time), a withheld press the lower bound (without one), scored
by the choice likelihood. Simulated from known values, so the posterior can be checked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

TRUTH = {"v": 1.0, "a": 1.5, "z": 0.5, "t": 0.5}


def simulate_trials(n_per_condition: int = 500, seed: int = 0) -> pd.DataFrame:
    """Go (condition +1) and NoGo (condition -1) trials; withheld presses have no rt."""
    import numpy as np
    import pandas as pd

    from ssmhub.simulation import simulate

    frames = []
    for offset, condition in enumerate((1, -1)):
        theta = {**TRUTH, "v": TRUTH["v"] * condition}
        trials = simulate("ddm", theta, n=n_per_condition, seed=seed + offset)
        trials["condition"] = condition
        frames.append(trials)
    data = pd.concat(frames, ignore_index=True)
    data.loc[data["response"] == -1, "rt"] = np.nan
    return data
