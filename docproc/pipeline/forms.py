"""AcroForm widgets: the values a person typed into a fillable PDF, read as page words.

Most claims are filled in a PDF viewer: the values live in the form's widgets, not in the page's
text layer, and a scan of a blank form with filled widgets shows OCR nothing but labels. Each
widget with a value becomes one word whose box is the widget's rectangle (the same coordinate
system as every other box, see ``types``), with ``source="form_field"`` and the widget's full
field name in ``Word.widget``; the page's own words under a filled widget give way to it.

Values as read: a text field's text; a checked checkbox reads "X"; a radio group its chosen
option's export name (at the chosen button); a combo or list box its chosen entry (the display
text where the form gives one). Empty, unchecked, hidden and push-button widgets give no word.

Pure: no Django. A PDF whose form cannot be parsed yields no widgets (its pages are still read
the ordinary way), never an error.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from .reading_order import assign_lines, renumber
from .types import BBox, PageWords, Word

WidgetKind = Literal["text", "checkbox", "radio", "combo", "list"]
FORM_FIELD = "form_field"
# A typed value is what the person meant: as sure as an exact text layer word.
WIDGET_CONFIDENCE = 1.0

_FF_RADIO = 1 << 15
_FF_PUSHBUTTON = 1 << 16
_FF_COMBO = 1 << 17
_F_HIDDEN = 1 << 1


@dataclass(frozen=True, slots=True)
class FormWidget:
    """One filled widget of a page: its field's full name, kind, value as shown and box."""

    page: int
    name: str
    kind: WidgetKind
    value: str
    bbox: BBox


def _inherited(annot: Any, key: str) -> Any:
    node = annot
    for _ in range(32):  # a malformed form may loop its parents
        if node is None:
            return None
        if key in node:
            return node[key]
        parent = node.get("/Parent")
        node = parent.get_object() if parent is not None else None
    return None


def _full_name(annot: Any) -> str:
    parts: list[str] = []
    node = annot
    for _ in range(32):
        if node is None:
            break
        if "/T" in node:
            parts.append(str(node["/T"]))
        parent = node.get("/Parent")
        node = parent.get_object() if parent is not None else None
    return ".".join(reversed(parts))


def _on_state(annot: Any) -> str | None:
    try:
        states = [str(k) for k in annot["/AP"]["/N"] if str(k) != "/Off"]
    except (KeyError, TypeError, AttributeError):
        return None
    return states[0] if states else None


def _choice_text(value: Any, options: Any) -> str:
    text = str(value[0] if isinstance(value, list) and value else value)
    for option in options or ():
        option = option.get_object() if hasattr(option, "get_object") else option
        if isinstance(option, list) and len(option) == 2 and str(option[0]) == text:
            return str(option[1])
    return text


def _normalised(rect: Any, box: Any, rotation: int) -> BBox | None:
    """The widget's rectangle as top-left fractions of the page as a person sees it."""
    x0, y0, x1, y1 = (float(v) for v in rect)
    left, bottom, right, top = (float(v) for v in box)
    width, height = right - left, top - bottom
    if width <= 0 or height <= 0:
        return None
    # Fractions of the unrotated page, origin top-left.
    u0, u1 = sorted(((x0 - left) / width, (x1 - left) / width))
    v0, v1 = sorted(((top - y0) / height, (top - y1) / height))
    rotation %= 360
    if rotation == 90:  # the page is shown turned clockwise
        u0, v0, u1, v1 = 1 - v1, u0, 1 - v0, u1
    elif rotation == 180:
        u0, v0, u1, v1 = 1 - u1, 1 - v1, 1 - u0, 1 - v0
    elif rotation == 270:
        u0, v0, u1, v1 = v0, 1 - u1, v1, 1 - u0
    clamp = lambda t: min(1.0, max(0.0, t))  # noqa: E731
    out = (clamp(u0), clamp(v0), clamp(u1), clamp(v1))
    return out if out[2] > out[0] and out[3] > out[1] else None


def _widget(annot: Any, page: int, box: Any, rotation: int) -> FormWidget | None:
    if str(annot.get("/Subtype")) != "/Widget" or int(annot.get("/F", 0) or 0) & _F_HIDDEN:
        return None
    kind_name = str(_inherited(annot, "/FT"))
    flags = int(_inherited(annot, "/Ff") or 0)
    value = _inherited(annot, "/V")
    kind: WidgetKind
    if kind_name == "/Tx":
        kind, text = "text", ("" if value is None else str(value))
    elif kind_name == "/Btn":
        if flags & _FF_PUSHBUTTON:
            return None
        state = str(annot.get("/AS") or value or "/Off")
        if state == "/Off" or (_on_state(annot) is not None and state != _on_state(annot)):
            return None
        parent = annot.get("/Parent")
        kids = parent.get_object().get("/Kids") if parent is not None else None
        # A group of buttons under one field (a radio group, or checkboxes some forms use as
        # one) says which option was chosen by the chosen button's state name.
        if flags & _FF_RADIO or (kids is not None and len(kids) > 1):
            kind, text = "radio", state.lstrip("/")
        else:
            kind, text = "checkbox", "X"
    elif kind_name == "/Ch":
        if value is None:
            return None
        kind = "combo" if flags & _FF_COMBO else "list"
        text = _choice_text(value, _inherited(annot, "/Opt"))
    else:
        return None
    text = " ".join(text.split())
    if not text or "/Rect" not in annot:
        return None
    bbox = _normalised(annot["/Rect"], box, rotation)
    if bbox is None:
        return None
    return FormWidget(page=page, name=_full_name(annot), kind=kind, value=text, bbox=bbox)


def read_form_widgets(path: Path, page: int) -> tuple[FormWidget, ...]:
    """The filled widgets of page ``page`` (1-based); () for a PDF without a readable form."""
    try:
        from pypdf import PdfReader

        reader = PdfReader(str(path))
        if "/AcroForm" not in reader.trailer["/Root"]:
            return ()
        pdf_page = reader.pages[page - 1]
        annots = pdf_page.get("/Annots")
        if annots is None:
            return ()
        box = pdf_page.cropbox
        rotation = int(pdf_page.get("/Rotate", 0) or 0)
        found = []
        for ref in annots.get_object():
            widget = _widget(ref.get_object(), page, box, rotation)
            if widget is not None:
                found.append(widget)
        return tuple(found)
    except Exception:  # a broken form is no reason to lose the page: it is read without widgets
        return ()


def _centre(box: BBox) -> tuple[float, float]:
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


def merge_form_widgets(words: PageWords, widgets: tuple[FormWidget, ...]) -> PageWords:
    """``words`` with each widget's value as a word (``source="form_field"``); a page word whose
    centre lies inside a filled widget is dropped (the typed value wins over what OCR read of its
    drawing). Lines and ids are assigned again over the merged words."""
    if not widgets:
        return words

    def covered(word: Word) -> bool:
        x, y = _centre(word.bbox)
        return any(w.bbox[0] <= x <= w.bbox[2] and w.bbox[1] <= y <= w.bbox[3] for w in widgets)

    kept = [w for w in words.words if not covered(w)]
    typed = [Word(id="", text=w.value, bbox=w.bbox, confidence=WIDGET_CONFIDENCE, source=FORM_FIELD, widget=w.name)
             for w in widgets]
    # One block: the page's engine blocks say nothing about where the widgets sit among them.
    merged = renumber(words.page, assign_lines([replace(w, block=0) for w in (*kept, *typed)]))
    return replace(words, words=merged)


def widget_values(words: PageWords) -> dict[str, Word]:
    """The page's form-field words by widget name."""
    return {w.widget: w for w in words.words if w.source == FORM_FIELD and w.widget}
