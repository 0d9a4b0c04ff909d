"""What a model formula asks of the data: the columns it mentions and the variables it names
that the data lack. Every model of the package (regression, multilevel, panel, relative
importance) reads its formula through these, so that they agree on both.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import patsy

from ..schema import MissingColumnError

# Bare names a formula may use that are not columns: patsy's functions and numpy as ``np``.
_KNOWN_NAMES = {"np", "C", "I", "Q", "Treatment", "Sum", "Poly", "True", "False", "None",
                "center", "standardize", "scale", "log", "exp"}


def formula_columns(formula: str, data: pd.DataFrame) -> list[str]:
    """Data columns that the formula mentions, in the data's order (to find missing values
    before patsy evaluates expressions such as ``I(y >= 4)``, where NaN would silently become
    False).

    Examples
    --------
    >>> import pandas as pd
    >>> data = pd.DataFrame({"y": [1.0], "x": [2.0], "z": [3.0]})
    >>> formula_columns("I(y >= 4) ~ np.log(x)", data)
    ['y', 'x']
    """
    tokens = set(re.findall(r"[A-Za-z_][A-Za-z0-9_.]*", formula))
    return [c for c in data.columns if c in tokens]


def factor_variables(code: str) -> list[str]:
    """Bare names that a patsy factor such as ``C(region)`` or ``np.log(x)`` reads as
    variables: not quoted, not a function called, not an attribute, not a keyword argument.

    Examples
    --------
    >>> factor_variables("C(region, Treatment(reference='Hà Nội'))")
    ['region']
    """
    code = re.sub(r"'[^']*'|\"[^\"]*\"", "", code)   # quoted levels are not variables
    names = re.findall(r"(?<![\w.])([A-Za-z_][A-Za-z0-9_]*)(?![\w(])(?!\s*\()(?!\s*=(?!=))",
                       code)
    return [n for n in names if n not in {"True", "False", "None"}]


def unknown_variables(formula: str, data: pd.DataFrame, *, what: str = "formula") -> list[str]:
    """Variables the formula names that are not columns of ``data`` (sorted).

    A formula that patsy cannot read is a ValueError naming ``what``.

    Examples
    --------
    >>> import pandas as pd
    >>> data = pd.DataFrame({"y": [1.0], "x": [2.0]})
    >>> unknown_variables("y ~ center(x) + C(region) + np.log(income)", data)
    ['income', 'region']
    """
    try:
        desc = patsy.ModelDesc.from_formula(formula)
    except patsy.PatsyError as error:
        raise ValueError(f"cannot read {what} {formula!r}: {error}") from None
    names = {name for side in (desc.lhs_termlist, desc.rhs_termlist) for term in side
             for factor in term.factors for name in factor_variables(factor.name())}
    known = set(data.columns) | _KNOWN_NAMES
    return sorted(n for n in names if n not in known and not hasattr(np, n))


def require_formula_columns(context: str, data: pd.DataFrame, formulas: dict[str, str], *,
                            columns: dict[str, str] | None = None,
                            table_name: str = "the data", problems=()) -> None:
    """Raise :class:`~sipas_analysis.schema.MissingColumnError` naming at once every column
    that the formulas use as a variable (``{"formula": "y ~ x"}``) or that ``columns`` names
    (``{"groups": "province_code"}``: its role, then the column) and ``data`` lacks.

    The message reads ``"{context}: {table_name} lacks column(s) [...] (groups column 'g';
    formula 'y ~ x' names 'x')"``. ``problems``: sentences about the other arguments, said
    first in the same message; with them and no missing column the error is a ValueError.

    Examples
    --------
    >>> import pandas as pd
    >>> data = pd.DataFrame({"y": [1.0], "x": [2.0]})
    >>> from sipas_analysis.schema import MissingColumnError
    >>> try:
    ...     require_formula_columns("fit_multilevel", data, {"formula": "y ~ x + z"},
    ...                             columns={"groups": "province_code"})
    ... except MissingColumnError as error:
    ...     print(error)  # doctest: +NORMALIZE_WHITESPACE
    fit_multilevel: the data lacks column(s) ['province_code', 'z']
    (groups column 'province_code'; formula 'y ~ x + z' names 'z')
    """
    missing, said = [], []
    for role, column in (columns or {}).items():
        if column not in data.columns:
            missing.append(column)
            said.append(f"{role} column {column!r}")
    for what, formula in formulas.items():
        unknown = unknown_variables(formula, data, what=what)
        missing += unknown
        if unknown:
            said.append(f"{what} {formula!r} names {', '.join(map(repr, unknown))}")
    problems = list(problems)
    if missing:
        missing = list(dict.fromkeys(missing))
        problems.append(f"{table_name} lacks column(s) {missing} ({'; '.join(said)})")
        raise MissingColumnError(f"{context}: " + "; ".join(problems), missing)
    if problems:
        raise ValueError(f"{context}: " + "; ".join(problems))
