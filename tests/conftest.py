"""Shared test fixtures: small, hand-built frames that satisfy the data contract."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sipas_analysis import schema


def contract_frame(n: int = 40, seed: int = 1) -> pd.DataFrame:
    """A small frame that satisfies the contract, built without the simulator."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "respondent_id": [f"r{i:04d}" for i in range(n)],
        "year": 2024,
        "unit_set": "63",
        "province_code": rng.choice(["01", "79", "48"], n),
        "district_code": "001",
        "stratum": rng.choice(["s1", "s2"], n),
        "psu": rng.choice(["p1", "p2", "p3"], n),
        "weight": rng.uniform(1, 3, n),
        "service_area": rng.choice(schema.SERVICE_AREAS, n),
        "agency_level": rng.choice(schema.AGENCY_LEVELS, n),
        "channel": rng.choice(schema.CHANNELS, n),
        "used_service": True,
        "on_time": rng.integers(0, 2, n).astype(float),
        "applied_online": rng.integers(0, 2, n).astype(float),
        "asked_extra_payment": rng.integers(0, 2, n).astype(float),
        "n_visits": rng.integers(1, 4, n).astype(float),
        "overall_satisfaction": rng.integers(1, 6, n).astype(float),
        "sex": rng.choice(schema.SEXES, n),
        "age_group": rng.choice(schema.AGE_GROUPS, n),
        "education": rng.choice(schema.EDUCATION_LEVELS, n),
        "ethnicity": rng.choice(schema.ETHNICITIES, n),
        "urban": rng.integers(0, 2, n).astype(bool),
    })
    for column in schema.RATING_COLUMNS:
        frame[column] = rng.integers(1, 6, n).astype(float)
    # PSU ids unique across strata, as in a real sample frame (reused ids are nested, with a
    # warning)
    frame["psu"] = frame["stratum"] + "-" + frame["psu"]
    return frame


@pytest.fixture
def valid_frame() -> pd.DataFrame:
    return contract_frame()


@pytest.fixture(scope="session")
def own_survey_files(tmp_path_factory) -> dict:
    """The files tests/own_survey_fixtures.py makes as offices make them, with their codebooks
    (name -> path), written once per test session."""
    from tests.own_survey_fixtures import make_fixtures

    return make_fixtures(tmp_path_factory.mktemp("own_survey"))
