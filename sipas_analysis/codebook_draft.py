"""A first codebook drafted from a survey file, for the analyst to check and edit.

:func:`draft_codebook` reads a table's headers and answers and writes the codebook YAML
(README, "Your own survey"): each header matched to a contract column or a SIPAS criterion by
its wording, the answer scale recognised from the answers, category labels mapped to the
contract's values. Nothing is silently assumed: every guess carries a comment that says how
sure it is and why, a weak guess is written commented out (the analyst uncomments it), and
every header left unmatched is listed at the end.

Matching works on folded text: any Unicode form, case and diacritics removed ("đ" -> "d"),
KoboToolbox group prefixes (``danh_gia/q1_thai_do``) and question numbers ("Câu 5:") stripped.
A header is compared with a lexicon of the questionnaire's usual wording (phrases such as
"thái độ", "lắng nghe", "niêm yết") and with the criterion labels of :mod:`.schema`, by
phrase containment, label-word coverage and :mod:`difflib` similarity; the best score decides.

:mod:`.xlsform` builds the same draft from an ODK/KoboToolbox form instead of a data file.
"""
from __future__ import annotations

import difflib
import re
import textwrap
import unicodedata
from collections import Counter
from dataclasses import dataclass, field

import pandas as pd

from . import files, reference, schema

__all__ = ["draft_codebook", "fold", "match_header", "recognise_scale"]

# Scores: 1.0 the header says exactly a known wording; from LIKELY on the match is written
# as an active line; from POSSIBLE on it is written commented out; below, the header is unmatched.
LIKELY = 0.8
POSSIBLE = 0.62
_AMBIGUOUS = 0.03   # a runner-up this close makes the best match only possible


# --------------------------------------------------------------------------------------------
# Folding
# --------------------------------------------------------------------------------------------

def fold(text) -> str:
    """Lower-case ASCII-like text: any Unicode form, diacritics removed, "đ" -> "d".

    Examples
    --------
    >>> fold("Thái độ của CÔNG CHỨC"), fold("Đơn vị") == fold("Đơn vị".encode().decode())
    ('thai do cua cong chuc', True)
    """
    decomposed = unicodedata.normalize("NFD", unicodedata.normalize("NFC", str(text)))
    stripped = "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")
    return stripped.replace("đ", "d").replace("Đ", "D").lower()


_NUMBERING = re.compile(r"^\s*(?:(?:cau|c|q|question|muc|phan)\s*)?\d+[a-z]?(?:[.\-]\d+)*"
                        r"\s*[:.)\-]*\s+|^\s*[a-h]\s*[.)]\s+")
_IDENTIFIER_PATH = re.compile(r"[A-Za-z0-9_.\-]+(?:/[A-Za-z0-9_.\-]+)+")


def _tokens(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text)


def header_texts(header) -> list[list[str]]:
    """The token lists a header is matched on: the whole header, and (for Kobo ``group/name``
    or a labelled ``Group/Question`` export) the part after the last "/"; each with the
    question number ("Câu 5:", ``q1_``, "5.") removed.

    Examples
    --------
    >>> header_texts("danh_gia/q1_thai_do")
    [['thai', 'do']]
    >>> header_texts("Câu 5: Thái độ giao tiếp")
    [['thai', 'do', 'giao', 'tiep']]
    """
    text = str(header).strip()
    candidates = [text]
    if "/" in text:
        last = text.rsplit("/", 1)[1]
        if _IDENTIFIER_PATH.fullmatch(text):
            candidates = [last]         # an export's group path: the group is not the question
        elif last.strip():
            candidates.append(last)
    out = []
    for candidate in candidates:
        folded = fold(candidate).replace("_", " ").strip()
        folded = _NUMBERING.sub("", folded, count=1) if _NUMBERING.match(folded) else folded
        words = _tokens(folded)
        if words and words not in out:
            out.append(words)
    return out


# --------------------------------------------------------------------------------------------
# The lexicon: what each contract column and criterion is usually called
# --------------------------------------------------------------------------------------------
# "=x": only a header that is exactly x (a single common word such as "cấp" or "ID" would
# match too much inside a longer question); "?x": a weak hint, enough only for a possible match.

_COLUMN_WORDS: dict[str, list[str]] = {
    "respondent_id": ["ma phieu", "so phieu", "ma so phieu", "uuid", "=id", "=_id",
                      "respondent id", "ma nguoi tra loi", "=ma", "=ma so", "instanceid"],
    "unit": ["don vi duoc khao sat", "ten co quan", "ma don vi", "bo phan mot cua", "ten don vi", "=don vi",
             "=co quan", "co quan giai quyet", "don vi khao sat", "bo phan tiep nhan va tra ket qua",
             "=unit", "unit name", "noi nop ho so"],
    "unit_type": ["loai don vi", "=cap", "cap don vi", "cap hanh chinh", "loai co quan",
                  "cap co quan", "unit type"],
    "date": ["ngay khao sat", "submission time", "ngay phong van", "ngay dieu tra",
             "ngay tra loi", "=ngay", "=date", "=today", "survey date", "interview date"],
    "start": ["=start", "thoi gian bat dau", "gio bat dau", "start time"],
    "end": ["=end", "thoi gian ket thuc", "gio ket thuc", "end time"],
    "sex": ["gioi tinh", "=gender", "=sex"],
    "age_group": ["do tuoi", "=tuoi", "nhom tuoi", "age group", "=age"],
    "education": ["trinh do hoc van", "trinh do", "hoc van", "=education"],
    "ethnicity": ["dan toc", "=ethnicity"],
    "province": ["tinh thanh pho", "=tinh", "tinh thanh", "=province", "tinh tp"],
    "interviewer": ["dieu tra vien", "phong van vien", "nguoi phong van", "=interviewer",
                    "=enumerator", "ten dtv", "=dtv"],
    "staff": ["can bo tiep nhan", "cong chuc tiep nhan", "=cong chuc", "=can bo",
              "nguoi tiep nhan", "=staff", "can bo mot cua"],
    "year": ["=nam", "nam khao sat", "=year", "nam dieu tra"],
    "unit_size": ["quy mo don vi", "so ho so", "=dan so", "=unit size", "so luong ho so"],
}
_DESIGN_WORDS: dict[str, list[str]] = {
    "weights": ["trong so", "=weight", "=weights", "quyen so", "=wt"],
    "strata": ["=tang", "tang mau", "=strata", "=stratum"],
    "psu": ["=cum", "cum mau", "dia ban", "=psu", "=cluster", "dia ban khao sat"],
}
_CRITERION_WORDS: dict[str, list[str]] = {
    "access_seating": ["cho ngoi", "noi ngoi cho", "ghe ngoi", "du cho ngoi", "phong cho"],
    "access_equipment": ["trang thiet bi day du", "thiet bi day du", "co so vat chat",
                         "?trang thiet bi"],
    "access_modern_equipment": ["hien dai", "thiet bi hien dai"],
    "access_ease": ["de su dung", "su dung de dang", "?thuan tien"],
    "procedure_posted": ["niem yet", "cong khai", "?minh bach"],
    "procedure_lawful_components": ["thanh phan ho so", "ho so phai nop", "giay to phai nop"],
    "procedure_lawful_fees": ["phi le phi", "le phi", "muc phi", "?phi"],
    "procedure_time_limit": ["thoi han", "thoi gian giai quyet", "thoi han luat dinh",
                             "dung thoi han"],
    "procedure_single_point": ["dau moi", "mot dau moi"],
    "staff_polite": ["thai do", "lich su", "ton trong", "giao tiep"],
    "staff_listening": ["lang nghe", "chu y lang nghe"],
    "staff_full_answers": ["tra loi day du", "giai dap", "?tra loi", "giai thich"],
    "staff_guidance": ["huong dan", "tan tinh", "chu dao"],
    "staff_follows_rules": ["tuan thu", "tuan thu quy dinh", "lam dung quy dinh"],
    "staff_no_harassment": ["nhung nhieu", "phien ha", "gay kho khan", "voi vinh", "tieu cuc"],
    "result_lawful": ["ket qua dung quy dinh", "ket qua giai quyet dung quy dinh"],
    "result_accurate": ["chinh xac", "thong tin chinh xac"],
    "result_on_time": ["dung hen", "dung ngay hen", "tra ket qua dung hen"],
    "result_complete_info": ["day du thong tin", "ket qua day du"],
    "feedback_channel": ["hinh thuc tiep nhan gop y", "hom thu gop y", "kenh gop y",
                         "bo tri hinh thuc", "tiep nhan gop y", "?gop y", "?phan anh"],
    "feedback_received": ["gop y duoc tiep nhan", "duoc tiep nhan", "tiep nhan day du",
                          "?gop y", "?phan anh"],
    "feedback_resolved": ["xu ly kip thoi", "duoc xu ly", "giai quyet kien nghi", "phan hoi",
                          "?gop y", "?phan anh"],
}
_OVERALL_WORDS = ["muc do hai long chung", "hai long chung", "danh gia chung", "nhin chung",
                  "noi chung", "tong the", "hai long toan bo", "=overall",
                  "overall satisfaction", "=overall satisfaction"]
_EXTRA_WORDS = {"online_satisfaction": ["truc tuyen", "dich vu cong truc tuyen", "=online"]}
_STOPWORDS = {"co", "cua", "va", "cac", "duoc", "la", "khi", "tai", "ve", "voi", "nhung",
              "the", "of", "and", "is", "are", "a", "to", "by", "for", "in"}
_FACTOR_OF = {c: f for f, cs in schema.FACTORS.items() for c in cs}
# KoboToolbox and ODK add these to every export; listed as metadata when unmatched
KOBO_METADATA = {"_id", "_uuid", "_submission_time", "_validation_status", "_notes",
                 "_status", "_submitted_by", "__version__", "_tags", "_index", "_version_",
                 "meta/instanceid", "formhub/uuid", "today", "deviceid", "username",
                 "_xform_id_string", "_attachments", "_geolocation", "meta/deprecatedid",
                 "simserial", "subscriberid", "phonenumber", "audit", "meta/rootuuid"}


@dataclass(frozen=True)
class Target:
    """Where a header goes: ``section`` is "columns", "design", "ratings", "overall" or
    "extra"; ``name`` the contract column, design role, criterion or extra name."""

    section: str
    name: str

    @property
    def is_rating(self) -> bool:
        return self.section in ("ratings", "overall", "extra")

    def __str__(self) -> str:
        return self.name if self.section != "overall" else "overall"


@dataclass
class _Phrase:
    words: tuple[str, ...]
    exact_only: bool = False
    weak: bool = False
    text: str = ""


def _phrases(words: list[str]) -> list[_Phrase]:
    out = []
    for word in words:
        exact, weak = word.startswith("="), word.startswith("?")
        text = word.lstrip("=?")
        out.append(_Phrase(tuple(_tokens(text.replace("_", " "))) or (text,), exact, weak, text))
    return out


def _lexicon() -> dict[Target, tuple[list[_Phrase], list[tuple[str, ...]]]]:
    """target -> (phrases, label token lists)."""
    out = {}
    for name, words in _COLUMN_WORDS.items():
        out[Target("columns", name)] = (_phrases(words), [])
    for name, words in _DESIGN_WORDS.items():
        out[Target("design", name)] = (_phrases(words), [])
    for name, words in _CRITERION_WORDS.items():
        labels = schema.CRITERION_LABELS.get(name, {})
        label_words = [tuple(_tokens(fold(labels[lang]))) for lang in ("vi", "en")
                       if lang in labels]
        out[Target("ratings", name)] = (_phrases(words), label_words)
    out[Target("overall", "overall")] = (_phrases(_OVERALL_WORDS), [])
    for name, words in _EXTRA_WORDS.items():
        out[Target("extra", name)] = (_phrases(words), [])
    return out


_LEXICON = _lexicon()


def _contains(words: list[str], phrase: tuple[str, ...]) -> bool:
    n = len(phrase)
    return any(tuple(words[i:i + n]) == phrase for i in range(len(words) - n + 1))


@dataclass
class Match:
    """A header's best target: ``score`` in [0, 1], ``why`` the evidence in words."""

    target: Target
    score: float
    why: str

    @property
    def confidence(self) -> str:
        if self.score >= 0.99:
            return "exact"
        return "likely" if self.score >= LIKELY else (
            "possible" if self.score >= POSSIBLE else "none")


def _score(texts: list[list[str]], phrases: list[_Phrase],
           labels: list[tuple[str, ...]]) -> tuple[float, str]:
    best, why = 0.0, ""
    for words in texts:
        hits = []
        for phrase in phrases:
            if tuple(words) == phrase.words:
                return 1.0, f'reads "{phrase.text}", a usual wording'
            if not phrase.exact_only and _contains(words, phrase.words):
                hits.append(phrase)
        if hits:
            strong = [p for p in hits if not p.weak]
            if strong:
                top = max({1: 0.8, 2: 0.86}.get(len(p.words), 0.9) for p in strong)
                score = min(0.96, top + 0.03 * (len({p.words for p in strong}) - 1))
            else:
                score = 0.68
            if score > best:
                best = score
                why = "says " + ", ".join(f'"{p.text}"' for p in (strong or hits))
        content = [w for w in words if w not in _STOPWORDS]
        for label in labels:
            wanted = [w for w in label if w not in _STOPWORDS]
            if not wanted:
                continue
            found = sum(w in content for w in wanted)
            coverage = found / len(wanted)
            # a long question holds many words by chance: the label must be much of it too
            precision = found / max(len(content), 1)
            score = 0.5 + 0.4 * coverage * min(1.0, 2 * precision)
            if coverage >= 0.6 and score > best:
                best = score
                why = (f"{coverage:.0%} of the words of the criterion's label "
                       f"({found} of the header's {len(content)})")
        joined = " ".join(words)
        for candidate in [" ".join(p.words) for p in phrases] + [" ".join(l) for l in labels]:
            if abs(len(candidate) - len(joined)) > 0.3 * max(len(candidate), 1):
                continue
            ratio = difflib.SequenceMatcher(None, joined, candidate).ratio()
            if ratio == 1.0:
                return 1.0, f'reads "{candidate}", the criterion\'s label'
            if ratio >= 0.85 and ratio * 0.95 > best:
                best = ratio * 0.95
                why = f'close in spelling to "{candidate}" ({ratio:.0%} similar)'
    return best, why


def match_header(header, *, texts=None) -> list[Match]:
    """Every target the header could be, best first (scores from :data:`POSSIBLE` up).

    ``texts`` are further wordings to match on (an XLSForm question's label and name).

    Examples
    --------
    >>> best = match_header("Câu 5: Thái độ giao tiếp của công chức (lịch sự, tôn trọng)")[0]
    >>> best.target.name, best.confidence
    ('staff_polite', 'likely')
    >>> match_header("Mã phiếu")[0].target
    Target(section='columns', name='respondent_id')
    """
    token_lists = []
    for text in [header, *(texts or [])]:
        if text is None or str(text).strip() == "":
            continue
        for words in header_texts(text):
            if words not in token_lists:
                token_lists.append(words)
    raw = fold(str(header)).strip()
    matches = []
    for target, (phrases, labels) in _LEXICON.items():
        score, why = _score(token_lists, phrases, labels)
        if target == Target("columns", "respondent_id") and raw in ("_uuid", "_id"):
            # a Kobo export has both; _uuid is the one that stays the same across servers
            score, why = (1.0 if raw == "_uuid" else 0.9), f"the KoboToolbox {raw} column"
        if target == Target("columns", "date") and raw == "today":
            # the device's date: _submission_time, when the export has it, is the one to use
            score, why = 0.9, "the form's today column (the device's date)"
        if score >= POSSIBLE:
            matches.append(Match(target, round(score, 3), why))
    matches.sort(key=lambda m: -m.score)
    return matches


# --------------------------------------------------------------------------------------------
# Answer scales
# --------------------------------------------------------------------------------------------
# family -> level code -> (how it is written, folded variants); levels: vl, l, m, h, vh

_SCALE_FAMILIES: dict[str, dict[str, tuple[str, list[str]]]] = {
    "satisfaction": {
        "vl": ("Rất không hài lòng", ["rat khong hai long", "hoan toan khong hai long"]),
        "l": ("Không hài lòng", ["khong hai long", "chua hai long"]),
        "m": ("Bình thường", ["binh thuong", "trung binh", "tam duoc", "chap nhan duoc",
                              "tam hai long", "tuong doi hai long"]),
        "h": ("Hài lòng", ["hai long"]),
        "vh": ("Rất hài lòng", ["rat hai long", "hoan toan hai long"]),
    },
    "agreement": {
        "vl": ("Hoàn toàn không đồng ý", ["hoan toan khong dong y", "rat khong dong y"]),
        "l": ("Không đồng ý", ["khong dong y"]),
        "m": ("Trung lập", ["trung lap", "phan van", "binh thuong", "khong chac chan",
                            "khong dong y cung khong phan doi"]),
        "h": ("Đồng ý", ["dong y"]),
        "vh": ("Hoàn toàn đồng ý", ["hoan toan dong y", "rat dong y"]),
    },
    "satisfaction_en": {
        "vl": ("Very dissatisfied", ["very dissatisfied", "very unsatisfied"]),
        "l": ("Dissatisfied", ["dissatisfied", "unsatisfied"]),
        "m": ("Neutral", ["neutral", "neither satisfied nor dissatisfied"]),
        "h": ("Satisfied", ["satisfied"]),
        "vh": ("Very satisfied", ["very satisfied"]),
    },
    "agreement_en": {
        "vl": ("Strongly disagree", ["strongly disagree"]),
        "l": ("Disagree", ["disagree"]),
        "m": ("Neither agree nor disagree", ["neither agree nor disagree", "neutral"]),
        "h": ("Agree", ["agree"]),
        "vh": ("Strongly agree", ["strongly agree"]),
    },
}
_FAMILY_NAMES = {"satisfaction": "satisfaction scale", "agreement": "agreement scale",
                 "satisfaction_en": "satisfaction scale (English)",
                 "agreement_en": "agreement scale (English)", "numeric": "numbers"}
_NO_OPINION = {"khong y kien", "khong co y kien", "khong biet", "khong tra loi", "khong nho",
               "khong ap dung", "khong biet khong tra loi", "kbyk", "no opinion",
               "don t know", "dont know", "do not know", "not applicable", "n a", "refused",
               "khong danh gia", "khong su dung"}
_LABEL_NUMBER = re.compile(r"^\s*(\d{1,2})\s*[.):\-=]\s*(.+)$")
_LEVELS_OF = {5: ["vl", "l", "m", "h", "vh"], 4: ["vl", "l", "h", "vh"], 3: ["l", "m", "h"]}


def _label_key(text) -> str:
    return " ".join(_tokens(fold(text)))


def _classify(text) -> tuple[str, str] | None:
    """("family", level code), ("null", "") for a no-opinion answer, or None."""
    match = _LABEL_NUMBER.match(str(text))
    key = _label_key(match.group(2) if match else text)
    if key in _NO_OPINION:
        return ("null", "")
    for family, levels in _SCALE_FAMILIES.items():
        for code, (_, variants) in levels.items():
            if key in variants:
                return (family, code)
    return None


@dataclass
class Scale:
    """A recognised answer scale: ``mapping`` label -> number (None: a missing answer),
    ``satisfied`` the levels that count as satisfied, ``why`` how it was recognised."""

    family: str
    n_levels: int
    mapping: dict = field(default_factory=dict)
    satisfied: list = field(default_factory=list)
    why: str = ""

    @property
    def signature(self) -> tuple:
        return (self.family, self.n_levels)


def _satisfied(n_levels: int, lowest: int = 1) -> list[int]:
    top = lowest + n_levels - 1
    return [top] if n_levels <= 3 else [top - 1, top]


def _numeric_levels(values) -> list[int] | None:
    numbers = pd.to_numeric(pd.Series(list(values), dtype=object), errors="coerce")
    if numbers.isna().any() or len(numbers) == 0:
        return None
    if not (numbers == numbers.round()).all():
        return None
    levels = sorted({int(v) for v in numbers})
    if levels[0] < 0 or levels[-1] > 11 or (levels[0] == 0 and levels[-1] < 4):
        return None
    return levels


def recognise_scale(answers, *, family_levels: dict | None = None) -> Scale | None:
    """The answer scale of a column's distinct answers, or None when they are not one.

    Text answers must all be labels of one family (satisfaction, agreement, in Vietnamese or
    English) or no-opinion labels ("Không ý kiến", "Không biết": a missing answer); numbers
    must be whole, 0-11. ``family_levels`` (family -> number of levels, decided on the whole
    file) says how many levels a family has; else: 5 with a middle answer, 4 with "Rất ..."
    answers and no middle, 3 with neither.

    Examples
    --------
    >>> scale = recognise_scale(["Rất hài lòng", "Hài lòng", "Bình thường", "Không ý kiến"])
    >>> scale.mapping["Rất hài lòng"], scale.mapping["Không ý kiến"], scale.satisfied
    (5, None, [4, 5])
    >>> recognise_scale(["Rất hài lòng", "Hài lòng", "Không hài lòng"]).n_levels
    4
    >>> recognise_scale([1, 2, 5, 4]).family, recognise_scale(["Nam", "Nữ"])
    ('numeric', None)
    """
    answers = [a for a in answers if not (isinstance(a, float) and pd.isna(a))]
    if not answers:
        return None
    texts = [a for a in answers if isinstance(a, str) and _numeric_levels([a]) is None]
    numbers = [a for a in answers if a not in texts]
    classes = {a: _classify(a) for a in texts}
    if any(c is None for c in classes.values()):
        return None
    families = {c[0] for c in classes.values()} - {"null"}
    if numbers:
        levels = _numeric_levels(numbers)
        if levels is None or families:
            return None
        lowest = 0 if levels[0] == 0 else 1
        n = max((family_levels or {}).get("numeric", 0), levels[-1] - lowest + 1, 3)
        mapping = {a: None for a in texts}
        return Scale("numeric", n, mapping, _satisfied(n, lowest),
                     f"numbers {lowest}–{lowest + n - 1} (the highest seen)")
    if len(families) != 1:
        return None
    family = families.pop()
    seen = {c[1] for c in classes.values() if c[0] == family}
    n = (family_levels or {}).get(family) or _levels_from(seen)
    codes = _LEVELS_OF[n]
    number = {code: i + 1 for i, code in enumerate(codes)}
    mapping = {}
    for code in codes:                        # every level, also those nobody chose
        mapping[_SCALE_FAMILIES[family][code][0]] = number[code]
    for answer in sorted(texts, key=str):
        family_code = classes[answer]
        if family_code[0] == "null":
            mapping[answer] = None
        elif family_code[1] in number:
            mapping[answer] = number[family_code[1]]
    return Scale(family, n, mapping, _satisfied(n),
                 f"the {n}-level {_FAMILY_NAMES[family]}")


def _levels_from(seen: set) -> int:
    if "m" in seen:
        return 5 if seen & {"vl", "vh"} else 3 if seen <= {"l", "m", "h"} else 5
    return 4 if seen & {"vl", "vh"} else 5


# --------------------------------------------------------------------------------------------
# Columns as the drafting sees them (from a data frame or from an XLSForm)
# --------------------------------------------------------------------------------------------

@dataclass
class Column:
    """One header and what is known of its answers.

    ``answers``: the distinct answers (values as the export holds them), at most a few dozen;
    ``labels``: answer -> its label where they differ (XLSForm choices); ``texts``: further
    wordings to match (an XLSForm label); ``kind``: "labels", "numbers", "dates", "text" or
    "unknown" (no data); ``note``: said in the comment."""

    header: str
    answers: list = field(default_factory=list)
    labels: dict = field(default_factory=dict)
    texts: list = field(default_factory=list)
    kind: str = "unknown"
    n_distinct: int = 0
    n_values: int = 0
    dates: tuple | None = None          # (first, last) Timestamp when kind == "dates"
    note: str = ""


_MAX_ANSWERS = 40


def _code(value):
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def columns_from_frame(frame: pd.DataFrame, value_labels: dict | None = None,
                       column_labels: dict | None = None) -> list[Column]:
    """What :func:`draft_codebook` knows of each column of ``frame``; ``value_labels``
    (header -> {code: label}, as SPSS and Stata files carry them) label the codes;
    ``column_labels`` (header -> question text, SPSS and Stata variable labels) are matched as
    the header's wording."""
    value_labels = value_labels or {}
    column_labels = column_labels or {}
    out = []
    for position, header in enumerate(frame.columns):
        series = frame.iloc[:, position]
        values = series.dropna()
        if values.dtype == object:
            values = values[values.astype(str).str.strip() != ""]
        distinct = values.drop_duplicates()
        column = Column(str(header), n_distinct=len(distinct), n_values=len(values))
        if column_labels.get(header):
            column.texts = [str(column_labels[header])]
        if pd.api.types.is_datetime64_any_dtype(series):
            column.kind = "dates"
        elif len(values) == 0:
            column.kind = "unknown"
        elif pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            column.kind = "numbers"
        else:
            numbers = pd.to_numeric(distinct, errors="coerce")
            column.kind = "numbers" if numbers.notna().all() else "labels"
        if column.kind in ("labels", "numbers") and len(distinct) <= _MAX_ANSWERS:
            column.answers = [v.strip() if isinstance(v, str) else v
                              for v in distinct.tolist()]
            column.answers = list(dict.fromkeys(column.answers))
        elif column.kind == "labels":
            column.kind = "text"
        labels = value_labels.get(header) or {}
        if labels and column.answers:
            codes = {_code(k): str(v) for k, v in labels.items()}
            column.answers = [_code(a) for a in column.answers]
            # every labelled code, also those nobody chose, so that the scale is complete
            column.answers += [c for c in codes if c not in column.answers]
            column.labels = {a: codes[a] for a in column.answers if a in codes}
            column.note = "value labels"
        if column.kind in ("labels", "text") and len(values):
            parsed = _parse_dates(values)
            if parsed is not None:
                column.kind, series = "dates", parsed
        if column.kind == "dates":
            dates = pd.to_datetime(series, errors="coerce").dropna()
            if len(dates):
                column.dates = (dates.min(), dates.max())
        out.append(column)
    return out


def _parse_dates(values: pd.Series):
    sample = values.astype(str).head(200)
    if not sample.str.contains(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}").all():
        return None
    iso = sample.str.match(r"\d{4}-").all()
    parsed = pd.to_datetime(values.astype(str), errors="coerce", dayfirst=not iso,
                            format="mixed")
    return parsed if parsed.notna().mean() >= 0.9 else None


# --------------------------------------------------------------------------------------------
# The YAML: a small tree of entries, each with its comment, active or commented out
# --------------------------------------------------------------------------------------------

@dataclass
class Entry:
    """A YAML mapping entry; ``children`` None for a scalar ``value``. A comment-only line has
    ``key`` None. An entry that is not ``active`` (or a mapping without an active entry) is
    written commented out."""

    key: object = None
    value: object = None
    children: list | None = None
    comment: str = ""
    active: bool = True

    def is_active(self) -> bool:
        if self.key is None or not self.active:
            return False
        if self.children is not None:
            return any(c.is_active() for c in self.children)
        return True

    def data(self):
        if self.children is None:
            return self.value
        return {c.key: c.data() for c in self.children if c.is_active()}


_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_YAML_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"}


def quote(text: str) -> str:
    """A YAML double-quoted scalar that reads back as ``text`` exactly.

    Examples
    --------
    >>> import yaml
    >>> text = 'Câu 5: "Thái độ"\\n\\x85 #1'
    >>> yaml.safe_load("key: " + quote(text))["key"] == text
    True
    """
    out = ['"']
    for ch in str(text):
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif 0xD800 <= code <= 0xDFFF:
            out.append("\\ufffd")
        elif (code < 0x20 or 0x7F <= code <= 0x9F or code in (0x2028, 0x2029, 0xFEFF)
              or code in (0xFFFE, 0xFFFF)):
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _key(key) -> str:
    text = str(key)
    if _PLAIN_KEY.fullmatch(text) and text.lower() not in _YAML_WORDS:
        return text
    return quote(text)


def _scalar(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_scalar(v) for v in value) + "]"
    if isinstance(value, _Plain) and _PLAIN_KEY.fullmatch(value) \
            and value.lower() not in _YAML_WORDS:
        return str(value)
    return quote(str(value))


class _Plain(str):
    """A contract value written unquoted (``male``), as the README's examples write them."""


def _comment_text(text: str) -> str:
    return files.printable(" ".join(str(text).split()))


_COMMENT_COLUMN = 44


def render(entries: list[Entry], indent: int = 0, commented: bool = False) -> list[str]:
    """The YAML lines of ``entries``."""
    lines = []
    for entry in entries:
        pad = "  " * indent
        if entry.key is None:
            if not entry.comment:
                lines.append("")
                continue
            for part in textwrap.wrap(_comment_text(entry.comment), 96 - len(pad),
                                      subsequent_indent="  " if entry.comment.startswith(
                                          "  - ") else "") or [""]:
                lines.append(f"{pad}# {part}")
            continue
        off = commented or not entry.is_active()
        prefix = pad + ("# " if off else "")
        text = f"{prefix}{_key(entry.key)}:"
        if entry.children is None:
            text += " " + _scalar(entry.value)
        if entry.comment:
            text = text.ljust(_COMMENT_COLUMN) + "  # " + _comment_text(entry.comment)
        lines.append(text)
        if entry.children is not None:
            lines.extend(render(entry.children, indent + 1, off))
    return lines


# --------------------------------------------------------------------------------------------
# Values: file labels -> contract values
# --------------------------------------------------------------------------------------------

_MORE_VALUE_LABELS: dict[str, dict[str, str]] = {
    "sex": {"nam gioi": "male", "nu gioi": "female", "male": "male", "female": "female",
            "nam": "male", "nu": "female"},
    "education": {"khong di hoc": "primary_or_less", "tieu hoc": "primary_or_less",
                  "chua tot nghiep tieu hoc": "primary_or_less", "cap 1": "primary_or_less",
                  "thcs": "lower_secondary", "cap 2": "lower_secondary",
                  "trung hoc co so": "lower_secondary", "thpt": "upper_secondary",
                  "cap 3": "upper_secondary", "trung hoc pho thong": "upper_secondary",
                  "trung cap": "upper_secondary", "cao dang": "tertiary",
                  "dai hoc": "tertiary", "cao dang dai hoc": "tertiary",
                  "tren dai hoc": "tertiary", "sau dai hoc": "tertiary",
                  "dai hoc tro len": "tertiary", "cao dang dai hoc tro len": "tertiary"},
    "ethnicity": {"kinh": "kinh", "khac": "other", "dan toc khac": "other"},
}
_VALUE_ROLES = ("sex", "age_group", "education", "ethnicity")


def _contract_value(role: str, label) -> tuple[str | None, str]:
    """The contract value of a label and how sure: ("male", "") or (value, "guess ...")."""
    key = _label_key(label)
    known = {_label_key(k): v for k, v in schema.VIETNAMESE_VALUE_LABELS.get(role, {}).items()}
    if key in known:
        return known[key], ""
    more = _MORE_VALUE_LABELS.get(role, {})
    if key in more:
        return more[key], "guess: a usual wording"
    if role == "age_group":
        numbers = [int(n) for n in re.findall(r"\d+", key)]
        bins = {(18, 29): "18-29", (30, 44): "30-44", (45, 59): "45-59"}
        if len(numbers) == 2 and tuple(numbers) in bins:
            return bins[tuple(numbers)], "guess: the same ages"
        if numbers and numbers[-1] >= 60 and ("tren" in key or "tro len" in key
                                               or str(label).strip().endswith("+")):
            return "60+", "guess: the same ages"
    if role == "ethnicity" and key and _classify(label) is None:
        return "other", "guess: a people other than Kinh"
    return None, ""


# --------------------------------------------------------------------------------------------
# Assembling the draft
# --------------------------------------------------------------------------------------------

def _assign(columns: list[Column]) -> dict[int, tuple[Match, list[Match]]]:
    """Column position -> (its match, the alternatives), each target used by one column."""
    candidates = []
    for position, column in enumerate(columns):
        matches = match_header(column.header, texts=column.texts)
        scale_like = (column.kind == "unknown" or (column.kind == "numbers" and not column.answers)
                      or (column.kind in ("labels", "numbers")
                          and recognise_scale(column_answers(column)) is not None))
        adjusted = []
        for match in matches:
            if match.target.is_rating and not scale_like:
                match = Match(match.target, round(match.score * 0.78, 3),
                              match.why + "; but its answers are not a rating scale")
            if match.target.section == "columns" and match.target.name in (
                    "date", "start", "end") and column.kind not in ("dates", "unknown",
                                                                     "text", "labels"):
                match = Match(match.target, round(match.score * 0.78, 3),
                              match.why + "; but its values are not dates")
            if match.score >= POSSIBLE:
                adjusted.append(match)
        adjusted.sort(key=lambda m: -m.score)
        for match in adjusted:
            candidates.append((match.score, -position, position, match, adjusted))
    candidates.sort(key=lambda c: (-c[0], -c[1]))
    taken_targets, assigned = set(), {}
    for _, _, position, match, alternatives in candidates:
        if position in assigned or match.target in taken_targets:
            continue
        runner_up = [m for m in alternatives if m.target != match.target
                     and m.target not in taken_targets]
        if (match.score < 0.99 and runner_up
                and runner_up[0].score >= match.score - _AMBIGUOUS):
            match = Match(match.target, min(match.score, LIKELY - 0.01),
                          match.why + f"; could also be {runner_up[0].target}")
        assigned[position] = (match, runner_up[:2])
        if match.confidence in ("exact", "likely"):
            taken_targets.add(match.target)
    # A file whose date column is headed otherwise ("Thời gian"): the one unmatched column
    # whose values are dates is the survey date, said as a guess.
    date = Target("columns", "date")
    if date not in {m.target for m, _ in assigned.values()}:
        dated = [p for p, c in enumerate(columns) if c.kind == "dates" and p not in assigned]
        if len(dated) == 1:
            assigned[dated[0]] = (Match(date, LIKELY, "its values are dates (the header does "
                                        "not say so: check it is the survey date)"), [])
    return assigned


def column_answers(column: Column) -> list:
    """The answers to recognise a scale from: the labels where known (XLSForm), else the
    answers themselves."""
    if column.labels:
        return [column.labels.get(a, a) for a in column.answers]
    return list(column.answers)


def _column_scale(column: Column, family_levels: dict) -> Scale | None:
    answers = column_answers(column)
    scale = recognise_scale(answers, family_levels=family_levels)
    if scale is None or not column.labels:
        return scale
    # an export holds the choice names: each name gets its label's number, and the label too
    mapping = dict(scale.mapping)
    for name, label in column.labels.items():
        number = scale.mapping.get(label, _number_of(scale, label))
        if scale.family == "numeric":
            numeric = _numeric_levels([name])
            number = numeric[0] if numeric else None
        if str(name) not in mapping:
            mapping[str(name)] = number
        if str(label) not in mapping:
            mapping[str(label)] = number
    scale.mapping = mapping
    return scale


def _number_of(scale: Scale, label):
    key = _label_key(_LABEL_NUMBER.sub(r"\2", str(label)))
    for text, number in scale.mapping.items():
        if _label_key(text) == key:
            return number
    return None


def _family_levels(columns: list[Column]) -> dict:
    """family -> number of levels, from the answers of every column of that family together
    (a 5-level survey in which nobody chose the middle of one question is still 5-level)."""
    seen: dict[str, set] = {}
    highest = 0
    for column in columns:
        scale = recognise_scale(column_answers(column))
        if scale is None:
            continue
        if scale.family == "numeric":
            levels = _numeric_levels([a for a in column_answers(column)
                                      if _classify(a) is None]) or []
            if levels:
                highest = max(highest, levels[-1] - (0 if levels[0] == 0 else 1) + 1)
            continue
        for answer in column_answers(column):
            family_code = _classify(answer)
            if family_code and family_code[0] == scale.family:
                seen.setdefault(scale.family, set()).add(family_code[1])
    out = {family: _levels_from(codes) for family, codes in seen.items()}
    if highest:
        out["numeric"] = max(highest, 3)
    return out


def _confidence_comment(match: Match) -> str:
    sure = {"exact": "sure", "likely": "likely", "possible": "possible"}[match.confidence]
    return f"{sure} ({match.score:.2f}): {match.why}"


def _slug(header: str) -> str:
    words = header_texts(header)
    slug = "_".join(words[-1] if words else ["column"])[:40].strip("_")
    return slug if slug and not slug[0].isdigit() else f"q_{slug}"


def assemble(columns: list[Column], *, file_options: dict, notes=(), title: str = "",
             heading: list[str] = (), defaults: dict | None = None) -> str:
    """The codebook YAML for ``columns``: the shared back end of :func:`draft_codebook` and
    :func:`.xlsform.from_xlsform`. ``defaults`` maps contract columns to headers the source
    is known to have though ``columns`` do not list them (a Kobo export's ``_uuid``)."""
    assigned = _assign(columns)
    # the number of levels from the rating columns only (an index 1..10 is not a scale)
    family_levels = _family_levels([c for i, c in enumerate(columns)
                                    if i in assigned and assigned[i][0].target.is_rating
                                    or i not in assigned and c.kind == "labels"])
    by_target: dict[Target, tuple[int, Match]] = {}
    possible: list[tuple[int, Match]] = []
    for position, (match, _) in sorted(assigned.items()):
        if match.confidence in ("exact", "likely"):
            by_target[match.target] = (position, match)
        else:
            possible.append((position, match))
    scales = {i: _column_scale(c, family_levels) for i, c in enumerate(columns)}

    out: list[Entry] = []
    for line in heading:
        out.append(Entry(comment=line))
    out.append(Entry(comment="Drafted from " + title + ". Every comment marks what was found or "
                     "guessed: check each line against the questionnaire, fix it, then delete "
                     "the comment. A line written as a comment (# key: ...) is a weak guess or "
                     "a value to fill in; remove the '# ' to use it."))
    for note in notes:
        out.append(Entry(comment="reading: " + str(note)))
    out.append(Entry())

    out.append(_file_section(file_options))
    out.append(Entry())

    # ---- columns
    column_entries = []
    for name in _COLUMN_WORDS:
        target = Target("columns", name)
        if target in by_target:
            position, match = by_target[target]
            comment = _confidence_comment(match) + _column_fact(name, columns[position])
            column_entries.append(Entry(name, columns[position].header, comment=comment))
        elif defaults and name in defaults:
            header, why = defaults[name]
            column_entries.append(Entry(name, header, comment=f"guess: {why}"))
    for position, match in possible:
        if match.target.section == "columns":
            column_entries.append(Entry(match.target.name, columns[position].header,
                                        comment=_confidence_comment(match), active=False))
    constants = _constants_section(columns, by_target, notes, title,
                                   dated=bool(defaults and "date" in defaults))
    out.append(constants)
    out.append(Entry())
    out.append(Entry("columns", children=column_entries or [
        Entry(comment="no header matched a contract column: name them here")]))
    if not any(e.is_active() for e in column_entries):
        out[-1].children.insert(0, Entry(comment="no header matched a contract column"))
    out.append(Entry())

    # ---- scales
    rating_positions = [(t, p) for t, (p, _) in by_target.items() if t.is_rating]
    main = _main_scale([scales[p] for _, p in rating_positions if scales.get(p)])
    out.extend(_scale_section(main, [scales[p] for _, p in rating_positions if scales.get(p)]))
    per_criterion = []
    for target, position in rating_positions:
        scale = scales.get(position)
        if scale is None or main is None or target.section == "extra":
            continue
        if scale.signature != main.signature or _conflicts(scale.mapping, main.mapping):
            key = target.name if target.section == "ratings" else "overall_satisfaction"
            per_criterion.append(Entry(key, children=_mapping_entries(scale.mapping),
                                       comment=f"its answers are {scale.why}, unlike the "
                                               f"main scale"))
    if per_criterion:
        out.append(Entry("scales", children=per_criterion))
    out.append(Entry())

    # ---- ratings and overall
    factors = []
    for factor, criteria in schema.FACTORS.items():
        entries = []
        for criterion in criteria:
            target = Target("ratings", criterion)
            if target in by_target:
                position, match = by_target[target]
                entries.append(Entry(criterion, columns[position].header,
                                     comment=_confidence_comment(match)
                                     + _scale_fact(scales.get(position), main)))
        for position, match in possible:
            if match.target.section == "ratings" and _FACTOR_OF[match.target.name] == factor:
                entries.append(Entry(match.target.name, columns[position].header,
                                     comment=_confidence_comment(match), active=False))
        if entries:
            factors.append(Entry(factor, children=entries))
    out.append(Entry(comment="factor -> criterion -> the file's header (the contract's 22 "
                             "criteria; own names and fewer are allowed)"))
    out.append(Entry("ratings", children=factors or [
        Entry(comment="no header matched a SIPAS criterion: name the rating columns here, "
                      "e.g. staff: {staff_polite: \"Câu 5: ...\"}")]))
    reverse = _reverse_guesses(columns, by_target, scales)
    if reverse:
        out.append(Entry("reverse", reverse, active=False,
                         comment="guess: asked as agreement with a negative statement "
                                 "(agreeing is worse); uncomment if so"))
    overall = Target("overall", "overall")
    if overall in by_target:
        position, match = by_target[overall]
        out.append(Entry("overall", columns[position].header,
                         comment=_confidence_comment(match)))
    else:
        for position, match in possible:
            if match.target == overall:
                out.append(Entry("overall", columns[position].header,
                                 comment=_confidence_comment(match), active=False))
                break
        else:
            out.append(Entry(comment="overall: no overall-satisfaction question found"))
    out.append(Entry())

    # ---- values
    value_entries = []
    for role in _VALUE_ROLES:
        target = Target("columns", role)
        if target in by_target:
            entry = _values_entry(role, columns[by_target[target][0]])
            if entry is not None:
                value_entries.append(entry)
    for role in ("unit", "unit_type", "staff", "interviewer"):
        # a select_one of units (an XLSForm): the export holds choice names, the reports
        # should show the choices' labels
        target = Target("columns", role)
        if target in by_target:
            column = columns[by_target[target][0]]
            names = {a: lab for a, lab in column.labels.items() if str(a) != str(lab)}
            if names:
                value_entries.append(Entry(role, children=[
                    Entry(str(a), str(lab), comment="the choice's label") for a, lab in
                    names.items()]))
    if value_entries:
        out.append(Entry(comment="file label -> contract value (the contract's own list of "
                                 "labels, or a 'guess')"))
        out.append(Entry("values", children=value_entries))
        out.append(Entry())

    # ---- design
    design_entries = []
    for role in _DESIGN_WORDS:
        target = Target("design", role)
        if target in by_target:
            position, match = by_target[target]
            design_entries.append(Entry(role, columns[position].header,
                                        comment=_confidence_comment(match)))
        else:
            said = {"weights": "no weight column: equal weights",
                    "strata": "no stratum column: one stratum",
                    "psu": "no cluster column: respondents sampled one by one"}[role]
            design_entries.append(Entry(role, None, comment=said))
    for position, match in possible:
        if match.target.section == "design":
            design_entries.append(Entry(match.target.name, columns[position].header,
                                        comment=_confidence_comment(match), active=False))
    out.append(Entry("design", children=design_entries,
                     comment="all null: simple random sampling within each unit"
                     if all(e.value is None for e in design_entries if e.active) else ""))
    out.append(Entry())

    # ---- extra
    extra_entries = []
    used = {p for p, _ in by_target.values()}
    for target, (position, match) in by_target.items():
        if target.section == "extra":
            extra_entries.append(Entry(target.name, columns[position].header,
                                       comment=_confidence_comment(match)
                                       + _scale_fact(scales.get(position), main)))
    possible_positions = {p for p, _ in possible}
    for position, column in enumerate(columns):
        if position in used or position in possible_positions:
            continue
        scale = scales.get(position)
        if scale is not None and column.kind == "labels" and main is not None \
                and scale.family == main.family:
            extra_entries.append(Entry(_slug(column.header), column.header, active=False,
                                       comment=f"unmatched, answers on {scale.why}: a rating "
                                               "to keep? uncomment (or move under ratings)"))
    if extra_entries:
        out.append(Entry(comment="extra ratings kept under their own names"))
        out.append(Entry("extra", children=extra_entries))
        out.append(Entry())

    # ---- unmatched
    out.extend(_unmatched_block(columns, used, possible, assigned))
    return "\n".join(render(out)).rstrip() + "\n"


def _file_section(file_options: dict) -> Entry:
    entries = []
    why = {"sheet": "the sheet read", "header_row": "1-based, as Excel numbers rows",
           "separator": "found in the file", "encoding": "found in the file"}
    for key in ("sheet", "header_row", "separator", "encoding"):
        if key in file_options and file_options[key] is not None:
            value = file_options[key]
            comment = file_options.get(f"{key}_why", why[key])
            entries.append(Entry(key, value if not isinstance(value, float) else int(value),
                                 comment=comment))
    if not entries:
        entries = [Entry("header_row", "auto", comment="found below any title rows")]
    return Entry("file", children=entries, comment="how the file is read")


def _column_fact(name: str, column: Column) -> str:
    if name == "respondent_id" and column.n_values:
        if column.n_distinct == column.n_values:
            return f"; {column.n_values:,} values, all different"
        return (f"; {column.n_values - column.n_distinct:,} repeated value(s): check for "
                "duplicate interviews")
    if name in ("date", "start", "end") and column.dates:
        first, last = column.dates
        return f"; dates {first:%Y-%m-%d} to {last:%Y-%m-%d}"
    if name == "age_group" and column.kind == "numbers":
        return "; its values are ages in years, not groups: check that this is wanted"
    return ""


def _scale_fact(scale: Scale | None, main: Scale | None) -> str:
    if scale is None:
        return ""
    return "" if main is not None and scale.signature == main.signature else \
        f"; answers: {scale.why}"


def _main_scale(scales: list[Scale]) -> Scale | None:
    if not scales:
        return None
    order = list(_FAMILY_NAMES)
    counts = Counter(s.signature for s in scales)
    signature = min(counts, key=lambda s: (-counts[s], order.index(s[0])))
    chosen = [s for s in scales if s.signature == signature]
    merged = Scale(signature[0], signature[1], {}, chosen[0].satisfied, chosen[0].why)
    for scale in chosen:
        for label, number in scale.mapping.items():
            if not _conflicts({label: number}, merged.mapping):
                merged.mapping.setdefault(label, number)
    return merged


def _conflicts(mapping: dict, main: dict) -> bool:
    main_keys = {_label_key(k): v for k, v in main.items()}
    return any(_label_key(k) in main_keys and main_keys[_label_key(k)] != v
               for k, v in mapping.items())


_CANONICAL = {unicodedata.normalize("NFC", label).casefold(): label
              for levels in _SCALE_FAMILIES.values() for label, _ in levels.values()}


def _spelling(label) -> str:
    match = _LABEL_NUMBER.match(str(label))
    text = match.group(2) if match else str(label)
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


def _mapping_entries(mapping: dict) -> list[Entry]:
    # A label that reads like a standard one only once its tone marks are ignored ("Rất hai
    # long" beside "Rất hài lòng") is most likely a typing slip: it is left commented, so that
    # validation reports its rows instead of the draft silently counting it.
    canonical_keys = {_label_key(label) for label in mapping
                      if _spelling(label) in _CANONICAL}
    entries, seen = [], set()
    for label, number in mapping.items():
        key = unicodedata.normalize("NFC", str(label)).strip().casefold()
        if key in seen:                 # the codebook matches any case and Unicode form
            continue
        seen.add(key)
        slip = (not str(label).isascii() and _spelling(label) not in _CANONICAL
                and _label_key(label) in canonical_keys)
        if slip:
            usual = next(_CANONICAL[_spelling(other)] for other in mapping
                         if _spelling(other) in _CANONICAL
                         and _label_key(other) == _label_key(label))
            entries.append(Entry(str(label), number, active=False,
                                 comment=f"spelled unlike {usual!r}: a typo in the file? fix "
                                         "the file, or remove the '# ' to count it"))
            continue
        entries.append(Entry(str(label), number,
                             comment="no opinion: a missing answer" if number is None else ""))
    return entries


def _scale_section(main: Scale | None, scales: list[Scale]) -> list[Entry]:
    if main is None:
        return [Entry(comment="scale: no rating column with a recognised answer scale; write "
                              "the file's labels -> numbers here, e.g. "
                              "{\"Rất không hài lòng\": 1, ..., \"Rất hài lòng\": 5}"),
                Entry("satisfied", [4, 5], active=False,
                      comment="fill in: the levels that count as satisfied")]
    share = sum(s.signature == main.signature for s in scales)
    how = (f"found: {main.why}, in {share} of the {len(scales)} rating columns")
    out = []
    if main.family == "numeric":
        out.append(Entry(comment=f"the ratings are {main.why} already: no scale needed"))
        nulls = {k: v for k, v in main.mapping.items() if v is None}
        if nulls:
            out.append(Entry("scale", children=_mapping_entries(nulls), comment=how))
    else:
        if main.n_levels != 5 or main.family != "satisfaction":
            how += "; check the number of levels against the questionnaire"
        out.append(Entry("scale", children=_mapping_entries(main.mapping), comment=how))
    levels = ", ".join(str(v) for v in main.satisfied)
    out.append(Entry("satisfied", list(main.satisfied),
                     comment=f"guess: the top {'two' if len(main.satisfied) == 2 else 'one'} "
                             f"of {main.n_levels} levels ({levels})"))
    return out


def _reverse_guesses(columns, by_target, scales) -> list[str]:
    out = []
    target = Target("ratings", "staff_no_harassment")
    if target in by_target:
        position, _ = by_target[target]
        scale = scales.get(position)
        words = [w for t in header_texts(columns[position].header) for w in t]
        if scale is not None and scale.family.startswith("agreement") and "khong" not in words:
            out.append(target.name)
    return out


def _values_entry(role: str, column: Column) -> Entry | None:
    if not column.answers or (column.kind not in ("labels", "unknown") and not column.labels):
        return None
    allowed = ", ".join(schema.CATEGORIES.get(role, ()))
    children = []
    for answer in column.answers:
        label = column.labels.get(answer, answer)
        for text in dict.fromkeys([str(answer), str(label)]):
            value, how = _contract_value(role, label)
            if value is None:
                children.append(Entry(text, _Plain("?"), active=False,
                                      comment=f"not recognised: write one of {allowed}"))
            else:
                children.append(Entry(text, _Plain(value), comment=how))
    return Entry(role, children=children)


_YEAR = re.compile(r"(?<!\d)(20[1-4]\d)(?!\d)")


def _constants_section(columns, by_target, notes, title, dated: bool = False) -> Entry:
    entries = []
    date = by_target.get(Target("columns", "date"))
    has_year = Target("columns", "year") in by_target
    dates = columns[date[0]].dates if date else None
    if has_year:
        entries.append(Entry("year", 2024, active=False,
                             comment="not needed: the file has a year column"))
    elif dates:
        first, last = dates
        if first.year == last.year:
            entries.append(Entry("year", int(first.year), active=False,
                                 comment=f"guess: every date is in {first.year}; the dates give "
                                         "each row's year, so only needed to override them"))
        else:
            entries.append(Entry("year", int(last.year), active=False,
                                 comment=f"the dates span {first.year}-{last.year}: each row "
                                         "gets the year of its date"))
    elif dated or date:
        entries.append(Entry("year", 2024, active=False,
                             comment="not needed: each row gets the year of its date"))
    else:
        years = sorted(set(_YEAR.findall(" ".join(map(str, notes)) + " " + title)))
        if len(years) == 1:
            entries.append(Entry("year", int(years[0]), active=False,
                                 comment=f"fill in: the file has no date or year column; "
                                         f"{years[0]} is named in its title or notes"))
        else:
            entries.append(Entry("year", 2024, active=False,
                                 comment="fill in: the file has no date or year column and an "
                                         "index needs the survey year"))
    if Target("columns", "province") not in by_target:
        guess = _province_in(" ".join(map(str, notes)) + " " + title)
        if guess:
            entries.append(Entry("province", guess, active=False,
                                 comment="guess: named in the file's title rows; the file "
                                         "has no province column"))
        else:
            entries.append(Entry("province", "", active=False,
                                 comment="fill in: the file has no province column; the "
                                         "province its units belong to (e.g. \"Thái Nguyên\")"))
    return Entry("constants", children=entries, comment="whole-file values")


def _province_in(text: str) -> str | None:
    words = " " + " ".join(_tokens(fold(text))) + " "
    if words.strip() == "":
        return None
    found = []
    for unit_set in ("63", "34"):
        for name in reference.provinces(unit_set)["name_vi"]:
            key = " " + " ".join(_tokens(fold(name))) + " "
            if key in words and name not in found:
                found.append(name)
    found = [n for n in found if not any(n != m and fold(n) in fold(m) for m in found)]
    return found[0] if len(found) == 1 else None


def _unmatched_block(columns, used, possible, assigned) -> list[Entry]:
    possible_positions = {p: m for p, m in possible}
    lines = []
    for position, column in enumerate(columns):
        if position in used:
            continue
        header = column.header
        if position in possible_positions:
            match = possible_positions[position]
            lines.append(f"{quote(header)}: possibly {match.target} "
                         f"(written commented out above)")
        elif fold(header).strip() in KOBO_METADATA:
            lines.append(f"{quote(header)}: KoboToolbox/ODK metadata")
        else:
            lines.append(quote(header) + (f" ({column.note})" if column.note else ""))
    if not lines:
        return [Entry(comment="every header is matched above")]
    return ([Entry(comment=f"{len(lines)} header(s) not matched: not read by the codebook. "
                           "Map any that matter above:")]
            + [Entry(comment="  - " + line) for line in lines])


# --------------------------------------------------------------------------------------------
# The public entry point
# --------------------------------------------------------------------------------------------

def draft_codebook(frame: pd.DataFrame, *, file_options: dict, notes=(),
                   source: str = "the file", value_labels: dict | None = None,
                   column_labels: dict | None = None) -> str:
    """A draft codebook (YAML text) for a survey table whose header row has been found.

    ``frame``: the table with the file's headers as columns; ``file_options``: how it was
    read (``sheet``, ``header_row`` 1-based, ``separator``, ``encoding``; ``KEY_why`` gives the
    comment of a key); ``notes``: what the reader noticed (title rows, a legacy encoding), each
    written as a comment; ``source``: the file's name, for the first comment;
    ``value_labels``: header -> {code: label} (SPSS, Stata): a scale is then recognised from
    the labels, and both codes and labels are mapped; ``column_labels``: header -> question
    text (SPSS, Stata variable labels), matched as the header's wording.

    Examples
    --------
    >>> import pandas as pd, yaml
    >>> frame = pd.DataFrame({"Mã phiếu": ["P1", "P2"], "Giới tính": ["Nam", "Nữ"],
    ...                       "Câu 7: Công chức lắng nghe": ["Hài lòng", "Rất hài lòng"],
    ...                       "Câu 8: Bình thường?": ["Bình thường", "Hài lòng"]})
    >>> book = yaml.safe_load(draft_codebook(frame, file_options={"header_row": 1}))
    >>> book["columns"], book["ratings"], book["scale"]["Bình thường"], book["satisfied"]
    ({'respondent_id': 'Mã phiếu', 'sex': 'Giới tính'}, {'staff': {'staff_listening': 'Câu 7: Công chức lắng nghe'}}, 3, [4, 5])
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"draft_codebook expects a pandas DataFrame, got {type(frame).__name__}")
    columns = columns_from_frame(frame, value_labels, column_labels)
    return assemble(columns, file_options=file_options, notes=notes,
                    title=f"{source} ({len(frame):,} rows, {len(columns)} columns)")


# --------------------------------------------------------------------------------------------
# A plain reading of a file, for when sipas_analysis.readers is not installed
# --------------------------------------------------------------------------------------------

_EXCEL = (".xlsx", ".xlsm", ".xls", ".ods")
_TITLE_SCAN = 30


def read_plain(path, *, sheet=None, header_row="auto") -> tuple[pd.DataFrame, dict, list]:
    """(frame, file options, notes) of a survey file read with pandas alone: Excel or CSV with
    the header found below title rows (the first of the top rows filled in at least 60 % as
    much as the fullest; rows above it are title rows), CSV separator and encoding found
    among the usual ones; SPSS, Stata and Parquet as pandas reads them. Raises ValueError
    naming the file when it cannot be read. The full reader is :mod:`sipas_analysis.readers`;
    this is the fallback the ``sipas codebook draft`` command uses without it."""
    from pathlib import Path
    path = Path(path)
    suffix = path.suffix.lower()
    options: dict = {}
    try:
        if suffix in (".sav", ".zsav"):
            return pd.read_spss(path), {}, []
        if suffix == ".dta":
            return pd.read_stata(path), {}, []
        if suffix == ".parquet":
            return pd.read_parquet(path), {}, []
        if suffix in _EXCEL:
            engine = "openpyxl" if suffix in (".xlsx", ".xlsm") else None
            grid = pd.read_excel(path, sheet_name=0 if sheet is None else sheet, header=None,
                                 dtype=object, engine=engine)
            options["sheet"] = 0 if sheet is None else sheet
        else:
            text, encoding = _decode(path.read_bytes())
            separator = _separator(text)
            import io as _io
            grid = pd.read_csv(_io.StringIO(text), sep=separator, header=None, dtype=str,
                               keep_default_na=False, skip_blank_lines=False,
                               engine="python")
            grid = grid.replace("", None)
            options.update(separator=separator, encoding=encoding)
    except Exception as error:   # noqa: BLE001 - any failure to read is the file's problem
        raise ValueError(f"{files.printable(path)}: cannot read: "
                         f"{files.short_repr(str(error), 300)}") from None
    notes = []
    if header_row == "auto":
        index = _find_header(grid)
        if index > 0:
            titles = [" ".join(str(v) for v in grid.iloc[i].dropna().tolist())
                      for i in range(index)]
            titles = [t for t in titles if t.strip()]
            notes.append(f"rows 1-{index} above the header are title rows"
                         + (": " + "; ".join(files.short_repr(t, 100) for t in titles)
                            if titles else ""))
            options["header_row_why"] = f"found: rows 1-{index} above it are title rows"
        else:
            options["header_row_why"] = "found: the first row"
    else:
        index = int(header_row) - 1
        if index >= len(grid):
            raise ValueError(f"{files.printable(path)}: --header-row {header_row}, but the "
                             f"sheet has {len(grid)} rows")
        options["header_row_why"] = "as given"
    options["header_row"] = index + 1
    names = [str(v).strip() if v is not None and not (isinstance(v, float) and pd.isna(v))
             else f"Unnamed: {i}" for i, v in enumerate(grid.iloc[index].tolist())]
    frame = grid.iloc[index + 1:].copy()
    frame.columns = names
    frame = frame.dropna(how="all").reset_index(drop=True)
    return frame, options, notes


def _decode(data: bytes) -> tuple[str, str]:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8"), "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), "utf-16"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("cp1258", errors="replace"), "cp1258"


def _separator(text: str) -> str:
    lines = [line for line in text.splitlines()[:50] if line.strip()]
    counts = {sep: sorted(line.count(sep) for line in lines) for sep in (";", ",", "\t", "|")}
    # the separator: most often in the middle line (title rows hold few)
    return max(counts, key=lambda sep: (counts[sep][len(lines) // 2] if lines else 0))


def _find_header(grid: pd.DataFrame) -> int:
    top = grid.head(_TITLE_SCAN)
    filled = top.notna().sum(axis=1).to_numpy()
    if len(filled) == 0:
        return 0
    fullest = filled.max()
    for index, count in enumerate(filled):
        if count >= max(2, 0.6 * fullest):
            return index
    return 0
