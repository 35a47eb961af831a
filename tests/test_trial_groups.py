"""Trials that share their parameters by construction are scored with one parameter row per
group (`ssmhub.trial_groups`), and only where that is proven from the model's graph."""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt
import pytest
from cached_networks import use_cached_networks

import ssmhub
from ssmhub.pymc import SSM
from ssmhub.trial_groups import trial_groups

N = 8
CONDITION = np.array([1, -1, 1, -1, 1, -1, 1, 1])
PARTICIPANT = np.array([0, 0, 0, 1, 1, 1, 2, 2])
COVARIATE = np.linspace(0.0, 1.0, N)


def groups_of(build) -> np.ndarray | None:
    """The groups of the trial-wise tensor ``build`` makes, as `SSM`'s logp sees it."""
    with pm.Model() as model:
        s = pm.Normal("s")
        u = pm.Normal("u", shape=3)
        b = pm.Normal("b", shape=2)
        v = build(s, u, b)
    (v,) = model.replace_rvs_by_values([v])
    return trial_groups([v], N)


def same_partition(groups: np.ndarray | None, *keys: np.ndarray) -> bool:
    expected = np.unique(np.stack(keys, axis=1), axis=0, return_inverse=True)[1].ravel()
    return groups is not None and np.array_equal(
        groups[:, None] == groups[None, :], expected[:, None] == expected[None, :]
    )


@pytest.mark.parametrize(
    ("build", "keys"),
    [
        (lambda s, u, b: s * CONDITION, (CONDITION,)),
        (lambda s, u, b: u[PARTICIPANT] + s * CONDITION, (PARTICIPANT, CONDITION)),
        (lambda s, u, b: pt.exp(u[PARTICIPANT])[:, None].squeeze(1), (PARTICIPANT,)),
        (
            lambda s, u, b: pt.dot(np.stack([np.ones(N), CONDITION], axis=1), b),
            (CONDITION,),
        ),
    ],
    ids=["condition", "participant-and-condition", "dimshuffled", "design-matrix"],
)
def test_trials_with_equal_keys_share_a_row(build, keys):
    assert same_partition(groups_of(build), *keys)


@pytest.mark.parametrize(
    "build",
    [
        lambda s, u, b: s * COVARIATE,  # every trial its own value: nothing to share
        lambda s, u, b: pt.roll(s * CONDITION, 1),  # trial i takes trial i-1's value
        lambda s, u, b: pt.cumsum(s * CONDITION),
        lambda s, u, b: s + pm.Normal("per_trial", shape=N),  # a latent value per trial
        lambda s, u, b: s * pm.Data("condition", CONDITION.astype(float)),  # may change
    ],
    ids=["covariate", "roll", "cumsum", "per-trial-latent", "shared-data"],
)
def test_no_grouping_where_it_is_not_proven(build):
    assert groups_of(build) is None


def test_grouped_rows_score_and_differentiate_like_one_row_per_trial(mnle_home, monkeypatch):
    """The same model, once with the parameter rows grouped by condition and participant,
    once made ungroupable by a zero roll (the same values): log-likelihoods and gradients
    agree, and the grouped Op sees one row per group."""
    use_cached_networks(monkeypatch, mnle_home)
    n = 60
    condition = np.tile([1.0, -1.0], n // 2)
    participant = np.repeat(np.arange(3), n // 3)
    data = ssmhub.simulate("ddm", {"v": 0.8, "a": 1.2, "z": 0.5, "t": 0.3}, n=n, seed=2)
    data.loc[::5, "rt"] = np.nan

    def model(ungroupable: bool) -> pm.Model:
        with pm.Model() as m:
            v = pm.Normal("v", 0.5, 0.3)
            offset = pm.Normal("offset", 0.0, 0.1, shape=3)
            a = pm.Uniform("a", 0.8, 1.6)
            trial_v = v * condition + offset[participant]
            if ungroupable:
                trial_v = pt.roll(trial_v, 0)
            SSM("y", "ddm", "mnle", v=trial_v, a=a, z=0.5, t=0.25, observed=data)
        return m

    found = []

    def spy(params, n):
        found.append(trial_groups(params, n))
        return found[-1]

    monkeypatch.setattr(ssmhub.pymc, "trial_groups", spy)
    grouped, per_trial = model(False), model(True)
    point = {"v": 0.6, "offset": np.array([0.05, -0.1, 0.02]), "a_interval__": 0.3}
    for compile_ in ("compile_logp", "compile_dlogp"):
        values = [getattr(m, compile_)()(point) for m in (grouped, per_trial)]
        np.testing.assert_allclose(*values, rtol=1e-5, err_msg=compile_)
    trials = [m.compile_logp(sum=False)(point)[-1] for m in (grouped, per_trial)]
    np.testing.assert_allclose(*trials, rtol=1e-5)
    assert {len(np.unique(g)) if g is not None else None for g in found} == {6, None}
