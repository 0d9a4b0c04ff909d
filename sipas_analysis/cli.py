"""The ``sipas`` command.

User mistakes (a missing file, invalid data, an unknown province) end with a message and a
non-zero exit status, never a traceback: exit 1 when the data fail validation, 2 for a usage error.
Output into a closed pipe (``sipas index | head -1``) ends quietly with status 141 (128 +
SIGPIPE), as other command-line tools do.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from . import index_rule, intervals

EXIT_INVALID = 1
EXIT_USAGE = 2


class UserError(Exception):
    """A mistake the user can fix; printed as a message, not a traceback."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sipas",
        description="SIPAS research workbench: validate survey files, estimate the satisfaction "
                    "index with design-based confidence intervals, build the demo.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser(
        "demo", help="build the synthetic demo sample and the national SIPAS table by province",
        description="Simulate the demo sample (SYNTHETIC data with a known truth, seed 0), save it "
                    "in the processed-data folder (data/processed/ in a checkout, "
                    "~/.cache/sipas when installed, or $SIPAS_PROCESSED_DIR), and write the "
                    "SIPAS table by province for a year under --out.")
    demo.add_argument("--out", default="reports", help="output folder (default: reports)")
    demo.add_argument("--year", type=int, default=2024, help="year of the table (default: 2024)")

    validate = sub.add_parser(
        "validate", help="check a survey file against the data contract",
        description="Read FILE (CSV, Parquet, Excel or SPSS .sav), check every row against the "
                    "data contract and print every problem at once. Exit status 1 if invalid. "
                    "Nothing is written.")
    validate.add_argument("file", help="survey file (.csv, .parquet, .xlsx, .xlsm, .xls, .ods, "
                                       ".sav, .dta)")
    _codebook_option(validate)

    index = sub.add_parser(
        "index", help="SIPAS criterion, factor and overall indices with confidence intervals",
        description="Estimate the SIPAS indices (percent satisfied) by a grouping column, with "
                    "design-based (linearised) confidence intervals, and the national figure.")
    index.add_argument("--data", default="demo", help='survey file, or "demo" (default)')
    index.add_argument("--year", type=int, default=None, help="restrict to one year")
    _codebook_option(index)
    index.add_argument("--by", default=None,
                       help='grouping column, or "none" for the whole file only (default: '
                            'province_code; with --codebook its unit column)')
    index.add_argument("--kind", default="overall", choices=["overall", "factor", "criterion", "all"],
                       help="which rows to show (default: overall)")
    rule = index_rule.current()
    satisfied = ",".join(map(str, rule.satisfied))
    index.add_argument("--satisfied", default=None,
                       help=f"answer levels that count as satisfied (default: {satisfied}; "
                            "with --codebook the codebook's satisfied:)")
    index.add_argument("--rule", default=rule.aggregation, choices=list(index_rule.AGGREGATIONS),
                       help=f"aggregation rule (default: {rule.aggregation})")
    index.add_argument("--lonely-psu", default="fail",
                       choices=["fail", "remove", "adjust", "average", "certainty"],
                       help="a stratum with a single PSU: fail (default), or treat it as R's "
                            "survey.lonely.psu option does")
    index.add_argument("--ci-method", default=intervals.DEFAULT_METHOD,
                       choices=[*intervals.METHODS, "normal"],
                       help="interval of a percent satisfied (default: beta, Korn-Graubard with "
                            "the design's degrees of freedom, never outside 0-100; normal: "
                            "estimate ± 1.96 SE)")
    index.add_argument("--par-max", type=float, default=None, metavar="POINTS",
                       help="also give each unit's index as PAR-index points of this maximum "
                            "(overrides the codebook's par:; linear unless it gives bands)")
    index.add_argument("--impute", type=int, default=None, metavar="M",
                       help="multiple imputation of the skipped ratings (M completed data sets, "
                            "predictive mean matching within strata and units; never ratings "
                            "missing by design or 'no opinion'), pooled by Rubin's rules; "
                            "assumes the skipping depends on what is observed (missing at "
                            "random). Default: available cases, or the codebook's imputation:")
    index.add_argument("--impute-seed", type=int, default=None, metavar="SEED",
                       help="seed of the imputation (default: the codebook's imputation.seed, "
                            "else 1)")
    index.add_argument("--out", default=None, help="write the table to this .csv or .xlsx file")
    index.add_argument("--exclude-flagged", default=None, metavar="NAME[,NAME]",
                       help="drop the rows that carry any of these data-quality flags (as "
                            "sipas quality lists them: straight_lining, duplicate_answers, "
                            "duplicate_id, duplicate, speeder, ...); how many each removed is "
                            "said on stderr")

    quality = sub.add_parser(
        "quality", help="data-quality report of a survey file (HTML page, Excel workbook)",
        description="Check a survey file before any index is trusted: item non-response by "
                    "item and unit, straight-lining, duplicate answers and ids, interview "
                    "durations (speeders) and dates when the file has them, interviewer "
                    "effects (ICC) when it has an interviewer column. Writes OUT/quality.html, "
                    "OUT/quality.xlsx and OUT/flagged_rows.csv. Flags never drop rows "
                    "(sipas index --exclude-flagged does).")
    quality.add_argument("file", help="survey file (.csv, .parquet, .xlsx, .sav)")
    _codebook_option(quality)
    quality.add_argument("--out", required=True, metavar="DIR", help="output folder")
    quality.add_argument("--lang", default="vi", choices=["vi", "en"],
                         help="language of the page (default: vi)")

    reports = sub.add_parser(
        "reports", help="build every unit's report for a year (papermill, in parallel)",
        description="Execute notebooks/province_report.ipynb once per unit with papermill (kernel "
                    "'python3' of this environment), --jobs at a time. Each unit gets "
                    "OUT/YEAR/<set>-<code>/report.ipynb, report.html (no code, self-contained) and "
                    "tables.xlsx; the year gets index.html and manifest.json. The national results "
                    "every unit shares are computed once and cached (cache/ in the processed-data "
                    "folder, or $SIPAS_CACHE_DIR). A failing unit is recorded and the others go "
                    "on; exit status 1 if any failed. With --data FILE --codebook C (your own "
                    "survey): notebooks/agency_report.ipynb once per unit inside the province, "
                    "OUT/YEAR/<unit-slug>/..., the province's league table as index.html and "
                    "OUT/YEAR/par_points.xlsx; --units takes all, names separated by ';', or "
                    "@FILE with one name per line.")
    reports.add_argument("--year", type=int, required=True, help="survey year of the reports")
    reports.add_argument("--units", default=None,
                         help='"all" (default) or codes such as 01,79 of the year\'s unit set; '
                              'with --codebook: "all", unit names separated by ";" or @FILE '
                              "(one name per line)")
    reports.add_argument("--codebook", default=None, metavar="FILE",
                         help="codebook of your own survey (--data): one report per unit inside "
                              "the province (OUT/YEAR/<unit>/) and the province's league table")
    reports.add_argument("--par-max", type=float, default=None, metavar="POINTS",
                         help="with --codebook: maximum PAR-index points of the satisfaction "
                              "component (overrides the codebook's par: max)")
    reports.add_argument("--previous", default=None, metavar="FILE",
                         help="with --codebook: the previous survey, a file of an earlier year "
                              "read through the same codebook, for the change column and each "
                              "unit's change (instead of an earlier year in --data)")
    reports.add_argument("--previous-codebook", default=None, metavar="FILE",
                         help="with --previous: the codebook that reads it, when last year's "
                              "file had other headers (same criterion names)")
    reports.add_argument("--params", nargs="+", default=None, metavar="FILE",
                         help="params files (params/units/63/01.yaml ...) naming the units "
                              "instead of --units (their province_code and unit_set are used; "
                              "--year, --lang and --data apply to all)")
    reports.add_argument("--unit-set", default=None, choices=["63", "34"],
                         help="unit set (default: 63 up to 2024, 34 from 2025)")
    reports.add_argument("--lang", default="vi", choices=["vi", "en"],
                         help="report language (default: vi)")
    reports.add_argument("--jobs", type=int, default=2, help="units run at once (default: 2)")
    reports.add_argument("--out", default="reports", help="output folder (default: reports)")
    reports.add_argument("--data", default="demo", help='survey file, or "demo" (default)')
    reports.add_argument("--notebook", default=None,
                         help="report notebook (default: notebooks/province_report.ipynb)")
    reports.add_argument("--no-progress", action="store_true", help="no progress bar")
    reports.add_argument("--pdf", action="store_true",
                         help="also write each unit's report.pdf (A4; needs chromium, "
                              "chromium-driver and selenium)")
    reports.add_argument("--docx", action="store_true",
                         help="also write each unit's report.docx (Word, to edit)")
    reports.add_argument("--force", action="store_true",
                         help="re-run every unit (by default a unit whose parameters, data, "
                              "notebook and package are unchanged since the last run is skipped)")
    reports.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                         help="run the units on this Dask distributed cluster (its workers must "
                              "see the same paths) instead of --jobs local workers")
    reports.add_argument("--engine", default="warm", choices=["warm", "papermill"],
                         help="warm: one kernel per worker, reset between units (default); "
                              "papermill: a new kernel for every unit")
    reports.add_argument("--timeout", type=_timeout_seconds, default=None, metavar="SECONDS",
                         help="seconds a report cell may run before its unit fails and the "
                              "batch goes on (default: 1800; 0: no limit)")

    track = sub.add_parser(
        "track", help="one desk's index month by month: control chart, year to date, last year",
        description="Track one unit (a one-stop desk) of a survey file period by period: the "
                    "overall index and each factor with intervals, a centre line and p-chart "
                    "control limits on the effective sample size (periods out of limits "
                    "flagged), year to date, the change against the same period last year "
                    "and, above a minimum effective size, each member of staff (never "
                    "ranked). Writes OUT/tracking.html and OUT/tracking.xlsx.")
    track.add_argument("--data", required=True, help="survey file")
    track.add_argument("--codebook", required=True, metavar="FILE",
                       help="codebook YAML; it must give columns.date")
    track.add_argument("--unit", required=True, metavar="NAME",
                       help="the unit, in any accepted spelling (UBND = Ủy ban nhân dân)")
    track.add_argument("--by", default="month", choices=["month", "quarter"],
                       help="period (default: month)")
    track.add_argument("--out", default=None,
                       help="output folder (default: tracking/<unit name as a folder name>)")
    track.add_argument("--lang", default="vi", choices=["vi", "en"],
                       help="page language (default: vi)")
    track.add_argument("--min-staff-n-eff", type=float, default=100, metavar="N",
                       help="show a member of staff only from this effective size (default: 100)")

    params = sub.add_parser(
        "params", help="generate params/defaults.yaml and one params file per unit",
        description="Write params/defaults.yaml and params/units/63/<code>.yaml, "
                    "params/units/34/<code>.yaml from the reference tables (flat YAML, strings "
                    "quoted). With --check, write nothing and exit 1 if the files are not up to "
                    "date. An installed package (not a checkout) needs --dir to write.")
    params.add_argument("--write", action="store_true", help="write the files (the default)")
    params.add_argument("--check", action="store_true",
                        help="only check that the files are up to date")
    params.add_argument("--dir", default=None,
                        help="params folder (default: the checkout's params/; required when the "
                             "package is installed)")
    evaluate = sub.add_parser(
        "evaluate", help="diagnose estimators on simulated data with a known truth",
        description="Read a declaration (truth, sampling, inquiries, estimators; see "
                    "params/evaluation/*.yaml), simulate it many times in parallel and score "
                    "every estimator: bias, RMSE, coverage, power, type-S/M, SE calibration, "
                    "rank recovery, each with its Monte Carlo error. The run is stored under "
                    "--out and continues where it stopped if interrupted.")
    evaluate.add_argument("config", help="declaration YAML, e.g. params/evaluation/default.yaml")
    evaluate.add_argument("--out", default=None,
                          help="folder of the stored estimates (default: evaluation/NAME in the "
                               "processed-data folder)")
    evaluate.add_argument("--n-sims", type=int, default=None, help="number of simulations")
    evaluate.add_argument("--jobs", type=int, default=None, help="parallel worker processes")
    evaluate.add_argument("--seed", type=int, default=None, help="seed of the whole run")
    evaluate.add_argument("--no-progress", action="store_true", help="no progress bar")
    _codebook_parser(sub)
    return parser


def _header_row(text: str):
    if text == "auto":
        return text
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f'must be "auto" or a row number from 1, got {text!r}')
    return number


def _codebook_parser(sub) -> None:
    codebook = sub.add_parser(
        "codebook", help="draft a codebook (how your file maps to the contract) to edit",
        description="Draft the codebook YAML of a survey file or of its XLSForm: headers "
                    "matched to contract columns and SIPAS criteria, the answer scale "
                    "recognised, every guess commented, every unmatched header listed. Edit "
                    "the draft, then give it to the other commands with --codebook.")
    actions = codebook.add_subparsers(dest="codebook_command", metavar="ACTION")
    draft = actions.add_parser(
        "draft", help="draft a codebook from a survey file (Excel, CSV, SPSS, Stata, Parquet)",
        description="Read FILE (the header row found below any title rows, the separator and "
                    "encoding found) and print the draft codebook, or write it to --out.")
    draft.add_argument("file", help="survey file")
    draft.add_argument("--sheet", default=None,
                       help="Excel sheet: a name or a 0-based number (default: the first)")
    draft.add_argument("--header-row", type=_header_row, default="auto",
                       help='the header\'s row, 1-based as Excel numbers rows (default: auto)')
    form = actions.add_parser(
        "from-xlsform", help="build a codebook from an ODK/KoboToolbox XLSForm",
        description="Read the form's survey, choices and settings sheets and print the draft "
                    "codebook of its exports, or write it to --out.")
    form.add_argument("form", help="XLSForm workbook (.xlsx)")
    for action in (draft, form):
        action.add_argument("-o", "--out", default=None,
                            help="write the codebook to this file (default: print it)")
        action.add_argument("--force", action="store_true",
                            help="overwrite --out if it exists")


def _read_for_draft(path: Path, sheet, header_row):
    """(frame, file options, notes, value labels) of a survey file, through readers.read_raw, or a plain
    pandas reading with a title-row skip where that module is not installed."""
    try:
        from . import readers
    except ImportError:
        readers = None
    if readers is not None:
        try:
            raw = readers.read_raw(path, sheet=0 if sheet is None else sheet,
                                   header_row=header_row)
        except readers.UnreadableFile as error:
            raise ValueError(str(error)) from None
        notes = list(raw.notes or [])   # they say the legacy encoding, repeated headers
        if raw.legacy_encoding and not any(raw.legacy_encoding in n for n in notes):
            notes.append(f"text in the legacy {raw.legacy_encoding} encoding was converted "
                         "to Unicode")
        # SPSS, Stata and Parquet have no header row (read_raw gives 0) nor text encoding
        options = {"sheet": raw.sheet, "separator": raw.separator}
        if raw.header_row >= 1:
            options |= {"header_row": raw.header_row, "encoding": raw.encoding}
        if raw.header_row and raw.header_row > 1 and header_row == "auto":
            options["header_row_why"] = (f"found: rows 1-{raw.header_row - 1} above it are "
                                         "title rows")
        return raw.frame, options, notes, dict(raw.value_labels or {}), dict(
            raw.column_labels or {})
    from .codebook_draft import read_plain
    return (*read_plain(path, sheet=sheet, header_row=header_row), {}, {})


def _cmd_codebook(args) -> int:
    from . import files
    action = getattr(args, "codebook_command", None)
    if action is None:
        raise UserError("say what to do: sipas codebook draft FILE, or "
                        "sipas codebook from-xlsform FORM.xlsx")
    out = Path(args.out) if args.out else None
    if out is not None:
        if out.is_dir():
            raise UserError(f"--out {out} is a folder; give a file name such as codebook.yaml")
        if out.exists() and not args.force:
            raise UserError(f"--out {out} exists; add --force to overwrite it")
        if not out.parent.is_dir():
            raise UserError(f"--out {out}: the folder {out.parent} does not exist")
    source = Path(args.file if action == "draft" else args.form)
    if not source.exists():
        raise UserError(f"no such file: {files.printable(str(source))}")
    if action == "draft":
        from .codebook_draft import draft_codebook
        sheet = args.sheet
        if sheet is not None and sheet.isdigit():
            sheet = int(sheet)
        frame, options, notes, labels, questions = _read_for_draft(source, sheet,
                                                                   args.header_row)
        text = draft_codebook(frame, file_options=options, notes=notes, source=source.name,
                              value_labels=labels, column_labels=questions)
    else:
        from .xlsform import from_xlsform
        text = from_xlsform(source)
    if out is None:
        sys.stdout.write(text)
        return 0
    files.atomic_write(out, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    print(f"written: {out} (a draft: check every commented guess, then use it with "
          f"--codebook {out})")
    return 0


def _codebook_option(command) -> None:
    command.add_argument("--codebook", default=None, metavar="FILE",
                         help="codebook YAML mapping your own survey file to the contract "
                              "(README: Your own survey)")


def _read_codebook(path):
    """The --codebook file, or None; a missing file is a command-line mistake."""
    if path is None:
        return None
    from .codebook import Codebook
    if not Path(path).exists():
        raise UserError(f"no such codebook: {path}")
    return Codebook.from_yaml(path)


def _load(data: str, codebook=None):
    from . import io, simulate
    if data == "demo":
        if codebook is not None:
            raise UserError("--codebook applies to a survey file, not to the demo")
        return simulate.demo_survey()
    path = Path(data)
    if not path.exists():
        raise UserError(f"no such file: {data}")
    survey = io.load_survey(path, codebook=codebook)
    for sentence in survey.attrs.get("assumptions", []):
        print(f"note: {sentence}", file=sys.stderr)
    return survey


def _load_with_codebook(file: str, codebook: str | None):
    """The survey of ``file`` and the codebook it was read with (None without one)."""
    book = _read_codebook(codebook)
    return _load(file, book), book


def _exclude_flagged(survey, names: list[str], codebook=None, command: str = "index"):
    """``survey`` without the rows flagged by ``names``; one line on stderr says how many
    rows went and how many each flag removed."""
    from . import quality
    frame, options = quality.quality_inputs(survey, codebook)
    flags = quality.quality_flags(frame, **options)
    kept, removed = quality.exclude_flagged(frame, flags, names)
    counts = ", ".join(f"{name} {count:,}" for name, count in removed.items())
    print(f"sipas {command}: --exclude-flagged removed {len(frame) - len(kept):,} of "
          f"{len(frame):,} rows ({counts})", file=sys.stderr)
    return kept


def _survey_design(survey, lonely_psu: str = "fail", codebook=None):
    from .design import design_for
    design = design_for(survey, codebook, lonely_psu=lonely_psu)
    for step in getattr(design, "weighting_steps", ()):
        print(f"note: weighting: {step.method}; weighting design effect "
              f"{design.weighting_deff():.2f}", file=sys.stderr)
    return design


def _cmd_validate(args) -> int:
    from . import io, schema
    from .files import printable
    path = Path(args.file)
    if not path.exists():
        raise UserError(f"no such file: {printable(args.file)}")
    book = _read_codebook(args.codebook)
    # raises SurveyValidationError with the full report
    survey = _load(str(path), book) if book else io.load_survey(path)
    unit = book.unit_column if book else "province_code"
    print(f"{printable(str(path))}: valid — {len(survey):,} respondents, "
          f"{survey[unit].nunique()} units, years "
          f"{sorted(int(y) for y in survey['year'].unique())}")
    for sentence in survey.attrs.get("read", []):
        print(f"read: {printable(sentence)}")
    missing = _missing_answers(survey, book) if book else schema.missing_summary(survey)
    answered = missing[missing["n_missing"] > 0]
    if len(answered):
        print("missing answers (allowed, counted, never dropped):")
        print(printable(answered.to_string(index=False)))
    return 0


def _missing_answers(survey, book):
    """Missing answers per rating of a codebook's survey ("no opinion" counts as missing)."""
    import pandas as pd
    rows = [dict(column=c, factor=f, n_missing=int(survey[c].isna().sum()),
                 share_missing=float(survey[c].isna().mean()))
            for f, crits in book.factors.items() for c in crits]
    if "overall_satisfaction" in survey:
        missing = survey["overall_satisfaction"].isna()
        rows.append(dict(column="overall_satisfaction", factor="overall",
                         n_missing=int(missing.sum()), share_missing=float(missing.mean())))
    return pd.DataFrame(rows)


def _satisfied_levels(text: str) -> tuple[int, ...]:
    """``--satisfied`` as levels of the rule's scale (a wrong command line, not bad data)."""
    scale = index_rule.current().n_levels
    try:
        levels = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise UserError(f"--satisfied must be levels like 4,5, got {text!r}") from None
    outside = [v for v in levels if not 1 <= v <= scale]
    if outside:
        raise UserError(f"--satisfied levels must be between 1 and {scale} (the rating scale), "
                        f"got {outside}")
    return levels


def _index_table(args):
    from . import indices
    book = _read_codebook(args.codebook)
    if args.satisfied is not None:
        satisfied = _satisfied_levels(args.satisfied)
    else:
        satisfied = book.satisfied_levels() if book else index_rule.current().satisfied
    if args.out:
        _check_table_path(Path(args.out))       # before the work, not after it
    excluded = None
    if args.exclude_flagged is not None:
        from . import quality
        try:
            excluded = quality.flag_names(args.exclude_flagged)
        except ValueError as error:
            raise UserError(f"--exclude-flagged: {error}") from None
        if not excluded:
            raise UserError("--exclude-flagged needs flag names, e.g. straight_lining,duplicate")
    elif book is not None:
        from . import quality
        excluded = quality.codebook_exclusions(book)
    survey = _load(args.data, book)
    if excluded:
        survey = _exclude_flagged(survey, excluded, codebook=book)
    options = {"factors": book.factors} if book else {}
    years = sorted(int(y) for y in survey["year"].unique())
    year = args.year
    if year is None and len(years) > 1:
        # Years are separate surveys (and the 2025 units differ from the 63 provinces): one
        # year's index, the latest, unless asked otherwise.
        year = years[-1]
        print(f"sipas index: the data hold years {years}; showing {year} (choose with --year)",
              file=sys.stderr)
    if year is not None:
        survey = survey[survey["year"] == year]
        if survey.empty:
            raise UserError(f"no respondents in year {year}; the data hold years {years}")
    by = args.by or (book.unit_column if book else "province_code")
    by = None if by == "none" else by
    if by is not None and by not in survey.columns:
        raise UserError(f"--by {by!r} is not a column of the data")
    design = _survey_design(survey, lonely_psu=args.lonely_psu, codebook=book)
    ci_method = args.ci_method
    imputation = _imputation_settings(args, book)
    if imputation is not None:
        source = _imputed(design, imputation, book)
        estimate = source.sipas_index
    else:
        def estimate(**kwargs):
            return indices.sipas_index(design, **kwargs)
    table = estimate(by=by, satisfied=satisfied, rule=args.rule, ci_method=ci_method, **options)
    national = estimate(satisfied=satisfied, rule=args.rule, ci_method=ci_method, **options)
    if book is not None and by == book.unit_column:
        table = _with_peer_ranks(table, survey, by)
    if args.par_max is not None or (book is not None and book.par):
        table = _with_par_points(table, book, args.par_max, by)
    if by is not None:
        # the whole file: the nation for the contract's files, the file's units otherwise
        national[by] = "all respondents" if book else "national"
        table = _concat_national(national, table)
    if args.kind != "all":
        table = table[table["kind"] == args.kind]
    return survey, table


def _imputation_settings(args, book) -> dict | None:
    """m, seed, donors, iterations of ``--impute`` / the codebook's ``imputation:``; None for
    available cases."""
    said = dict(book.imputation) if book is not None else {}
    if args.impute is not None:
        if args.impute < 2:
            raise UserError(f"--impute needs at least 2 imputations, got {args.impute}")
        said["m"] = args.impute
    if args.impute_seed is not None:
        if "m" not in said:
            raise UserError("--impute-seed applies with --impute M (or a codebook's imputation:)")
        said["seed"] = args.impute_seed
    if "m" not in said:
        return None
    return {"seed": 1} | said


def _imputed(design, settings: dict, book):
    """The design's multiple imputation; stderr states the share imputed per factor and that
    the method assumes missing at random."""
    from .imputation import impute_ratings
    factors = book.factors if book is not None else None
    mi = impute_ratings(design, m=settings["m"], seed=settings["seed"], factors=factors,
                        donors=settings.get("donors", 5),
                        iterations=settings.get("iterations", 5))
    print(f"sipas index: {_imputation_sentence(mi, settings)}", file=sys.stderr)
    return mi


def _imputation_sentence(mi, settings: dict) -> str:
    from .imputation import MAR_NOTE
    share = mi.imputed_share()
    factors = share[share["kind"] == "factor"]
    shares = ", ".join(f"{row.term} {100 * row.share_imputed:.1f} %"
                       for row in factors.itertuples())
    return (f"multiple imputation, m = {mi.m} (seed {settings['seed']}, predictive mean "
            f"matching, {mi.settings['donors']} donors, {mi.settings['iterations']} "
            f"iterations), pooled by Rubin's rules with Barnard-Rubin df; share of ratings "
            f"imputed: {shares}; {MAR_NOTE['en']}")


def _concat_national(national, table):
    import pandas as pd
    return pd.concat([national[[c for c in table.columns if c in national]], table],
                     ignore_index=True)[table.columns]


def _with_peer_ranks(table, survey, unit: str):
    """``unit_type`` on every row, and the rank sets among each unit's peers on the overall
    rows (``rank``, ``rank_low``, ``rank_high``), as the league table ranks them."""
    from .report.agency_shared import peer_ranks, unit_types
    table = table.merge(unit_types(survey, unit).reset_index(), on=unit, how="left")
    ranks = peer_ranks(table[table["kind"] == "overall"], unit=unit, seed=0)
    table = table.merge(ranks[[unit, "rank", "rank_low", "rank_high"]].assign(kind="overall"),
                        on=[unit, "kind"], how="left")
    columns = [unit, "unit_type"] + [c for c in table.columns if c not in (unit, "unit_type")]
    return table[columns]


def _with_par_points(table, book, maximum, unit):
    """PAR-index points of each unit's overall index (``points``, ``points_low``,
    ``points_high``; with bands also ``band`` and ``p_band_differs``)."""
    from .par_points import ParRule, par_table
    rule = ParRule.from_codebook(book.par if book is not None else {}, maximum=maximum)
    overall = table[table["kind"] == "overall"]
    key = unit or "term"
    points = par_table(overall, rule, unit=key).drop(
        columns=["index", "index_low", "index_high"]).assign(kind="overall")
    return table.merge(points, on=[key, "kind"], how="left")



def _check_table_path(out: Path) -> None:
    """A table can be written to ``out``: a .csv or .xlsx name in a folder that exists or can
    be made, and that is not a folder itself."""
    from .files import TABLE_SUFFIXES
    if out.suffix.lower() not in TABLE_SUFFIXES:      # what files.write_table can write
        raise UserError(f"--out must end in .csv or .xlsx, got {out.name}")
    if out.is_dir():
        raise UserError(f"--out {out} is a folder; give a file name ending in .csv or .xlsx")
    parent = out.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise UserError(f"--out {out}: cannot write in {parent}")


def _write_table(table, out: Path):
    from . import files
    _check_table_path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    files.write_table(table, out)      # atomic; cells that a spreadsheet would run are text


def _show(table) -> str:
    shown = table.copy()
    for column in ["estimate", "std_error", "ci_low", "ci_high", "deff", "n_eff", "df", "fmi",
                   "riv"]:
        if column in shown:
            shown[column] = shown[column].round(2)
    if "share_imputed" in shown:
        shown["share_imputed"] = shown["share_imputed"].round(3)
    return shown.to_string(index=False)


def _cmd_index(args) -> int:
    survey, table = _index_table(args)
    synthetic = "synthetic" in survey.columns and bool(survey["synthetic"].any())
    if synthetic:
        print("SYNTHETIC DATA (simulated demo sample, not real SIPAS results)")
    from .files import printable
    if "share_imputed" in table:
        from .imputation import MAR_NOTE
        print(f"MULTIPLE IMPUTATION (m = {int(table['m'].iloc[0])}): the share_imputed column "
              f"gives the share of each row's ratings that were imputed; {MAR_NOTE['en']}")
    print(printable(_show(table)))      # a value cannot send escape codes to the terminal
    if args.out:   # a written file says it is synthetic too, in a column of its own
        _write_table(table.assign(synthetic=True) if synthetic else table, Path(args.out))
        print(f"written: {args.out}")
    return 0


def _only_repeated_ids(error) -> bool:
    problems = error.problems
    return len(problems) > 0 and bool(((problems["column"] == "respondent_id")
                                        & (problems["rule"] == "must be unique")).all())


def _cmd_quality(args) -> int:
    from . import quality
    from .schema import SurveyValidationError
    from .files import printable
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {printable(args.out)} is a file; give a folder")
    try:
        survey, book = _load_with_codebook(args.file, args.codebook)
    except SurveyValidationError as error:
        # a repeated respondent id is what this report is for: when it is the file's only
        # problem, the file is checked as it is, and the repeats are listed as flags
        if args.codebook is not None or not _only_repeated_ids(error):
            raise
        from . import io
        survey, book = io.load_survey(Path(args.file), validate=False), None
        print("sipas quality: respondent ids repeat (the data contract refuses that); the "
              "report lists them as duplicate_id", file=sys.stderr)
    frame, options = quality.quality_inputs(survey, book)
    if not options["criteria"]:
        raise ValueError(f"{args.file}: no rating column to check (the data contract's "
                         "criteria, or the codebook's ratings)")
    tables = quality.quality_summary(frame, lang=args.lang, **options)
    paths = quality.write_quality_report(frame, out, lang=args.lang, tables=tables,
                                         source=Path(args.file).name, **options)
    counts = tables["flags"].set_index("flag")
    synthetic = "synthetic" in survey.columns and bool(survey["synthetic"].any())
    if synthetic:
        print("SYNTHETIC DATA (simulated sample, not real SIPAS results)")
    print(f"{printable(args.file)}: {len(frame):,} rows, {len(options['criteria'])} criteria; "
          "flags (rows are never dropped here):")
    for row in counts.itertuples():
        shown = f"{row.n_flagged:,}" if row.checked else f"not checked ({row.rule})"
        print(f"  {row.Index}: {shown}")
    print(f"written: {paths['html']}, {paths['xlsx']}, {paths['csv']}")
    return 0


def _cmd_track(args) -> int:
    from . import tracking
    book = _read_codebook(args.codebook)
    if "date" not in book.columns and "date" not in book.constants:
        raise UserError(f"{args.codebook} gives no date (columns.date): tracking needs the "
                        "date of each answer")
    survey = _load(args.data, book)
    from . import quality
    excluded = quality.codebook_exclusions(book)   # the codebook's quality.exclude, as index
    if excluded:
        survey = _exclude_flagged(survey, excluded, codebook=book, command="track")
    try:
        result = tracking.track_unit(survey, args.unit, codebook=book, by=args.by,
                                     min_staff_n_eff=args.min_staff_n_eff)
    except ValueError as error:
        if str(error).startswith("no unit "):      # the name on the command line
            raise UserError(str(error)) from None
        raise
    out = Path(args.out) if args.out else Path("tracking") / result.slug
    written = tracking.write_tracking(result, out, lang=args.lang)
    from .files import printable
    print(printable(f"{result.unit}: {len(result.overall)} period(s), latest {result.latest}"))
    for sentence in result.sentences[args.lang]:
        print(printable(sentence))
    print(f"written: {written['html']} and {written['workbook']}")
    return 0


def _cmd_demo(args) -> int:
    from . import indices, reference, simulate
    out = Path(args.out)
    import pandas as pd
    from .report.shared import demo_data_path
    demo_path = demo_data_path()          # written atomically: a running batch never sees half
    survey = pd.read_parquet(demo_path)
    year = survey[survey["year"] == args.year]
    if year.empty:
        raise UserError(f"the demo sample has no year {args.year}; it covers "
                        f"{sorted(survey['year'].unique())}")
    design = _survey_design(year)
    by_province = indices.sipas_index(design, by="province_code",
                                      ci_method=intervals.DEFAULT_METHOD)
    overall = by_province[by_province["kind"] == "overall"]
    ranks = indices.rank_units(overall, unit="province_code", seed=0)
    table = overall.merge(ranks[["province_code", "rank", "rank_low", "rank_high"]],
                          on="province_code").sort_values("rank")
    names = reference.provinces(reference.default_unit_set(args.year))
    table = table.merge(names[["province_code", "name_vi"]], on="province_code", how="left")
    national = indices.sipas_index(design, ci_method=intervals.DEFAULT_METHOD)
    national = national[national["kind"] == "overall"]
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"sipas_index_{args.year}_demo.csv"
    table.assign(synthetic=True).to_csv(target, index=False)  # the file says what it is
    print("SYNTHETIC DATA (simulated demo sample with a known truth, seed 0; not real SIPAS)")
    n = national.iloc[0]
    print(f"National SIPAS {args.year}: {n.estimate:.2f} % "
          f"(95 % CI {n.ci_low:.2f}–{n.ci_high:.2f}), {len(year):,} respondents, "
          f"{int(n.n):,} of whom used a service and rated it (n)")
    print(_show(table[["province_code", "name_vi", "estimate", "ci_low", "ci_high", "n", "rank",
                       "rank_low", "rank_high"]]))
    print(f"written: {target} and {demo_path}")
    return 0


def _terminate(signum, frame):
    raise KeyboardInterrupt


def _on_sigterm(handler):
    """Install ``handler`` for SIGTERM and return the previous one (None outside the main
    thread, where Python allows no signal handler)."""
    try:
        return signal.signal(signal.SIGTERM, handler) if handler is not None else None
    except ValueError:
        return None


def _report_units(args) -> tuple[str, str | None, dict | None]:
    """--units or the units named by --params files (which must share one unit set); and the
    params file of each unit named that way (part of what decides whether it must re-run)."""
    from . import batch
    if args.params is None:
        return "all" if args.units is None else args.units, args.unit_set, None
    if args.units is not None:
        raise UserError("give --units or --params, not both")
    codes, sets, files = [], set(), {}
    for path in args.params:
        try:
            values = batch.load_params_file(path)
        except ValueError as error:
            raise UserError(str(error)) from None
        if "province_code" not in values:
            raise UserError(f"{path} names no province_code")
        codes.append(values["province_code"])
        files[values["province_code"]] = path
        sets.add(values.get("unit_set") or args.unit_set)
    if len(sets) > 1:
        raise UserError(f"the params files mix unit sets {sorted(map(str, sets))}")
    return ",".join(codes), sets.pop(), files


def _timeout_seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not seconds >= 0 or seconds == float("inf"):
        raise argparse.ArgumentTypeError(f"must be 0 (no limit) or a number of seconds > 0, "
                                         f"got {text!r}")
    return seconds


def _timeout_option(seconds) -> dict:
    """--timeout as run_batch takes it: absent = its default, 0 = no limit."""
    if seconds is None:
        return {}
    return {"timeout": None if seconds == 0 else seconds}


def _agency_units(text: str | None):
    """--units of an agency batch: "all", names separated by ";", or @FILE (one per line)."""
    if text is None:
        return "all"
    if text.startswith("@"):
        path = Path(text[1:])
        try:
            lines = path.read_text(encoding="utf-8-sig").splitlines()
        except OSError as error:
            raise UserError(f"--units {text}: cannot read {path}: {error.strerror}") from None
        names = [line.strip() for line in lines if line.strip() and
                 not line.lstrip().startswith("#")]
        if not names:
            raise UserError(f"--units {text}: the file names no unit")
        return names
    return text


def _agency_arguments(args) -> dict:
    """The agency batch's arguments, once the province batch's own options are refused."""
    if args.data == "demo":
        raise UserError("--codebook reads your own survey: give it with --data FILE")
    wrong = [flag for flag, value in (("--params", args.params), ("--unit-set", args.unit_set))
             if value is not None]
    if wrong:
        raise UserError(f"{', '.join(wrong)} apply to province reports, not with --codebook")
    if args.par_max is not None and not args.par_max > 0:
        raise UserError(f"--par-max must be a number of points > 0, got {args.par_max:g}")
    if not Path(args.codebook).is_file():
        raise UserError(f"no such codebook: {args.codebook}")
    if args.previous_codebook is not None and args.previous is None:
        raise UserError("--previous-codebook reads a previous survey file: give --previous FILE")
    for flag, value in (("--previous", args.previous),
                        ("--previous-codebook", args.previous_codebook)):
        if value is not None and not Path(value).is_file():
            raise UserError(f"{flag}: no such file: {value}")
    return {"data": args.data, "codebook": args.codebook, "units": _agency_units(args.units),
            "par_max": args.par_max, "previous": args.previous,
            "previous_codebook": args.previous_codebook}


def _cmd_reports(args) -> int:
    from . import batch
    from .schema import SurveyValidationError
    own = [flag for flag, value in (("--par-max", args.par_max), ("--previous", args.previous),
                                    ("--previous-codebook", args.previous_codebook))
           if value is not None]
    if args.codebook is None and own:
        raise UserError(f"{', '.join(own)} applies to the reports of your own survey "
                        "(--codebook)")
    agency = _agency_arguments(args) if args.codebook is not None else None
    units, unit_set, files = _report_units(args) if agency is None else (None, None, None)
    previous = _on_sigterm(_terminate)  # a job scheduler's kill ends like Ctrl-C: cleanly
    try:
        documents = [name for name in ("pdf", "docx") if getattr(args, name)]
        if agency is not None:
            result = batch.run_agency_batch(
                args.year, lang=args.lang, jobs=args.jobs, out=args.out, notebook=args.notebook,
                progress=not args.no_progress, force=args.force, engine=args.engine,
                scheduler=args.scheduler, documents=documents, **agency,
                **_timeout_option(args.timeout))
        else:
            result = batch.run_batch(
                args.year, units=units, unit_set=unit_set, lang=args.lang, data=args.data,
                jobs=args.jobs, out=args.out, notebook=args.notebook,
                progress=not args.no_progress, force=args.force, scheduler=args.scheduler,
                engine=args.engine, params_files=files, documents=documents,
                **_timeout_option(args.timeout))
    except KeyboardInterrupt:
        print("sipas reports: interrupted; every kernel was stopped. Run the same command "
              "again to finish: units already built are skipped.", file=sys.stderr)
        return 130
    except batch.BatchError as error:
        raise UserError(str(error)) from None
    except SurveyValidationError as error:
        if agency is None or args.previous is None or args.previous_codebook is not None or \
                not error.source or Path(error.source).resolve() != Path(args.previous).resolve():
            raise
        print(str(error), file=sys.stderr)
        print("hint: the previous survey (--previous) is read through --codebook; when last "
              "year's file has other headers or another constants.year, write its codebook "
              "(sipas codebook draft FILE) and give it with --previous-codebook",
              file=sys.stderr)
        return EXIT_INVALID
    # any other ValueError (no respondents in that year, data the design cannot analyse) is
    # reported by main() as it is, with exit status 1
    finally:
        _on_sigterm(previous)
    print(result.summary())
    skipped = sum(r.skipped is not None for r in result.results)
    print(f"open {os.path.relpath(result.index_path)} (manifest: "
          f"{os.path.relpath(result.manifest_path)}; "
          f"{result.seconds:.0f} s, shared results {result.shared_seconds:.0f} s"
          + (f"; {skipped} unit(s) unchanged, skipped" if skipped else "") + ")")
    return result.exit_status


def _cmd_params(args) -> int:
    from . import batch
    if args.check:
        stale = batch.stale_params(args.dir)
        if stale:
            print(f"{len(stale)} params file(s) not up to date (run: sipas params): "
                  + ", ".join(stale[:10]) + (" …" if len(stale) > 10 else ""), file=sys.stderr)
            return EXIT_INVALID
        print("params files are up to date")
        return 0
    from .report.params import extra_params
    from .resources import checkout
    try:
        # an installed package without --dir is refused by write_params, below
        removed = extra_params(args.dir) if args.dir or checkout() else []
        written = batch.write_params(args.dir)
    except ValueError as error:   # installed, and no --dir
        raise UserError(str(error)) from None
    for name in removed:            # deleted files are named, never removed silently
        print(f"removed {name}: not a unit of the reference tables", file=sys.stderr)
    print(f"{len(written)} params files in {written[0].parent}")
    return 0


SUMMARY_COLUMNS = ["estimator", "inquiry", "n_sims", "bias", "rmse", "coverage",
                   "se_calibration", "power", "spearman"]


def cli_evaluate(config_path, *, out=None, n_sims=None, jobs=None, seed=None,
                 progress=True) -> int:
    """What ``sipas evaluate CONFIG`` does: read the declaration, diagnose it into a resumable
    output folder, print a summary, return the exit status (0).

    Settings come from the arguments, else the file's ``run:`` section, else n_sims 100, seed
    0, jobs 1, out ``evaluation/<file stem>`` in :func:`.resources.processed_dir`. The folder
    holds the store (``estimates-*.parquet``, ``targets.parquet``, ``manifest.json``),
    ``declaration.json`` and ``diagnosands.csv``. Interrupted (Ctrl-C), the chunks finished so far stay; the same command
    continues. User mistakes raise ValueError with the message to show.
    """
    import json

    import pandas as pd

    from .evaluate import Declaration, diagnose
    from .evaluate.run import _check_run
    from .resources import processed_dir
    declaration = Declaration.from_yaml(config_path)
    run = declaration.run
    n_sims = n_sims if n_sims is not None else run.get("n_sims", 100)
    seed = seed if seed is not None else run.get("seed", 0)
    jobs = jobs if jobs is not None else run.get("jobs", 1)
    out = Path(out if out is not None else run.get(
        "out", processed_dir() / "evaluation" / Path(config_path).stem))
    _check_run(n_sims, seed, jobs)
    print(f"Diagnosing {declaration.name!r}: {n_sims} simulations, seed {seed}, {jobs} job(s), "
          f"into {out}")
    result = diagnose(declaration, n_sims=int(n_sims), seed=int(seed), jobs=int(jobs),
                      store=out, progress=progress)
    (out / "declaration.json").write_text(json.dumps(declaration.to_dict(), indent=2,
                                                     default=str), encoding="utf-8")
    result.diagnosands.to_csv(out / "diagnosands.csv", index=False)
    summary = result.diagnosands[SUMMARY_COLUMNS].copy()
    with pd.option_context("display.width", 160, "display.max_columns", 20,
                           "display.float_format", "{:.3f}".format):
        print(summary.to_string(index=False))
    failed = result.diagnosands.loc[result.diagnosands["n_failed"] > 0,
                                    ["estimator", "inquiry", "n_failed"]]
    for row in failed.itertuples(index=False):
        print(f"note: {row.estimator} failed on {row.n_failed} simulation(s) for {row.inquiry}")
    print(f"{result.n_computed} simulation(s) computed, {n_sims - result.n_computed} read from "
          f"the store, {result.seconds:.1f} s. Diagnosands: {out / 'diagnosands.csv'}")
    return 0


def _cmd_evaluate(args) -> int:
    if not Path(args.config).exists():
        raise UserError(f"no such declaration file: {args.config}")
    try:
        return cli_evaluate(args.config, out=args.out, n_sims=args.n_sims, jobs=args.jobs,
                            seed=args.seed, progress=not args.no_progress)
    except ValueError as error:   # a mistake in the declaration or the options
        raise UserError(str(error)) from None


COMMANDS = {"demo": _cmd_demo, "validate": _cmd_validate, "index": _cmd_index,
            "reports": _cmd_reports, "params": _cmd_params, "evaluate": _cmd_evaluate,
            "quality": _cmd_quality, "track": _cmd_track,
            "codebook": _cmd_codebook}


def _stdout_closed() -> bool:
    """Whether the reader of stdout has gone (``sipas index | head``), rather than some other
    pipe breaking inside a command (that one stays an error)."""
    import select
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
    except (AttributeError, OSError, ValueError):   # no poll() here, or no real stdout
        return True
    return any(event & select.POLLERR for _, event in poller.poll(0))


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """Warnings reach a command-line user as one line, not as a source location."""
    print(f"sipas: warning: {message}", file=sys.stderr)


def _looks_like_an_own_survey(error, args) -> bool:
    """A file read without a codebook that lacks most of the contract's columns."""
    if getattr(args, "codebook", "absent") is not None or args.command == "codebook":
        return False
    rules = list(getattr(error, "problems", {}).get("rule", []))
    return sum(rule == "required column is missing" for rule in rules) >= 5


def main(argv: list[str] | None = None) -> int:
    import warnings
    with warnings.catch_warnings():    # restores the caller's warning display afterwards
        warnings.showwarning = _show_warning
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    from .schema import SurveyValidationError
    from .reference import UnknownProvinceError
    try:
        status = COMMANDS[args.command](args)
        sys.stdout.flush()   # a closed pipe then shows here, not in the interpreter's exit
        return status
    except BrokenPipeError:
        if not _stdout_closed():
            raise
        # Python's "Note on SIGPIPE": point stdout at devnull so that the final flush cannot
        # fail again, and end quietly with the status of a process that SIGPIPE ended
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + int(getattr(signal, "SIGPIPE", 13))
    except SurveyValidationError as error:
        print(str(error), file=sys.stderr)
        if _looks_like_an_own_survey(error, args):
            print(f"hint: this file is not in the data contract. For your own survey, draft a "
                  f"codebook (sipas codebook draft FILE -o codebook.yaml), check it, and give "
                  f"it with --codebook codebook.yaml (README: Your own survey)", file=sys.stderr)
        return EXIT_INVALID
    except (UserError, UnknownProvinceError, FileNotFoundError) as error:
        print(f"sipas {args.command}: {error}", file=sys.stderr)
        return EXIT_USAGE
    except (ValueError, OSError) as error:
        # The package's errors say what is wrong with the data or the design (a lonely PSU,
        # zero weights, ...); a file system refusal names its path. Either is a message.
        hint = (" (on the command line: --lonely-psu remove|adjust|average|certainty)"
                if "lonely_psu" in str(error) and args.command == "index" else "")
        print(f"sipas {args.command}: {error}{hint}", file=sys.stderr)
        return EXIT_INVALID


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
