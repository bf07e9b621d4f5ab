"""Which text lines to remove, by what they say: `remove_text` and `keep_text` patterns.

A line is removed when it matches a `remove_text` pattern (every line when there is none) and
no `keep_text` pattern. Where only part of a line matches a remove pattern, only that part is
removed: the recognizer's character positions give the piece of the line it covers.

Patterns are regular expressions run by RE2 (google-re2): linear time in the text whatever the
pattern, so a hostile pattern cannot hang a worker; their length, number and compiled size are
bounded, and RE2 refuses what it cannot run in linear time (backreferences, look-arounds).
Matching is case-insensitive, on the text as NFKC normalises it (full-width letters, digits
and `＠` read as ASCII), with the spaces the recognizer puts next to punctuation taken out
("john . doe @ mail . com" reads "john.doe@mail.com") and other runs of spaces made one.
Presets name what redaction callers need most: @email, @phone, @url, @number.

Nothing here logs what a line says.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import re2

from app.engine.images import NOT_BLANK
from app.engine.masks import Region
from app.engine.ocr import Reading
from app.engine.ocr.describe import LineStyle
from app.errors import InvalidInput
from app.geometry import Box
from app.wire import OMIT_NONE

# Each preset is an RE2 pattern over the normalised line (see the module), checked by _veto.
# Top-level domains are a list, not "any letters": a recognizer often drops the space after an
# address ("x@mail.comtoday") or reads it as a dot, and "letters" would take the next word too.
# Longest first (RE2 takes the first alternative that matches: "com" before "co"), and with the
# letters a recognizer confuses with digits ("i0" for "io") allowed.
_TLD_NAMES = ("com net org edu gov mil int info biz name pro io co ai app dev me tv cc us uk de fr es it nl be "
              "at ch se no dk fi pl pt ie eu ru ua cz gr hu ro jp cn hk tw kr in sg au nz ca mx br ar za tr il "
              "asia shop store online site xyz tech studio cloud email").split()
_OCR_CONFUSED = {"o": "[o0]", "i": "[il1]", "l": "[li1]"}
_TLDS = "|".join("".join(_OCR_CONFUSED.get(c, c) for c in t) for t in sorted(_TLD_NAMES, key=lambda t: (-len(t), t)))
PRESETS: dict[str, str] = {
    "@email": r"[a-z0-9][a-z0-9._%+\-]{0,63}@[a-z0-9\-]{1,63}(?:\.[a-z0-9\-]{1,63})*\.(?:" + _TLDS + ")",
    "@phone": r"(?:\+|00)?\(?\d[\d ()./\-]{5,22}\d",
    "@url": (r"(?:(?:https?|ftp)://|www\.)[a-z0-9\-._~%]+(?:/[a-z0-9\-._~%/?#=&+]*)?"
             r"|[a-z0-9\-]{1,63}(?:\.[a-z0-9\-]{1,63})*\.(?:" + _TLDS + r")(?:/[a-z0-9\-._~%/?#=&+]*)?\b"),
    "@number": r"\d+(?:[.,]\d+)*",
}
_MIN_DIGITS = {"@phone": 7}
_DATE = re2.compile(r"(\d{1,4})([-./])(\d{1,2})([-./])(\d{1,4})")
_MAX_MEM = 8 << 20  # bytes RE2 may use for one compiled pattern


def _is_date(text: str) -> bool:
    """Year-month-day, day-month-year or month-day-year with a month and a day that exist (a
    year's first digit may be lost: `024-03-05`); `123-45-67` is no date."""
    m = _DATE.fullmatch(text)
    if m is None or m.group(2) != m.group(4):
        return False
    a, b, c = m.group(1), int(m.group(3)), m.group(5)
    first, last = int(a), int(c)
    year_last = len(c) in (2, 4)
    return ((len(a) >= 3 and 1 <= b <= 12 and 1 <= last <= 31 and len(c) <= 2)  # 2024-03-05
            or (year_last and len(a) <= 2 and 1 <= first <= 31 and 1 <= b <= 12)  # 31.12.2024
            or (year_last and len(a) <= 2 and 1 <= first <= 12 and 1 <= b <= 31))  # 12/31/2024


def _veto(preset: str, text: str, a: int, b: int) -> bool:
    """What a preset's pattern matches but does not mean: a date is no phone number, the domain
    of an e-mail address is no URL."""
    if preset == "@phone":
        return sum(ch.isdigit() for ch in text[a:b]) < _MIN_DIGITS[preset] or _is_date(text[a:b])
    if preset == "@url":
        return a > 0 and text[a - 1] == "@"
    return False


@dataclass(frozen=True)
class Pattern:
    source: str  # as the caller wrote it (a preset's name for a preset)
    regex: Any  # re2._Regexp (google-re2 ships no types)
    preset: str | None = None

    def spans(self, text: str) -> list[tuple[int, int]]:
        out = []
        for m in self.regex.finditer(text):
            a, b = m.span()
            if b > a and not (self.preset and _veto(self.preset, text, a, b)):
                out.append((a, b))
        return out


@dataclass(frozen=True)
class Patterns:
    remove: tuple[Pattern, ...] = ()
    keep: tuple[Pattern, ...] = ()

    @property
    def active(self) -> bool:
        return bool(self.remove or self.keep)


def compile_patterns(remove: Sequence[str] | None, keep: Sequence[str] | None, *, max_length: int = 256,
                     max_count: int = 32) -> Patterns:
    """The caller's patterns, compiled; an invalid or oversized one is InvalidInput (422) naming it.
    `max_count` bounds each list."""
    remove, keep = list(remove or []), list(keep or [])
    for name, given in (("remove_text", remove), ("keep_text", keep)):
        if len(given) > max_count:
            raise InvalidInput(f"{name} has {len(given)} patterns, over the limit of {max_count}",
                               code="too_many_patterns")
    return Patterns(tuple(_compile(p, "remove_text", i, max_length) for i, p in enumerate(remove)),
                    tuple(_compile(p, "keep_text", i, max_length) for i, p in enumerate(keep)))


def _compile(source: str, field_name: str, index: int, max_length: int) -> Pattern:
    where = f"{field_name}[{index}] {source[:80]!r}"
    if not isinstance(source, str) or re.search(NOT_BLANK, source) is None:  # as the API's schema says
        raise InvalidInput(f"{where} is empty", code="empty_pattern")
    if len(source) > max_length:
        raise InvalidInput(f"{where} is {len(source)} characters long, over the limit of {max_length}",
                           code="pattern_too_long")
    if source.startswith("@"):
        if source.lower() not in PRESETS:
            raise InvalidInput(f"{where} is no preset; presets are {', '.join(PRESETS)}", code="invalid_pattern")
        text = PRESETS[source.lower()]
    else:
        text = source
    opts = re2.Options()
    opts.case_sensitive = False
    opts.max_mem = _MAX_MEM
    opts.log_errors = False  # the caller hears of it (422); RE2's own stderr line would repeat the pattern
    try:
        regex = re2.compile(text, opts)
    except re2.error as e:
        why = e.args[0].decode(errors="replace") if e.args and isinstance(e.args[0], bytes) else str(e)
        raise InvalidInput(f"{where} is not a valid RE2 pattern: {why}", code="invalid_pattern") from None
    return Pattern(source, regex, source.lower() if source.startswith("@") else None)


def normalise(text: str) -> tuple[str, list[int]]:
    """The text patterns see (see the module), and for each of its characters the index of the
    character of `text` it comes from."""
    chars: list[tuple[str, int]] = []
    for i, c in enumerate(text):
        chars.extend((n, i) for n in unicodedata.normalize("NFKC", c))
    out: list[tuple[str, int]] = []
    k = 0
    while k < len(chars):
        c, i = chars[k]
        if not c.isspace():
            out.append((c, i))
            k += 1
            continue
        j = k
        while j < len(chars) and chars[j][0].isspace():
            j += 1
        before = out[-1][0] if out else ""
        after = chars[j][0] if j < len(chars) else ""
        if before.isalnum() and after.isalnum():  # a word break: one space
            out.append((" ", i))
        k = j
    return "".join(c for c, _ in out), [i for _, i in out]


LineStatus = Literal["removed", "partly_removed", "kept"]


@dataclass
class Line:
    """One line's outcome: `removed` (whole), `partly_removed` (parts), `kept`, with the patterns
    that decided it. `reading` is None where the line was not read (only described)."""

    status: LineStatus
    reading: Reading | None
    parts: list[tuple[int, int]] = field(default_factory=list)  # character ranges removed (partly_removed)
    matched: list[str] = field(default_factory=list)


def select(readings: Sequence[Reading], patterns: Patterns, *, min_score: float = 0.5) -> list[Line]:
    """Each line's outcome under the patterns. A line read with a score under `min_score` matches
    no pattern: it is kept when there are remove patterns (nothing says it should go) and removed
    otherwise (nothing says it should stay)."""
    out = []
    for r in readings:
        text, index = normalise(r.text) if r.score >= min_score else ("", [])
        keeps = [p.source for p in patterns.keep if text and p.spans(text)]
        if keeps:
            out.append(Line("kept", r, matched=keeps))
            continue
        if not patterns.remove:
            out.append(Line("removed", r))
            continue
        spans, matched = [], []
        for p in patterns.remove:
            found = p.spans(text) if text else []
            if found:
                matched.append(p.source)
                spans += [(index[a], index[b - 1] + 1) for a, b in found]
        if not spans:
            out.append(Line("kept", r))
            continue
        parts = _union(spans)
        ink = [i for i, c in enumerate(r.text) if not c.isspace()]
        if parts[0][0] <= ink[0] and parts[-1][1] > ink[-1] and len(parts) == 1:
            out.append(Line("removed", r, matched=matched))
        else:
            out.append(Line("partly_removed", r, parts, matched))
    return out


def _union(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def removed_regions(lines: Sequence[Line], regions: Sequence[Region]) -> tuple[list[Region], list[Region]]:
    """What to repaint (whole lines, and the parts of lines that matched) and what to leave alone
    (kept lines, and the rest of partly removed ones), as regions."""
    remove: list[Region] = []
    keep: list[Region] = []
    for line, region in zip(lines, regions):
        if line.status == "removed":
            remove.append(region)
        elif line.status == "partly_removed":
            r, last = line.reading, 0.0
            assert r is not None  # a line is partly removed only by what it was read to say
            for a, b in (r.bounds(start, end) for start, end in line.parts):
                remove.append(r.piece(a, b))
                if a > last:
                    keep.append(r.piece(last, a))
                last = max(last, b)
            if last < 1.0:
                keep.append(r.piece(last, 1.0))
        else:
            keep.append(region)
    return remove, keep


@dataclass(frozen=True)
class LineReport:
    """One line in `processing_stats.text_lines`: where it is, what became of it and why."""

    bounding_box: Box
    status: LineStatus
    matched: list[str]  # the patterns that decided it (remove_text, or keep_text when kept)
    text_score: float | None = field(default=None, metadata=OMIT_NONE)  # the recognizer's confidence, 0-1: None where not read
    text: str | None = field(default=None, metadata=OMIT_NONE)  # what it says: only when asked (private)
    style: LineStyle | None = field(default=None, metadata=OMIT_NONE)  # how it looks: only with describe


@dataclass(frozen=True)
class TextReport:
    """`processing_stats.text_lines`: what was read, removed and kept."""

    found: int  # lines looked at (detected, or the caller's regions)
    read: int  # lines read with confidence
    removed: int
    partly_removed: int  # lines where only the part that matched was removed
    kept: int
    unmatched_patterns: list[str]  # patterns that matched no line (and so removed or kept nothing)
    lines: list[LineReport]


def report(lines: Sequence[Line], regions: Sequence[Region], patterns: Patterns, *, with_text: bool,
           min_score: float = 0.5, styles: Sequence[LineStyle] | None = None) -> TextReport:
    """`processing_stats.text_lines`: counts, each line's outcome (its text only with `with_text`:
    it may be private; its look with `styles`, one per line), and the remove patterns that matched
    no line."""
    used = {p for line in lines for p in line.matched}
    entries = []
    for i, (line, region) in enumerate(zip(lines, regions)):
        x0, y0, x1, y1 = region.bounds()
        entries.append(LineReport(
            Box(round(x0, 2), round(y0, 2), round(x1 - x0, 2), round(y1 - y0, 2)), line.status, line.matched,
            None if line.reading is None else round(line.reading.score, 4),
            line.reading.text if with_text and line.reading is not None else None,
            None if styles is None else styles[i]))
    return TextReport(
        found=len(lines),
        read=sum(1 for line in lines if line.reading is not None and line.reading.score >= min_score),
        removed=sum(1 for line in lines if line.status == "removed"),
        partly_removed=sum(1 for line in lines if line.status == "partly_removed"),
        kept=sum(1 for line in lines if line.status == "kept"),
        unmatched_patterns=[p.source for p in (*patterns.remove, *patterns.keep) if p.source not in used],
        lines=entries,
    )
