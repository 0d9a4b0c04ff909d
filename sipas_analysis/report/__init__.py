"""Reports: a province's (or another unit's) SIPAS report made of sections, in Vietnamese and
English, and its outputs (HTML page, Excel workbook, the index page).

Where to look:

- ``params``: the report's parameters (one vocabulary, its check, the params files);
- ``settings``: :class:`ReportSettings` (the index rule, thresholds, formulas) and the method
  sentences written from them;
- ``shared``: the national results every unit's report shares (:func:`compute_shared`) and
  their cache (:func:`shared_results`);
- ``sections/``: one module per section (its cells, text keys, figure, workbook sheet and the
  columns it needs); ``kinds``: a report kind, an ordered list of sections, and :func:`show`,
  the one call a report notebook's cells make;
- ``figures``: rendering a section's figure (national figures drawn once and reused);
- ``display``: headings, names, display tables and suppression; ``export``: HTML pages and the
  workbook; ``documents``: the PDF (:func:`write_pdf`) and Word (:func:`write_docx`) documents.

Computations never round or format; the sections do, at the very end.
"""
from ..language import (LANGS, TEXT, check_lang, format_count, format_interval,  # noqa: F401
                        format_number, format_percent, term_label, text, tick_formatter)
from . import (display, documents, export, figures, kinds, params, sections,  # noqa: F401
               settings, shared)
from .documents import write_docx, write_pdf  # noqa: F401
from .display import (HtmlTable, blank_suppressed, display_index_table,  # noqa: F401
                      heading, markdown_list, suppress_small, suppression_flags, unit_name,
                      unit_region)
from .export import (index_page, index_table, notebook_to_html, reader_workbook,  # noqa: F401
                     write_tables)
from .agency_shared import (AgencyParams, AgencyShared, agency_shared_results,  # noqa: F401
                            compute_agency_shared, match_units)
from .agency_shared import (add_unit_models, adjusted_marks, unit_drivers,  # noqa: F401
                            unit_small_area, unit_tracking)
from .kinds import (AGENCY_REPORT, KINDS, PROVINCE_REPORT, show, tables_for_workbook,  # noqa: F401
                    write_workbook)
from .params import (DEFAULT_PARAMETERS, PARAMETER_TYPES, ReportParams,  # noqa: F401
                     check_parameters, check_values, load_params_file, national_params,
                     params_files, stale_params, write_params)
from .sections import FIGURES, SECTIONS, ReportKind, Section, figure  # noqa: F401
from .sections.actions import actions  # noqa: F401
from .sections.breakdowns import BREAKDOWNS, breakdown  # noqa: F401
from .sections.caveats import caveats  # noqa: F401
from .sections.experience import experience_table  # noqa: F401
from .sections.factors import comparison_table  # noqa: F401
from .sections.former import former_table  # noqa: F401
from .sections.headline import headline, national_headline  # noqa: F401
from .sections.local_effect import local_effect, local_regression, national_effect  # noqa: F401
from .sections.provenance import git_commit, provenance  # noqa: F401
from .sections.published import former_codes, published_display, published_table  # noqa: F401
from .sections.ranking import index_page_table, region_table  # noqa: F401
from .settings import ReportSettings  # noqa: F401
from .shared import (SharedResults, compute_shared, data_hash, in_unit_set,  # noqa: F401
                     load_report_data, shared_results, survey_design, year_survey)
