"""Formulas, links, contaminants, the fit's plan and diagnostics (`ssmhub.formulas`,
`ssmhub.fitting.plan_fit`, `ssmhub.diagnostics`)."""

from __future__ import annotations

import warnings

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import pytest
from conftest import run_cli

import ssmhub
from ssmhub.diagnostics import diagnose
from ssmhub.fitting import FitConfig, UnusedColumnWarning, build_model, plan_fit, prior_ranges
from ssmhub.formulas import Formula, FormulaError, Link, design, regress
from ssmhub.ops import IMPOSSIBLE
from ssmhub.pymc import SSM

TRUTH = {"v": 0.8, "a": 1.2, "z": 0.5, "t": 0.3}


@pytest.fixture(scope="module")
def experiment() -> pd.DataFrame:
    """Four participants x 30 trials, two conditions, a covariate."""
    rng = np.random.default_rng(3)
    n = 120
    data = ssmhub.simulate("ddm", TRUTH, n=n, seed=3)
    data["x"] = rng.normal(size=n)
    data["condition"] = np.tile(["easy", "hard"], n // 2)
    data["participant_id"] = np.repeat([f"p{i}" for i in range(4)], n // 4)
    return data


def config(**kw) -> FitConfig:
    return FitConfig(model="ddm", likelihood="exact", fixed={"z": 0.5}, **kw)


def test_a_formula_is_parameter_tilde_terms():
    f = Formula.parse(" v ~ 1 + x + (1|participant_id) ")
    assert (f.parameter, f.terms, str(f)) == (
        "v",
        "1 + x + (1|participant_id)",
        "v ~ 1 + x + (1|participant_id)",
    )
    for bad in ("1 + x", "v ~ ", " ~ x"):
        with pytest.raises(FormulaError, match="parameter ~ terms"):
            Formula.parse(bad)


def test_design_has_fixed_categorical_and_group_columns(experiment):
    d = design(Formula.parse("v ~ 1 + x + condition + (1|participant_id)"), experiment)
    assert d.columns == ["Intercept", "x", "condition[hard]"]
    np.testing.assert_array_equal(d.common[:, 1], experiment["x"])
    np.testing.assert_array_equal(d.common[:, 2], experiment["condition"] == "hard")
    (group,) = d.groups
    assert group.levels == ["p0", "p1", "p2", "p3"]
    # One indicator per trial, in its participant's column.
    np.testing.assert_array_equal(group.matrix.argmax(axis=1), np.repeat(np.arange(4), 30))
    assert (group.matrix.sum(axis=1) == 1).all()
    assert d.variables == {"x", "condition", "participant_id"}


@pytest.mark.parametrize(
    ("text", "change", "message"),
    [
        ("v ~ 1 + age", None, "no column 'age'"),
        ("v ~ 1 + (1|site)", lambda d: d.assign(site="only"), "one level"),
        ("v ~ 1 + x", lambda d: d.assign(x=d["x"].where(d.index != 5)), "row 5"),
        (
            "v ~ 1 + condition",
            lambda d: d.assign(
                condition=pd.Categorical(d["condition"], ["easy", "hard", "medium"])
            ),
            "'medium'",
        ),
    ],
)
def test_bad_formulas_are_refused_naming_the_column(experiment, text, change, message):
    data = change(experiment) if change else experiment
    with pytest.raises(FormulaError, match=message):
        design(Formula.parse(text), data)


@pytest.mark.parametrize(
    ("formulas", "message"),
    [
        (["q ~ 1 + x"], "no parameter 'q'"),
        (["z ~ 1 + x"], "also fixed"),
        (["v ~ 1", "v ~ 1 + x"], "a second formula"),
    ],
)
def test_formulas_must_name_free_parameters_once(experiment, formulas, message):
    with pytest.raises(FormulaError, match=message):
        plan_fit(experiment, config(formulas=formulas))


def test_the_link_keeps_every_value_inside_the_box(experiment):
    d = design(Formula.parse("a ~ 1 + x + (1|participant_id)"), experiment)
    link = Link(0.3, 2.5, 1.4)
    with pm.Model() as model:
        a = regress([d], {"a": link})["a"]
    fn = model.compile_fn(model.replace_rvs_by_values([a])[0], inputs=model.value_vars)
    shapes = {name: np.shape(value) for name, value in model.initial_point().items()}
    for extreme in (-1e3, -50.0, 50.0, 1e3):
        # Any finite linear predictor, however far out (a log-SD of 1e3 would be an SD of inf).
        point = {
            name: np.full(shape, min(extreme, 30.0) if name.endswith("_log__") else extreme)
            for name, shape in shapes.items()
        }
        values = fn(point)
        assert np.all((values >= 0.3) & (values <= 2.5)), extreme
    zero = fn({name: np.zeros(shape) for name, shape in shapes.items()})
    np.testing.assert_allclose(zero, 1.4)  # eta = 0 is the link's centre


def test_a_model_from_formulas_is_the_hand_built_model(experiment):
    """The same log-probability at a point as the model written out in PyMC by hand."""
    model = build_model(experiment, config(formulas=["v ~ 1 + x + condition + (1|participant_id)"]))
    ranges = prior_ranges(config())
    lo, hi = ranges["v"]
    t_hi = min(ranges["t"][1], float(experiment["rt"].min()))
    hard = (experiment["condition"] == "hard").to_numpy()
    who = np.repeat(np.arange(4), 30)
    x = experiment["x"].to_numpy()
    with pm.Model() as by_hand:
        a = pm.Uniform("a", *ranges["a"])
        t = pm.Uniform("t", ranges["t"][0], t_hi)
        b0 = pm.Normal("v_Intercept", 0, 1.5)
        b1 = pm.Normal("v_x", 0, 1 / x.std())
        b2 = pm.Normal("v_condition[hard]", 0, 1 / hard.std())
        sigma = pm.HalfNormal("v_1|participant_id_sigma", 1.0)
        u = pm.Normal("v_1|participant_id_offset", 0, 1, shape=4)
        eta = b0 + b1 * x + b2 * hard + sigma * u[who]
        v = lo + (hi - lo) * pm.math.sigmoid(eta)
        SSM("trials", "ddm", "exact", v=v, a=a, z=0.5, t=t, observed=experiment[["rt", "response"]])
    rng = np.random.default_rng(0)
    point = {
        name: value + 0.3 * rng.normal(size=np.shape(value))
        for name, value in by_hand.initial_point().items()
    }
    assert set(point) == set(model.initial_point())
    np.testing.assert_allclose(model.compile_logp()(point), by_hand.compile_logp()(point))


def test_a_regressed_t_starts_below_the_fastest_rt(experiment):
    plan = plan_fit(experiment, config(formulas=["t ~ 1 + (1|participant_id)"]))
    link = plan.links["t"]
    assert link.lower < link.centre < experiment["rt"].min()
    model = build_model(experiment, config(formulas=["t ~ 1 + (1|participant_id)"]))
    assert np.isfinite(model.compile_logp()(model.initial_point()))


def test_contaminants_mix_a_uniform_rt_and_choice():
    values = np.array([[0.6, 1.0], [1.4, -1.0], [0.05, 1.0], [np.nan, -1.0], [2.9, 1.0]])
    theta = {"v": 0.5, "a": 1.0, "z": 0.5, "t": 0.2}
    p, rt_max = 0.1, 3.0
    clean = pm.logp(SSM.dist("ddm", "exact", **theta), values).eval()
    mixed = pm.logp(
        SSM.dist("ddm", "exact", p_outlier=p, outlier_rt_max=rt_max, **theta), values
    ).eval()
    uniform = np.where(np.isnan(values[:, 0]), 1 / 2, 1 / (2 * rt_max))
    expected = np.log((1 - p) * np.exp(clean) + p * uniform)
    np.testing.assert_allclose(mixed, expected, rtol=1e-10)
    assert clean[2] <= IMPOSSIBLE  # faster than t: possible only as a contaminant
    assert np.isfinite(mixed[2])
    beyond = pm.logp(
        SSM.dist("ddm", "exact", p_outlier=p, outlier_rt_max=rt_max, **theta), [[3.5, 1.0]]
    ).eval()
    np.testing.assert_allclose(
        beyond, np.log(1 - p) + pm.logp(SSM.dist("ddm", "exact", **theta), [[3.5, 1.0]]).eval()
    )


def test_contaminant_draws_are_uniform_in_rt_and_choice():
    theta = {"v": 2.0, "a": 1.0, "z": 0.5, "t": 0.5}
    draws = pm.draw(
        SSM.dist("ddm", "exact", p_outlier=0.5, outlier_rt_max=0.4, size=4000, **theta),
        random_seed=1,
    )
    fast = draws[draws[:, 0] < 0.4]  # every model trial is slower than t = 0.5
    assert abs(len(fast) / 4000 - 0.5) < 4 * np.sqrt(0.25 / 4000)
    assert abs(np.mean(fast[:, 1] == 1) - 0.5) < 4 * np.sqrt(0.25 / len(fast))


@pytest.mark.parametrize("bad", [-0.1, 1.0])
def test_p_outlier_outside_its_range_is_refused(bad):
    with pytest.raises(ssmhub.errors.ThetaError, match="p_outlier"):
        SSM.dist("ddm", "exact", p_outlier=bad, outlier_rt_max=3.0, v=0, a=1, z=0.5, t=0.2)


def test_a_contaminated_fit_starts_even_with_a_trial_faster_than_t(experiment):
    data = experiment.drop(columns="participant_id")
    data.loc[0, "rt"] = 0.01  # a fast guess below any plausible t
    model = build_model(data, config(p_outlier="free"))
    assert "p_outlier" in model.named_vars
    assert np.isfinite(model.compile_logp()(model.initial_point()))


def test_the_plan_reports_rows_and_columns_and_warns_about_pooled_participants(experiment):
    data = experiment.copy()
    data.loc[:9, "rt"] = np.nan
    with pytest.warns(UnusedColumnWarning, match=r"\(1\|participant_id\)"):
        plan = plan_fit(data, config(formulas=["v ~ 1 + x"]))
    report = "\n".join(plan.report())
    assert "110 trials scored with their rt, 10 by their choice alone" in report
    assert "columns no formula uses: condition, participant_id" in report
    assert "v_Intercept ~ Normal(0, 1.5)" in report
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnusedColumnWarning)
        plan_fit(data, config(formulas=["v ~ 1 + x + condition + (1|participant_id)"]))


def test_diagnostics_flag_a_bad_run():
    rng = np.random.default_rng(0)
    chains = np.stack([rng.normal(0.3, 0.01, 200), rng.normal(0.6, 0.01, 200)])
    idata = az.from_dict(
        {
            "posterior": {
                "v": chains,
                "t": np.full((2, 200), 0.2495) + rng.uniform(0, 4e-4, (2, 200)),
            },
            "sample_stats": {
                "diverging": rng.random((2, 200)) < 0.05,
                "tree_depth": np.where(rng.random((2, 200)) < 0.2, 10, 3),
            },
        }
    )
    summary = az.summary(idata, round_to="none")
    found = {
        f.check: f for f in diagnose(idata, summary, {"v": (-3, 3), "t": (0.0, 0.25)}, 0.25, "t")
    }
    assert set(found) >= {"r_hat", "bulk ESS", "divergences", "tree depth", "t at the fastest rt"}
    assert "--p-outlier" in found["t at the fastest rt"].advice
    good = az.from_dict(
        {
            "posterior": {"v": rng.normal(0.5, 0.1, (4, 500))},
            "sample_stats": {
                "diverging": np.zeros((4, 500), bool),
                "tree_depth": np.full((4, 500), 3),
            },
        }
    )
    assert diagnose(good, az.summary(good, round_to="none"), {"v": (-3, 3)}) == []


@pytest.mark.slow
def test_cli_fits_formulas_with_contaminants_and_reports_them(experiment, tmp_path):
    experiment.to_csv(tmp_path / "trials.csv", index=False)
    result = run_cli(
        "fit",
        str(tmp_path / "trials.csv"),
        "--model",
        "ddm",
        "--likelihood",
        "exact",
        "--fix",
        "z=0.5",
        "--formula",
        "v ~ 1 + x + (1|participant_id)",
        "--p-outlier",
        "free",
        "--draws",
        "60",
        "--tune",
        "60",
        "--chains",
        "1",
        "--condition",
        "condition",
        "--out",
        str(tmp_path / "fit"),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = " ".join(result.stdout.split())
    assert "120 trials scored with their rt, 0 by their choice alone" in out
    assert "v ~ 1 + x + (1|participant_id): v = -3 + 6 * sigmoid(eta)" in out, out
    assert "p_outlier ~ Beta(1.0, 19.0)" in out
    assert "columns no formula uses: condition" in out
    assert "diagnostics" in out  # 60 draws of one chain: too few for the ESS bar
    for picture in ("posterior.png", "ppc.png", "qp.png"):
        assert (tmp_path / "fit" / picture).stat().st_size > 0
    summary = pd.read_csv(tmp_path / "fit" / "summary.csv", index_col=0)
    assert {"v_Intercept", "v_x", "v_1|participant_id_sigma", "p_outlier", "a", "t"} <= set(
        summary.index
    )


@pytest.mark.parametrize(
    ("formula", "message"),
    [
        ("v ~ 1 + age", "no column 'age'"),
        ("q ~ 1", "no parameter 'q'"),
        ("v = 1 + x", "parameter ~ terms"),
    ],
)
def test_cli_refuses_a_bad_formula_before_sampling(experiment, tmp_path, formula, message):
    experiment.to_csv(tmp_path / "trials.csv", index=False)
    result = run_cli(
        "fit",
        str(tmp_path / "trials.csv"),
        "--model",
        "ddm",
        "--formula",
        formula,
        "--out",
        str(tmp_path / "fit"),
    )
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert not (tmp_path / "fit").exists()


@pytest.mark.slow
def test_nuts_and_advi_fits_are_compared_by_loo(experiment, tmp_path):
    from ssmhub.fitting import sample, write_results

    data = experiment.drop(columns="participant_id")
    for name, method in (("nuts", "nuts"), ("advi", "advi")):
        settings = config(method=method, draws=80, tune=80, chains=1, advi_iterations=3000)
        idata = sample(build_model(data, settings), settings, progressbar=False)
        assert np.isfinite(idata.log_likelihood["trials"].to_numpy()).all()
        write_results(idata, data, tmp_path / name, "ddm", by="condition")
    result = run_cli("compare", str(tmp_path / "nuts"), str(tmp_path / "advi"))
    assert result.returncode == 0, result.stderr[-3000:]
    out = " ".join(result.stdout.split())
    assert "PSIS-LOO" in out
    assert str(tmp_path / "nuts") in out
    assert str(tmp_path / "advi") in out
    lonely = run_cli("compare", str(tmp_path / "nuts"))
    assert lonely.returncode == 2
    assert "at least two" in lonely.stderr


def test_diagnostics_say_advi_is_an_approximation():
    rng = np.random.default_rng(1)
    idata = az.from_dict({"posterior": {"v": rng.normal(0.5, 0.1, (1, 500))}})
    found = diagnose(idata, az.summary(idata, round_to="none"), {"v": (-3, 3)})
    assert [f.check for f in found] == ["ADVI"]
