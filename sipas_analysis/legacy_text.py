"""Vietnamese text typed in the legacy font encodings TCVN3 (ABC, ".VnTime" fonts) and VNI
("VNI-Times" fonts), and its conversion to Unicode.

Before Unicode, offices typed Vietnamese with 8-bit fonts: the bytes are those of Windows-1252,
the font draws them as Vietnamese letters. Opened without the font, or saved by Excel as Unicode,
the text shows as Latin-1 symbols: TCVN3 "Rất hài lòng" is stored as ``"RÊt hµi lßng"``, VNI as
``"Raát haøi loøng"``. A legacy text is handled here as the characters Windows-1252 gives its
bytes (bytes it leaves undefined, 0x81 0x8D 0x8F 0x90 0x9D, as U+0081 ...).

TCVN3 is TCVN 5712:1993 (as glibc's ``TCVN5712-1`` table): one byte per letter, lower case in
0xA1-0xFF, the upper-case toned letters in 0x80-0x9F, and Ú Ụ Ừ Ử Ữ Ứ Ự Ý Ỳ Ỷ Ỹ Ỵ in control
positions (0x01-0x17). VNI writes a base letter followed by a mark byte (``"aù"`` = á,
``"oâ"`` = ô), with single bytes for ơ ư đ and the toned i's.

Examples
--------
>>> to_unicode("RÊt hµi lßng", "TCVN3")
'Rất hài lòng'
>>> to_unicode("Raát haøi loøng", "VNI")
'Rất hài lòng'
>>> from_unicode("Thái Nguyên", "VNI")
'Thaùi Nguyeân'
>>> detect_legacy(["RÊt hµi lßng", "Kh«ng hµi lßng", "B×nh th­êng"]).encoding
'TCVN3'
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["ENCODINGS", "TCVN3", "VNI", "LegacyDetection", "detect_legacy", "from_unicode",
           "is_vietnamese_word", "representable", "to_unicode", "vietnamese_letters"]

ENCODINGS = ("TCVN3", "VNI")

# Rows: a vowel, then its five toned forms in the order sắc (acute), huyền (grave), hỏi (hook),
# ngã (tilde), nặng (dot below).
_TONES = ("\u0301", "\u0300", "\u0309", "\u0303", "\u0323")
_VOWELS = "aăâeêioôơuưy"

# TCVN 5712:1993 byte of each letter; the plain ASCII vowels are themselves.
_TCVN3_ROWS = {
    "a": "61 B8 B5 B6 B7 B9", "ă": "A8 BE BB BC BD C6", "â": "A9 CA C7 C8 C9 CB",
    "e": "65 D0 CC CE CF D1", "ê": "AA D5 D2 D3 D4 D6", "i": "69 DD D7 D8 DC DE",
    "o": "6F E3 DF E1 E2 E4", "ô": "AB E8 E5 E6 E7 E9", "ơ": "AC ED EA EB EC EE",
    "u": "75 F3 EF F1 F2 F4", "ư": "AD F8 F5 F6 F7 F9", "y": "79 FD FA FB FC FE",
    "A": "41 83 80 81 82 84", "Ă": "A1 C0 AF BA BF 85", "Â": "A2 C4 C1 C2 C3 86",
    "E": "45 8A 87 88 89 8B", "Ê": "A3 DA C5 CD D9 8C", "I": "49 90 8D 8E 8F 91",
    "O": "4F 95 92 93 94 96", "Ô": "A4 FF DB E0 F0 97", "Ơ": "A5 9B 98 99 9A 9C",
    "U": "55 01 9D 9E 9F 02", "Ư": "A6 11 04 05 06 12", "Y": "59 16 13 14 15 17",
}
_TCVN3_OTHER = {"đ": 0xAE, "Đ": 0xA7}

# VNI: the letters as they are typed (base letter and mark bytes, as Windows-1252 shows them).
_VNI_ROWS = {
    "a": "a aù aø aû aõ aï", "ă": "aê aé aè aú aü aë", "â": "aâ aá aà aå aã aä",
    "e": "e eù eø eû eõ eï", "ê": "eâ eá eà eå eã eä", "i": "i í ì æ ó ò",
    "o": "o où oø oû oõ oï", "ô": "oâ oá oà oå oã oä", "ơ": "ô ôù ôø ôû ôõ ôï",
    "u": "u uù uø uû uõ uï", "ư": "ö öù öø öû öõ öï", "y": "y yù yø yû yõ î",
    "A": "A AÙ AØ AÛ AÕ AÏ", "Ă": "AÊ AÉ AÈ AÚ AÜ AË", "Â": "AÂ AÁ AÀ AÅ AÃ AÄ",
    "E": "E EÙ EØ EÛ EÕ EÏ", "Ê": "EÂ EÁ EÀ EÅ EÃ EÄ", "I": "I Í Ì Æ Ó Ò",
    "O": "O OÙ OØ OÛ OÕ OÏ", "Ô": "OÂ OÁ OÀ OÅ OÃ OÄ", "Ơ": "Ô ÔÙ ÔØ ÔÛ ÔÕ ÔÏ",
    "U": "U UÙ UØ UÛ UÕ UÏ", "Ư": "Ö ÖÙ ÖØ ÖÛ ÖÕ ÖÏ", "Y": "Y YÙ YØ YÛ YÕ Î",
}
_VNI_OTHER = {"đ": "ñ", "Đ": "Ñ"}


def _byte_char(code: int) -> str:
    """The character Windows-1252 gives a byte (Latin-1's for the five bytes it leaves out)."""
    try:
        return bytes([code]).decode("cp1252")
    except UnicodeDecodeError:
        return chr(code)


def _toned(vowel: str) -> list[str]:
    return [vowel] + [unicodedata.normalize("NFC", vowel + tone) for tone in _TONES]


def vietnamese_letters() -> list[str]:
    """Every Vietnamese letter that carries a mark: the 12 vowels with each of the six tones
    (the plain a e i o u y included), and đ, in lower then upper case (146 letters).

    >>> len(vietnamese_letters()), vietnamese_letters()[:3]
    (146, ['a', 'á', 'à'])
    """
    lower = [letter for vowel in _VOWELS for letter in _toned(vowel)] + ["đ"]
    return lower + [letter.upper() for letter in lower]


def _table(rows: dict[str, str], other: dict, decode_byte) -> dict[str, str]:
    table = {}
    for vowel, codes in rows.items():
        for letter, code in zip(_toned(vowel), codes.split(), strict=True):
            table[letter] = decode_byte(code)
    for letter, code in other.items():
        table[letter] = decode_byte(code)
    return table


#: Unicode letter -> its TCVN3 character (as Windows-1252 shows the byte).
TCVN3: dict[str, str] = _table(_TCVN3_ROWS, _TCVN3_OTHER,
                               lambda c: _byte_char(c if isinstance(c, int) else int(c, 16)))
#: Unicode letter -> its VNI characters (base letter, then the mark, as Windows-1252 shows it).
VNI: dict[str, str] = _table(_VNI_ROWS, _VNI_OTHER, lambda c: c)


def _as_latin1(char: str) -> str:
    """The C1 control (U+0080-U+009F) that Latin-1 gives the byte Windows-1252 shows as
    ``char`` (€ -> U+0080); other characters unchanged."""
    try:
        code = char.encode("cp1252")[0]
    except UnicodeEncodeError:
        return char
    return chr(code) if 0x80 <= code <= 0x9F else char


def _decoder(table: dict[str, str]) -> tuple[re.Pattern, dict[str, str]]:
    back = {legacy: letter for letter, legacy in table.items() if legacy != letter}
    # Bytes read as Latin-1 instead of Windows-1252 hold C1 controls where Windows-1252 has
    # € ‚ ƒ ...: both spellings decode.
    for legacy, letter in list(back.items()):
        back.setdefault("".join(map(_as_latin1, legacy)), letter)
    # Longest sequence first: VNI "oâ" (ô) before "o".
    keys = sorted(back, key=len, reverse=True)
    return re.compile("|".join(re.escape(k) for k in keys)), back


_DECODERS = {"TCVN3": _decoder(TCVN3), "VNI": _decoder(VNI)}
_ENCODERS = {"TCVN3": TCVN3, "VNI": VNI}
_TOKEN = re.compile(r"[^\s!-/:-@\[-`{-~0-9]+")   # split on ASCII spaces, digits, punctuation


def to_unicode(text: str, encoding: str) -> str:
    """``text`` read as ``encoding`` ("TCVN3" or "VNI") and written in Unicode (NFC).

    TCVN3 upper-case text was typed with the ".VnTimeH" fonts, which draw the lower-case codes
    as capitals: a word whose other letters are capitals is put in capitals
    (``"TH¸I"`` -> ``"THÁI"``).

    >>> to_unicode("§Êt ®ai", "TCVN3"), to_unicode("Ñaát ñai", "VNI")
    ('Đất đai', 'Đất đai')
    >>> to_unicode("UBND TØNH TH¸I NGUY£N", "TCVN3")
    'UBND TỈNH THÁI NGUYÊN'
    """
    pattern, back = _DECODERS[_check_encoding(encoding)]
    out = pattern.sub(lambda m: back[m.group(0)], text)
    if encoding == "TCVN3":
        out = _TOKEN.sub(_capitals, out)
    return unicodedata.normalize("NFC", out)


def _capitals(match: re.Match) -> str:
    word = match.group(0)
    if any(c.isupper() for c in word[1:]) and not any(c.islower() and c.isascii() for c in word):
        return word.upper()
    return word


def from_unicode(text: str, encoding: str) -> str:
    """Unicode text as it would be typed in ``encoding`` ("TCVN3" or "VNI"); characters the
    encoding has no code for are left as they are.

    >>> from_unicode("Rất hài lòng", "TCVN3")
    'RÊt hµi lßng'
    """
    table = _ENCODERS[_check_encoding(encoding)]
    return "".join(table.get(char, char) for char in unicodedata.normalize("NFC", text))


def _check_encoding(encoding: str) -> str:
    if encoding not in _ENCODERS:
        raise ValueError(f"unknown legacy encoding {encoding!r}; known: {', '.join(ENCODINGS)}")
    return encoding


def representable(text: str) -> bool:
    """Whether ``text`` could be legacy text: every character is one Windows-1252 gives a byte
    (a text holding ạ, ư or đ as Unicode letters is Unicode)."""
    for char in text:
        if ord(char) < 0x100:
            continue
        try:
            char.encode("cp1252")
        except UnicodeEncodeError:
            return False
    return True


# --------------------------------------------------------------------------------------------
# Is a word Vietnamese?
# --------------------------------------------------------------------------------------------

_INITIALS = ("ngh", "ch", "gh", "gi", "kh", "ng", "nh", "ph", "qu", "th", "tr",
             "b", "c", "d", "đ", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "x", "")
_NUCLEI = frozenset("""a ă â e ê i o ô ơ u ư y ai ao au ay âu ây eo êu ia iê iu oa oă oe oi oo
    ôi ơi ua uâ uê ui uô uơ uy ưa ưi ươ ưu yê ya iêu yêu oai oay oeo oao uây uôi ươi ươu uya
    uyê uyu uê uơ""".split())
_FINALS = ("ng", "nh", "ch", "c", "m", "n", "p", "t", "")
_TONE_MARKS = frozenset(_TONES)


def _strip_tones(word: str) -> tuple[str, int]:
    decomposed = unicodedata.normalize("NFD", word)
    tones = sum(c in _TONE_MARKS for c in decomposed)
    plain = "".join(c for c in decomposed if c not in _TONE_MARKS)
    return unicodedata.normalize("NFC", plain), tones


def is_vietnamese_word(word: str) -> bool:
    """Whether ``word`` is spelled as a Vietnamese syllable: an initial consonant, a vowel
    nucleus Vietnamese has, a final consonant, at most one tone mark, and lower case, capitals
    or a capital first letter.

    >>> [is_vietnamese_word(w) for w in ["Nguyên", "hài", "lòng", "hµi", "Raát", "RÊt"]]
    [True, True, True, False, False, False]
    """
    if not word or not (word.islower() or word.isupper() or word[1:].islower() or len(word) == 1):
        return False
    plain, tones = _strip_tones(word.lower())
    if tones > 1:
        return False
    for initial in _INITIALS:
        if not plain.startswith(initial):
            continue
        rest = plain[len(initial):]
        for final in _FINALS:
            if rest.endswith(final):
                nucleus = rest[:len(rest) - len(final)] if final else rest
                if nucleus in _NUCLEI or (initial == "gi" and nucleus == "" and final):
                    return True
    return False


# --------------------------------------------------------------------------------------------
# Detection
# --------------------------------------------------------------------------------------------

# Characters of each encoding that no Unicode Vietnamese word holds: their frequency among the
# words tells a legacy text from a Unicode one.
_VIETNAMESE = set("".join(vietnamese_letters())) | set("bcdghklmnpqrstvxfjwz")
_VIETNAMESE |= {c.upper() for c in _VIETNAMESE}
_CHARACTERISTIC = {
    name: frozenset(c for legacy in table.values() for c in legacy if c not in _VIETNAMESE)
    for name, table in _ENCODERS.items()}


@dataclass(frozen=True)
class LegacyDetection:
    """What :func:`detect_legacy` found in a set of texts.

    ``encoding`` is "TCVN3", "VNI" or None (Unicode, or too little text to tell);
    ``suspect`` names an encoding the text looks typed in when converting it does not give
    Vietnamese words clearly enough to be sure (``encoding`` is then None). ``words`` is the
    number of words with a non-ASCII letter; ``valid`` the share of them that are Vietnamese
    words as the text stands, and ``converted`` that share after conversion, per encoding.
    """
    encoding: str | None
    suspect: str | None
    words: int
    valid: float
    converted: dict
    characteristic: dict


def _words(texts: Iterable[str]) -> list[str]:
    return [w for t in texts for w in _TOKEN.findall(t) if not w.isascii()]


def _share_valid(words: list[str]) -> float:
    return sum(map(is_vietnamese_word, words)) / len(words) if words else 0.0


def detect_legacy(texts: Iterable[str], *, min_words: int = 3) -> LegacyDetection:
    """Whether ``texts`` (the distinct texts of a column or a table) are typed in TCVN3 or VNI.

    A text is legacy when its words hold characters that no Vietnamese word has (TCVN3 "µ",
    "¸", "ß"; VNI "ø", "û", "ï") and converting them gives Vietnamese words (initial, vowel
    nucleus, final, one tone): at least 85 % of the words with a non-ASCII letter, 30 points
    more than before conversion. Texts holding Unicode-only letters (ạ, ư, đ) are Unicode and
    left out. When one encoding's characters are frequent (half the words) but conversion does
    not convince, or both encodings convince, the result names the ``suspect``.

    >>> detect_legacy(["Raát haøi loøng", "Bình thường"]).encoding
    'VNI'
    >>> detect_legacy(["Rất hài lòng", "Không hài lòng", "Bình thường"]).encoding is None
    True
    """
    candidates = [t for t in dict.fromkeys(texts) if isinstance(t, str) and representable(t)]
    words = _words(candidates)
    valid = _share_valid(words)
    converted, characteristic = {}, {}
    for name in ENCODINGS:
        converted[name] = _share_valid(_words(to_unicode(t, name) for t in candidates))
        chars = _CHARACTERISTIC[name]
        characteristic[name] = (sum(any(c in chars for c in w) for w in words) / len(words)
                                if words else 0.0)
    if len(words) < min_words:
        return LegacyDetection(None, None, len(words), valid, converted, characteristic)
    clear = [name for name in ENCODINGS
             if converted[name] >= 0.85 and converted[name] - valid >= 0.3
             and characteristic[name] >= 0.2]
    if len(clear) == 1:
        return LegacyDetection(clear[0], None, len(words), valid, converted, characteristic)
    likely = [name for name in ENCODINGS if characteristic[name] >= 0.5 and valid < 0.6]
    if clear or likely:
        suspect = max(clear or likely, key=lambda name: (converted[name], characteristic[name]))
        return LegacyDetection(None, suspect, len(words), valid, converted, characteristic)
    return LegacyDetection(None, None, len(words), valid, converted, characteristic)
