"""The fonts new text is written in (replace-text), and the rule that picks one for a line.

Where they come from: the open-licensed fonts the project's set-up installs (Debian's
fonts-dejavu-core: DejaVu Sans and DejaVu Serif, regular and bold, under the Bitstream Vera
licence; fonts-noto-cjk: Noto Sans CJK and Noto Serif CJK, regular and bold, under the SIL Open
Font License 1.1), found in the system's font folders by their file names; and every .ttf, .otf
or .ttc in FONTS_DIR, an operator's own.

The rule (docs/API.md, "Replacing text", says the same to callers): a line asks for a font by
name, `sans` (the default), `serif`, or an installed font's family name; its `bold` asks for the
bold face. Its text is written in the first font, in this order, that holds a glyph for every
character of it (spaces aside): the asked family in the asked weight, then in the other weight;
for `sans` and `serif`, the CJK fonts of the same kind (Noto Sans CJK for sans, Noto Serif CJK for
serif: the Japanese, Korean, Simplified or Traditional Chinese face as the text's script
suggests); then every other font, FONTS_DIR's first. None holds every glyph: the line cannot be
written (422 `unrenderable_text`).

Plain data and fontTools (which reads each font's character map once, lazily); no web imports.
"""

from __future__ import annotations

import functools
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

SYSTEM_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts")
GENERIC = ("sans", "serif")
# the installed fonts the service knows by file name: (file, family, bold, kind)
_KNOWN = (
    ("DejaVuSans.ttf", "DejaVu Sans", False, "sans"),
    ("DejaVuSans-Bold.ttf", "DejaVu Sans", True, "sans"),
    ("DejaVuSerif.ttf", "DejaVu Serif", False, "serif"),
    ("DejaVuSerif-Bold.ttf", "DejaVu Serif", True, "serif"),
    ("NotoSansCJK-Regular.ttc", "Noto Sans CJK", False, "sans-cjk"),
    ("NotoSansCJK-Bold.ttc", "Noto Sans CJK", True, "sans-cjk"),
    ("NotoSerifCJK-Regular.ttc", "Noto Serif CJK", False, "serif-cjk"),
    ("NotoSerifCJK-Bold.ttc", "Noto Serif CJK", True, "serif-cjk"),
)
_CJK_FACES = ("JP", "KR", "SC", "TC", "HK")  # the faces of a Noto CJK collection, by their names' suffix
_SPACES = frozenset(" \t\u00a0\u3000")


@dataclass(frozen=True)
class Face:
    """One font face: a file (and its index in a collection), its family, weight and kind
    (sans, serif, sans-cjk, serif-cjk, or `own` for FONTS_DIR's)."""

    name: str  # the family and style as the font names them, e.g. "Noto Sans CJK JP Bold"
    path: str
    index: int
    family: str
    bold: bool
    kind: str
    region: str | None = None  # a CJK face's: JP, KR, SC, TC or HK

    @property
    def cjk(self) -> bool:
        return self.kind.endswith("-cjk")


@dataclass
class FontBook:
    """The installed faces, and `pick`."""

    faces: list[Face]
    _maps: dict[tuple[str, int], frozenset[int]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def covers(self, face: Face, text: str) -> bool:
        """Whether `face` holds a glyph for every character of `text` but spaces."""
        cmap = self._cmap(face)
        return all(ord(c) in cmap for c in text if c not in _SPACES)

    def pick(self, text: str, font: str = "sans", bold: bool = False) -> Face | None:
        """The face a line's text is written in (the module's rule), or None."""
        for face in self._order(text, font, bold):
            if self.covers(face, text):
                return face
        return None

    def missing(self, text: str) -> list[str]:
        """The characters of `text` that no installed face holds (for the 422's message)."""
        held = set().union(*(self._cmap(f) for f in self.faces)) if self.faces else set()
        return sorted({c for c in text if c not in _SPACES and ord(c) not in held})

    def known(self, font: str) -> bool:
        """Whether `font` names something the book can serve: a generic kind or a family it has."""
        return font.lower() in GENERIC or any(f.family.lower() == font.lower() for f in self.faces)

    def _order(self, text: str, font: str, bold: bool) -> list[Face]:
        want = font.lower()
        region = _cjk_region(text)

        def rank(f: Face) -> tuple[int, ...]:
            if want in GENERIC:
                asked = f.kind == want
                kin = f.kind == f"{want}-cjk"
            else:
                asked, kin = f.family.lower() == want, False
            tier = 0 if asked else 1 if kin else 2 if f.kind == "own" else 3 if f.kind in ("sans", "serif") else 4
            return (tier, f.bold != bold, f.region is not None and f.region != region)

        return sorted(self.faces, key=rank)

    def _cmap(self, face: Face) -> frozenset[int]:
        key = (face.path, face.index)
        cmap = self._maps.get(key)
        if cmap is None:
            with self._lock:
                cmap = self._maps.get(key)
                if cmap is None:
                    cmap = self._maps[key] = _read_cmap(face.path, face.index)
        return cmap


def _cjk_region(text: str) -> str:
    """The CJK face a text suggests: Korean for Hangul, Japanese for kana, else Simplified Chinese."""
    if any("\uac00" <= c <= "\ud7a3" or "\u1100" <= c <= "\u11ff" for c in text):
        return "KR"
    if any("\u3040" <= c <= "\u30ff" for c in text):
        return "JP"
    return "SC"


def _read_cmap(path: str, index: int) -> frozenset[int]:
    from fontTools.ttLib import TTFont

    try:
        with TTFont(path, fontNumber=index, lazy=True) as font:
            return frozenset(font.getBestCmap() or {})
    except Exception:  # an unreadable font holds nothing
        return frozenset()


def _names(path: str) -> list[tuple[int, str, str]]:
    """(index, family, style) of each face of a font file; [] where it cannot be read."""
    from fontTools.ttLib import TTCollection, TTFont

    try:
        if path.lower().endswith(".ttc"):
            with TTCollection(path, lazy=True) as coll:
                fonts = list(coll.fonts)
                return [(i, _name(f, 1), _name(f, 2)) for i, f in enumerate(fonts)]
        with TTFont(path, lazy=True) as font:
            return [(0, _name(font, 1), _name(font, 2))]
    except Exception:
        return []


def _name(font: object, name_id: int) -> str:
    table = font["name"]  # type: ignore[index]
    value = table.getDebugName(name_id)
    return str(value or "")


def _system_faces(dirs: tuple[str, ...]) -> list[Face]:
    found: dict[str, str] = {}
    wanted = {k[0] for k in _KNOWN}
    for d in dirs:
        for root, _, files in os.walk(d):
            for f in files:
                if f in wanted and f not in found:
                    found[f] = os.path.join(root, f)
    faces = []
    for file, family, bold, kind in _KNOWN:
        path = found.get(file)
        if path is None:
            continue
        if kind.endswith("-cjk"):
            for i, fam, style in _names(path):
                region = fam.rsplit(" ", 1)[-1]
                if region in _CJK_FACES and "Mono" not in fam:  # the collections' monospaced faces aside
                    faces.append(Face(f"{fam} {style}".strip(), path, i, family, bold, kind, region))
        else:
            faces.append(Face(f"{family}{' Bold' if bold else ''}", path, 0, family, bold, kind))
    return faces


def _own_faces(fonts_dir: str) -> list[Face]:
    faces = []
    for p in sorted(Path(fonts_dir).rglob("*")):
        if p.suffix.lower() not in (".ttf", ".otf", ".ttc") or not p.is_file():
            continue
        for i, family, style in _names(str(p)):
            if family:
                faces.append(Face(f"{family} {style}".strip(), str(p), i, family, "bold" in style.lower(), "own"))
    return faces


@functools.cache
def font_book(fonts_dir: str | None = None, system_dirs: tuple[str, ...] = SYSTEM_DIRS) -> FontBook:
    """The faces installed here: FONTS_DIR's, then the system's known ones (found once per process)."""
    own = _own_faces(fonts_dir) if fonts_dir and os.path.isdir(fonts_dir) else []
    return FontBook(own + _system_faces(system_dirs))
