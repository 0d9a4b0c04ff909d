"""Multiple imputation of missing ratings (sipas_analysis.imputation).

References:
- Rubin's rules and the Barnard-Rubin df: R 4.2.2, mice 3.15.0 (Debian r-cran-mice),
  ``mice::pool.scalar`` printed by tests/data/imputation/pool_scalar.R into pool_scalar.Rout
  (run by hand, not in CI; 15 significant digits printed), and the closed forms of Rubin
  (1987) and Barnard & Rubin (1999).
- Bias and coverage: a simulation with a known truth (the share satisfied of a latent-normal
  rating model, a closed form), sized to its Monte Carlo error.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import sipas_analysis as sa
from sipas_analysis.imputation import (MultipleImputation, barnard_rubin_df, impute_ratings,
                                       pool, pool_scalar)

ROUT = Path(__file__).parent / "data" / "imputation" / "pool_scalar.Rout"

# The inputs of pool_scalar.R, case by case: (Q, U, n) with mice's dfcom = n - 1.
CASES = {
    "case1": ([1, 2, 3], [0.5, 0.5, 0.5], 11),
    "case2": ([82.1, 82.9, 81.7, 82.4, 83.0, 82.2, 81.9, 82.6, 82.8, 82.3],
              [0.21, 0.24, 0.19, 0.22, 0.20, 0.23, 0.22, 0.21, 0.25, 0.20], 16),
    "case3": ([0.31, 0.35, 0.28, 0.33, 0.30], [0.0012, 0.0015, 0.0011, 0.0013, 0.0014], np.inf),
    "case4": ([5, 5, 5, 5], [0.4, 0.5, 0.6, 0.5], 31),
    "case5": ([10.2, 11.5, 9.8, 12.1, 10.9, 11.3], [1.1, 0.9, 1.3, 1.0, 1.2, 0.8], 6),
}


def _r_output() -> dict:
    found = {}
    for line in ROUT.read_text().splitlines():
        if re.match(r"case\d ", line):
            label, *pairs = line.split()
            found[label] = {k: float(v) for k, v in (p.split("=") for p in pairs)}
    return found


@pytest.mark.parametrize("label", sorted(CASES))
def test_pool_scalar_matches_mice(label):
    expected = _r_output()[label]
    q, u, n = CASES[label]
    got = pool_scalar(q, u, dfcom=n - 1)
    for key in ("qbar", "ubar", "b", "t", "df", "r", "fmi"):
        assert got[key] == pytest.approx(expected[key], rel=1e-12, abs=1e-15), key


def test_rubin_closed_forms():
    q = np.array([2.0, 2.6, 1.8, 2.4, 2.2])
    u = np.array([0.30, 0.28, 0.33, 0.31, 0.29])
    m = q.size
    b = np.sum((q - q.mean()) ** 2) / (m - 1)
    t = u.mean() + (1 + 1 / m) * b
    r = (1 + 1 / m) * b / u.mean()
    out = pool_scalar(q, u)
    # Rubin (1987): with infinite complete-data df, nu = (m - 1) (1 + 1/r)^2
    assert out["df"] == pytest.approx((m - 1) * (1 + 1 / r) ** 2, rel=1e-13)
    assert out["t"] == pytest.approx(t, rel=1e-14)
    # Barnard-Rubin: 1/nu = 1/nu_old + 1/nu_obs, nu_obs = (v+1)/(v+3) v (1 - lambda)
    v = 20.0
    lam = (1 + 1 / m) * b / t
    nu_obs = (v + 1) / (v + 3) * v * (1 - lam)
    nu_old = (m - 1) / lam ** 2
    assert pool_scalar(q, u, dfcom=v)["df"] == pytest.approx(1 / (1 / nu_old + 1 / nu_obs),
                                                             rel=1e-13)
    # the BR df never exceeds the complete-data df, and tends to Rubin's as v grows
    assert barnard_rubin_df(m, b, t, v) < v
    assert barnard_rubin_df(m, b, t, 1e12) == pytest.approx((m - 1) / lam ** 2, rel=1e-6)


def test_pool_of_tables_is_rubin_with_t_intervals():
    rng = np.random.default_rng(3)
    m = 6
    tables = [pd.DataFrame({"group": ["a", "b"], "term": ["y", "y"],
                            "estimate": rng.normal([1.0, 5.0], 0.2),
                            "std_error": rng.uniform(0.3, 0.4, 2), "n": [40, 50],
                            "df": [12, 30]}) for _ in range(m)]
    out = pool(tables, level=0.9)
    assert list(out["group"]) == ["a", "b"]
    for i, dfcom in enumerate((12, 30)):
        ref = pool_scalar([t["estimate"][i] for t in tables],
                          [t["std_error"][i] ** 2 for t in tables], dfcom=dfcom)
        row = out.iloc[i]
        assert row["estimate"] == pytest.approx(ref["qbar"], rel=1e-14)
        assert row["std_error"] == pytest.approx(np.sqrt(ref["t"]), rel=1e-14)
        assert row["df"] == pytest.approx(ref["df"], rel=1e-14)
        half = stats.t.ppf(0.95, ref["df"]) * np.sqrt(ref["t"])
        assert row["ci_low"] == pytest.approx(ref["qbar"] - half, rel=1e-13)
        assert row["ci_high"] == pytest.approx(ref["qbar"] + half, rel=1e-13)
        assert row["fmi"] == pytest.approx(ref["fmi"], rel=1e-13)
    shuffled = [tables[0]] + [t.iloc[::-1] for t in tables[1:]]
    with pytest.raises(ValueError, match="does not have the rows"):
        pool(shuffled)
    with pytest.raises(ValueError, match="m >= 2"):
        pool(tables[:1])


# --------------------------------------------------------------------------------------------
# Imputation: what is never imputed, seeds
# --------------------------------------------------------------------------------------------

FACTORS = {"staff": ["staff_a", "staff_b"], "feedback": ["fb_a", "fb_b", "fb_c"]}


def _latent_sample(rng, *, n_strata=6, psu_per_stratum=6, per_psu=25, skip="mar"):
    """Respondents in strata and villages: a latent satisfaction drives the overall question
    and every rating (cuts at -1, -0.3, 0.4, 1.1 on s + e, e ~ N(0, 0.8^2)); the feedback
    items are skipped by 48 % of the dissatisfied and 6 % of the others, where
    "dissatisfied" is the observed overall answer (MAR) or the feedback rating itself (MNAR).
    """
    n = n_strata * psu_per_stratum * per_psu
    stratum = np.repeat(np.arange(n_strata), psu_per_stratum * per_psu)
    psu = np.repeat(np.arange(n_strata * psu_per_stratum), per_psu)
    mu = np.linspace(0.2, 1.0, n_strata)[stratum] + rng.normal(0, 0.2, n_strata
                                                                * psu_per_stratum)[psu]
    s = mu + rng.normal(0, 1, n)
    cuts = np.array([-1.0, -0.3, 0.4, 1.1])

    def rating(noise):
        return 1.0 + np.searchsorted(cuts, s + rng.normal(0, noise, n)).astype(float)

    data = pd.DataFrame({"stratum": stratum, "psu": psu, "weight": 1.0,
                         "province_code": "01", "overall_satisfaction": rating(0.5)})
    for c in FACTORS["staff"] + FACTORS["feedback"]:
        data[c] = rating(0.8)
    for c in FACTORS["feedback"]:
        low = (data["overall_satisfaction"] <= 3) if skip == "mar" else (data[c] <= 3)
        skipped = rng.random(n) < np.where(low, 0.48, 0.06)
        data.loc[skipped, c] = np.nan
    for c in FACTORS["staff"]:
        data.loc[rng.random(n) < 0.03, c] = np.nan
    return data


def _true_feedback_share(n_strata=6) -> float:
    """P(rating >= 4) = P(s + e > 0.4), s + e ~ N(mu_h, 1 + 0.2^2 + 0.8^2), strata alike."""
    mu = np.linspace(0.2, 1.0, n_strata)
    return float(np.mean(stats.norm.sf((0.4 - mu) / np.sqrt(1 + 0.04 + 0.64))))


def _design(data):
    return sa.SurveyDesign(data, weights="weight", strata="stratum", psu="psu")


def test_missing_by_design_and_no_opinion_are_never_imputed():
    rng = np.random.default_rng(5)
    data = _latent_sample(rng, n_strata=3, psu_per_stratum=4, per_psu=20)
    data["used_service"] = pd.array(rng.random(len(data)) > 0.2, dtype="boolean")
    data.loc[~data["used_service"].to_numpy(dtype=bool), FACTORS["staff"] + FACTORS["feedback"]] \
        = np.nan
    silent = data["fb_b"].isna() & (rng.random(len(data)) < 0.3) & data["used_service"]
    data["fb_b_no_opinion"] = silent
    mi = impute_ratings(_design(data), m=3, factors=FACTORS, seed=9)
    non_user = ~data["used_service"].to_numpy(dtype=bool)
    for design in mi.designs:
        done = design.data
        for c in FACTORS["staff"] + FACTORS["feedback"]:
            assert done.loc[non_user, c].isna().all(), c
            users_missing = data[c].isna() & ~non_user & ~(silent if c == "fb_b" else False)
            assert done.loc[users_missing, c].notna().all(), c
            assert set(done[c].dropna().unique()) <= {1.0, 2.0, 3.0, 4.0, 5.0}
            # what was answered stays as it was
            answered = data[c].notna()
            assert (done.loc[answered, c] == data.loc[answered, c]).all()
        assert done.loc[silent, "fb_b"].isna().all()
    share = mi.imputed_share().set_index("term")
    assert share.loc["fb_b", "n_no_opinion"] == int(silent.sum())
    assert share.loc["fb_b", "n_by_design"] == int(non_user.sum())
    assert share.loc["feedback", "n_imputed"] == sum(int(mi.imputed[c].sum())
                                                     for c in FACTORS["feedback"])
    # rows outside the domain are left as they are
    outside = data["stratum"] == 0
    mi_domain = impute_ratings(_design(data).subset(~outside.to_numpy()), m=2,
                               factors=FACTORS, seed=9)
    assert mi_domain.designs[0].data.loc[outside, "fb_a"].equals(data.loc[outside, "fb_a"])


def test_same_seed_same_result_and_seed_required():
    data = _latent_sample(np.random.default_rng(6), n_strata=2, psu_per_stratum=3, per_psu=20)
    one = impute_ratings(_design(data), m=2, factors=FACTORS, seed=4)
    two = impute_ratings(_design(data), m=2, factors=FACTORS, seed=4)
    other = impute_ratings(_design(data), m=2, factors=FACTORS, seed=5)
    for a, b in zip(one.designs, two.designs):
        pd.testing.assert_frame_equal(a.data, b.data)
    assert not one.designs[0].data.equals(other.designs[0].data)
    with pytest.raises(ValueError, match="seed"):
        impute_ratings(_design(data), m=2, factors=FACTORS, seed=None)


def test_bad_arguments_are_named_together():
    data = _latent_sample(np.random.default_rng(6), n_strata=2, psu_per_stratum=3, per_psu=10)
    with pytest.raises(ValueError) as error:
        impute_ratings(_design(data), m=1, donors=0, method="hot_deck", factors=FACTORS,
                       columns=["fb_a", "nope"], seed=1)
    for said in ("method", "m must", "donors must", "'nope'"):
        assert said in str(error.value)
    with pytest.raises(sa.MissingColumnError, match="absent"):
        impute_ratings(_design(data), factors={"f": ["absent"]}, seed=1)


def test_pooled_index_and_estimators_have_the_package_columns():
    data = _latent_sample(np.random.default_rng(7), n_strata=3, psu_per_stratum=4, per_psu=20)
    mi = impute_ratings(_design(data), m=4, factors=FACTORS, seed=2)
    assert isinstance(mi, MultipleImputation)
    index = mi.sipas_index(by="stratum")
    for column in ("stratum", "term", "kind", "factor", "estimate", "std_error", "ci_low",
                   "ci_high", "n", "df", "fmi", "share_imputed"):
        assert column in index
    assert ((index["ci_low"] >= 0) & (index["ci_high"] <= 100)).all()
    # the df are Barnard-Rubin's, below the stratum's own design df (4 PSUs - 1 stratum)
    assert (index["df"] <= 3 + 1e-9).all()
    mean = mi.mean("fb_a")
    single = [d.mean("fb_a", df=True) for d in mi.designs]
    assert mean["estimate"].iloc[0] == pytest.approx(np.mean([t["estimate"].iloc[0]
                                                              for t in single]))
    assert mi.by("fb_a", "stratum")["df"].max() <= 3


# --------------------------------------------------------------------------------------------
# Simulation with a known truth
# --------------------------------------------------------------------------------------------

def _feedback(table):
    return table.loc[table["term"] == "feedback"].iloc[0]


def test_mar_skipping_biases_available_cases_and_multiple_imputation_covers():
    """Skipping depends on the observed overall answer (MAR): available cases overstate the
    feedback factor; MI (m = 5) is unbiased within Monte Carlo error and its 95 % intervals
    cover close to 95 %.

    50 samples of 720 respondents (6 strata x 6 villages x 20): MC SE of a coverage near
    0.95 is 0.031; the tolerance is 3 MC SE. Seen with this seed (truth 56.0 %): available
    cases bias +6.9 points, coverage 0.04; MI bias -0.1 (MC SE 0.27), coverage 0.98 (with
    70 samples of 900 and 120 of 1,080: 0.943 and 0.958).
    """
    truth = 100 * _true_feedback_share()
    rng = np.random.default_rng(20261203)
    n_samples = 50
    ac_est, ac_cover, mi_est, mi_cover = [], [], [], []
    for _ in range(n_samples):
        data = _latent_sample(rng, per_psu=20)
        design = _design(data)
        ac = _feedback(sa.sipas_index(design, factors=FACTORS))
        mi = impute_ratings(design, m=5, factors=FACTORS, iterations=3, seed=rng)
        pooled = _feedback(mi.sipas_index())
        ac_est.append(ac["estimate"])
        ac_cover.append(ac["ci_low"] <= truth <= ac["ci_high"])
        mi_est.append(pooled["estimate"])
        mi_cover.append(pooled["ci_low"] <= truth <= pooled["ci_high"])
    ac_bias = np.mean(ac_est) - truth
    mi_bias = np.mean(mi_est) - truth
    mc_se = np.std(mi_est, ddof=1) / np.sqrt(n_samples)
    coverage_se = np.sqrt(0.95 * 0.05 / n_samples)
    print(f"truth {truth:.2f}; available cases bias {ac_bias:+.2f}, coverage "
          f"{np.mean(ac_cover):.3f}; MI bias {mi_bias:+.2f} (MC SE {mc_se:.2f}), coverage "
          f"{np.mean(mi_cover):.3f}")
    assert ac_bias > 4                                # about +7 points
    assert abs(mi_bias) < 3 * mc_se + 0.3             # 0.3: PMM's own small bias allowed
    assert np.mean(ac_cover) < 0.8
    assert abs(np.mean(mi_cover) - 0.95) < 3 * coverage_se


def test_mnar_skipping_is_not_fixed_by_imputation():
    """When the skipping depends on the unobserved rating itself (MNAR), the observed data
    cannot tell; MI keeps most of the available cases' bias. Documented, not a defect:
    MI assumes MAR. 12 samples (the bias is many MC SEs)."""
    truth = 100 * _true_feedback_share()
    rng = np.random.default_rng(11)
    ac_bias, mi_bias = [], []
    for _ in range(12):
        data = _latent_sample(rng, per_psu=30, skip="mnar")
        design = _design(data)
        ac_bias.append(_feedback(sa.sipas_index(design, factors=FACTORS))["estimate"] - truth)
        mi = impute_ratings(design, m=3, factors=FACTORS, iterations=3, seed=rng)
        mi_bias.append(_feedback(mi.sipas_index())["estimate"] - truth)
    print(f"available cases bias {np.mean(ac_bias):+.2f}, MI bias {np.mean(mi_bias):+.2f}")
    assert np.mean(ac_bias) > 5
    # some of it is recovered through the correlated ratings, most is not
    assert np.mean(mi_bias) > 0.4 * np.mean(ac_bias)


# --------------------------------------------------------------------------------------------
# Codebook and command line
# --------------------------------------------------------------------------------------------

def _own_survey(folder: Path, *, imputation=None) -> tuple[Path, Path]:
    """A small own-survey CSV (two units, text answers, some 'Không ý kiến' and blanks) and
    its codebook."""
    import yaml
    rng = np.random.default_rng(8)
    n = 240
    labels = ["Rất không hài lòng", "Không hài lòng", "Bình thường", "Hài lòng", "Rất hài lòng"]
    s = rng.normal(0.5, 1, n)
    frame = pd.DataFrame({"Đơn vị": np.where(np.arange(n) % 2, "Sở Tư pháp", "Sở Xây dựng")})
    for k, header in enumerate(["Câu 1", "Câu 2", "Câu 3", "Câu 4"]):
        level = np.clip(np.rint(3 + s + rng.normal(0, 0.7, n)), 1, 5).astype(int)
        answer = np.array(labels, dtype=object)[level - 1]
        answer[rng.random(n) < 0.05] = "Không ý kiến"
        answer[rng.random(n) < (0.15 if k >= 2 else 0.03)] = None
        frame[header] = answer
    frame["Câu 5"] = np.array(labels, dtype=object)[np.clip(np.rint(3 + s), 1, 5).astype(int) - 1]
    data = folder / "survey.csv"
    frame.to_csv(data, index=False)
    book = {"constants": {"year": 2024, "province": "Thái Nguyên"},
            "columns": {"unit": "Đơn vị"},
            "scale": {**{label: i for i, label in enumerate(labels, start=1)},
                      "Không ý kiến": None},
            "ratings": {"staff": {"staff_polite": "Câu 1", "staff_listening": "Câu 2"},
                        "feedback": {"feedback_channel": "Câu 3", "feedback_received": "Câu 4"}},
            "overall": "Câu 5"}
    if imputation is not None:
        book["imputation"] = imputation
    path = folder / "codebook.yaml"
    path.write_text(yaml.safe_dump(book, allow_unicode=True), encoding="utf-8")
    return data, path


def test_codebook_marks_no_opinion_and_imputation_key_is_checked(tmp_path):
    data, path = _own_survey(tmp_path, imputation={"m": 3, "seed": 2})
    book = sa.Codebook.from_yaml(path)
    assert book.imputation == {"m": 3, "seed": 2}
    survey = sa.load_survey(data, codebook=book)
    raw = pd.read_csv(data)
    for criterion, header in (("staff_polite", "Câu 1"), ("feedback_received", "Câu 4")):
        marked = survey[f"{criterion}_no_opinion"].to_numpy(dtype=bool)
        assert (marked == (raw[header] == "Không ý kiến").to_numpy()).all()
        assert survey.loc[marked, criterion].isna().all()
    design = sa.design.design_for(survey, book)
    mi = impute_ratings(design, m=2, factors=book.factors, seed=1)
    for done in mi.designs:
        for criterion in book.criteria:
            marked = survey[f"{criterion}_no_opinion"].to_numpy(dtype=bool)
            assert done.data.loc[marked, criterion].isna().all()
            assert done.data.loc[~marked, criterion].notna().all()
    for bad, said in (({"m": 1, "seed": 1}, "imputation.m must be a whole number >= 2"),
                      ({"m": 5}, "imputation.seed is required"),
                      ({"m": 5, "seed": 1, "draws": 3}, "draws")):
        with pytest.raises(sa.CodebookError, match=said):
            sa.Codebook.from_dict(yaml_dict(path) | {"imputation": bad})


def yaml_dict(path: Path) -> dict:
    import yaml
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def test_sipas_index_pools_imputations_and_says_so(tmp_path, capsys):
    from sipas_analysis.cli import main
    data, path = _own_survey(tmp_path, imputation={"m": 3, "seed": 2})
    assert main(["index", "--data", str(data), "--codebook", str(path), "--kind", "factor",
                 "--out", str(tmp_path / "index.csv")]) == 0
    captured = capsys.readouterr()
    assert "multiple imputation, m = 3 (seed 2" in captured.err
    said = re.search(r"share of ratings imputed: (.*?);", captured.err).group(1)
    assert sorted(re.findall(r"(\w+) \d+\.\d %", said)) == ["feedback", "staff"]
    assert "missing at random" in captured.err and "missing at random" in captured.out
    table = pd.read_csv(tmp_path / "index.csv")
    assert {"share_imputed", "fmi", "df", "m"} <= set(table.columns)
    feedback = table[table["term"] == "feedback"]
    assert (feedback["share_imputed"] > 0.05).all() and (table["m"] == 3).all()
    # --impute overrides the codebook's m; without either, available cases
    assert main(["index", "--data", str(data), "--codebook", str(path), "--impute", "2",
                 "--impute-seed", "5"]) == 0
    assert "m = 2 (seed 5" in capsys.readouterr().err
    (tmp_path / "plain").mkdir()
    plain, plain_book = _own_survey(tmp_path / "plain")
    assert main(["index", "--data", str(plain), "--codebook", str(plain_book)]) == 0
    captured = capsys.readouterr()
    assert "imputation" not in captured.err and "share_imputed" not in captured.out
    assert main(["index", "--data", str(plain), "--codebook", str(plain_book),
                 "--impute", "1"]) != 0
    assert "--impute needs at least 2" in capsys.readouterr().err


def test_agency_shared_results_honour_the_codebook_key(tmp_path):
    from sipas_analysis.report import agency_shared
    from sipas_analysis.report.sections import agency
    data, path = _own_survey(tmp_path, imputation={"m": 2, "seed": 3})
    book = sa.Codebook.from_yaml(path)
    survey = sa.load_survey(data, codebook=book)
    shared = agency_shared.compute_agency_shared(survey, book, 2024)
    said = shared.extra["imputation"]
    assert said["m"] == 2 and said["shares"]["feedback"] > 0.05
    assert {"share_imputed", "fmi", "suppressed"} <= set(shared.units.columns)
    expected = impute_ratings(agency_shared._design(survey), m=2, seed=3,
                              factors=book.factors).sipas_index(
        by="unit", **book.index_options(), min_n_eff=shared.settings.min_n_eff,
        rule=shared.settings.rule.aggregation, ci_method=shared.settings.ci_method)
    assert np.allclose(shared.units["estimate"], expected["estimate"])
    for lang, words in (("en", "missing at random"), ("vi", "thiếu ngẫu nhiên")):
        params = agency_shared.AgencyParams(unit="Sở Tư pháp", year=2024, data=str(data),
                                            codebook=str(path), lang=lang)
        page = "\n".join(map(str, agency._caveats(shared, params)))
        assert words in page
        assert re.search(r"\d+[.,]\d %", page)          # the shares imputed, per factor
    # without the key: available cases, and the page says nothing of imputation
    plain = {k: v for k, v in yaml_dict(path).items() if k != "imputation"}
    shared = agency_shared.compute_agency_shared(survey, sa.Codebook.from_dict(plain), 2024)
    assert "imputation" not in shared.extra and "share_imputed" not in shared.units
