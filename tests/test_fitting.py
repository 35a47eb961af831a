"""`ssmhub fit` and `ssmhub demo` from the command line: outputs, and errors before sampling."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import ssmhub
from ssmhub.errors import SsmhubError
from ssmhub.fitting import FitConfig, build_model, prior_ranges
from ssmhub.neuroracer import TRUTH, simulate_trials


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ssmhub.cli", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**__import__("os").environ, "COLUMNS": "200"},
    )


@pytest.mark.slow
def test_fit_writes_the_posterior_and_its_pictures(tmp_path):
    data = ssmhub.simulate("ddm", {"v": 1.0, "a": 1.5, "z": 0.5, "t": 0.3}, n=200, seed=1)
    data.to_csv(tmp_path / "trials.csv", index=False)
    result = run(
        "fit",
        str(tmp_path / "trials.csv"),
        "--model",
        "ddm",
        "--likelihood",
        "exact",
        "--fix",
        "z=0.5",
        "--draws",
        "100",
        "--tune",
        "100",
        "--chains",
        "1",
        "--out",
        str(tmp_path / "fit"),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    for name in ("idata.nc", "summary.csv", "posterior.png", "ppc.png"):
        assert (tmp_path / "fit" / name).stat().st_size > 0
    summary = pd.read_csv(tmp_path / "fit" / "summary.csv", index_col=0)
    assert set(summary.index) == {"v", "a", "t"}
    with xr.open_datatree(tmp_path / "fit" / "idata.nc") as tree:
        (used,) = json.loads(tree.attrs["ssmhub"])["observed"]
    assert (used["model"], used["likelihood"], used["networks"]) == ("ddm", "exact", [])
    assert abs(summary.loc["a", "mean"] - 1.5) < 0.3


@pytest.mark.parametrize(
    ("csv", "expected"),
    [
        ("rt,choice\n0.5,1\n", "missing column(s) response"),
        ("rt,response\n0.5,1\n-0.2,1\n", "rt"),
        ("rt,response\n0.5,1\n0.7,2\n", "response"),
    ],
)
def test_bad_trials_are_refused_before_sampling(tmp_path, csv, expected):
    (tmp_path / "trials.csv").write_text(csv)
    result = run(
        "fit",
        str(tmp_path / "trials.csv"),
        "--model",
        "ddm",
        "--likelihood",
        "exact",
        "--out",
        str(tmp_path / "fit"),
    )
    assert result.returncode == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "fit").exists()


def test_priors_follow_the_networks_box_and_fixed_values_are_checked():
    ranges = prior_ranges(FitConfig(model="ddm", fixed={"z": 0.5}))
    box = ssmhub.load_network("ddm", "mnle").config.box  # the default likelihood's
    assert ranges == {name: tuple(box[name]) for name in ("v", "a", "t")}
    with pytest.raises(SsmhubError, match="has no parameter q"):
        prior_ranges(FitConfig(model="ddm", fixed={"q": 1.0}))
    with pytest.raises(SsmhubError, match="outside its bounds"):
        prior_ranges(FitConfig(model="ddm", fixed={"z": 1.5}))


def test_t_prior_ends_at_the_fastest_rt():
    """Nothing changes in the posterior (rt > t for every trial); NUTS loses a cliff."""
    import pymc as pm

    data = ssmhub.simulate("ddm", TRUTH, n=50, seed=0)
    config = FitConfig(model="ddm", fixed={"z": 0.5})
    fastest = float(data["rt"].min())
    box = prior_ranges(config)
    assert fastest < box["t"][1]  # so t's range does change
    model = build_model(data, config)
    for name, (lower, upper) in {**box, "t": (box["t"][0], fastest)}.items():
        draws = pm.draw(model[name], draws=2000, random_seed=0)
        assert lower <= draws.min()
        assert draws.max() <= upper
        assert draws.max() > lower + 0.95 * (upper - lower)  # the whole range, not less
    # A trial-wise t (t times a per-trial factor) keeps the box: each trial has its own edge
    # (and its start, the box's middle, is above the fastest rt, where the sampler leaves).
    scaled = build_model(data, config, trialwise={"t": np.ones(len(data))})
    assert pm.draw(scaled["t"], draws=2000, random_seed=0).max() > fastest


def test_a_trial_faster_than_every_t_in_the_box_is_refused():
    data = ssmhub.simulate("ddm", TRUTH, n=50, seed=0)
    data.loc[7, "rt"] = prior_ranges(FitConfig(model="ddm"))["t"][0] / 2
    with pytest.raises(
        SsmhubError,
        match=r"row 7 \(counted from 0\): rt .* not above the lowest value .* of t, the non-",
    ):
        build_model(data, FitConfig(model="ddm"))


def test_neuroracer_data_follow_the_design():
    data = simulate_trials(200, seed=0)
    assert len(data) == 400
    assert sorted(data["condition"].unique()) == [-1, 1]
    # A withheld press (response -1) has no reaction time; a press has one.
    assert data.loc[data["response"] == -1, "rt"].isna().all()
    assert (data.loc[data["response"] == 1, "rt"] > TRUTH["t"]).all()
    # Go trials drift to the press, NoGo trials away from it.
    go = data[data["condition"] == 1]["response"].eq(1).mean()
    nogo = data[data["condition"] == -1]["response"].eq(1).mean()
    assert go > 0.8 > 0.2 > nogo
    assert np.isfinite(data.loc[data["response"] == 1, "rt"]).all()
