"""A second reading of a chosen value's lines, by another recogniser, for confidence.

The first OCR engine's slips (``0``/``O``, ``&``/``8``, ``5``/``6``, ``B``/``E``) carry its full
confidence, so its own scores cannot flag them; another recogniser rarely makes the same slip.
Only the lines that hold a chosen value are read again (a few crops per document, cheap), and
the two readings are compared character by character, spaces and case aside: the share the
second confirms is a confidence signal, and the characters it does not confirm are the ones a
reviewer should look at.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from ..types import FieldResult, PageImage, PageWords, Word

# Around a value's words, so the second recogniser sees whole characters and some margin.
PAD_ACROSS = 0.15  # of the line's height, above and below
PAD_ALONG = 0.5  # of the line's height, left and right
SIGNAL = "second_reading"
MESSAGE_PREFIX = "second reading"


class LineReader(Protocol):
    """A recogniser of one line of text. ``read_line`` MUST return the text it reads on the
    image (grayscale uint8, dark text on light), "" when it reads nothing; it never raises for
    an unreadable image."""

    name: str
    version: str

    def read_line(self, image: np.ndarray) -> str: ...


@dataclass(frozen=True, slots=True)
class SecondReading:
    """``first``: the value's words as the first engine read them, line after line, joined by
    spaces; ``second``: what ``engine`` read on the same crops; ``agreement``: the share of
    ``first``'s characters (spaces aside) that ``second`` confirms, case aside, in [0, 1];
    ``doubtful``: the indexes in ``first`` of the characters it does not confirm."""

    first: str
    second: str
    agreement: float
    doubtful: tuple[int, ...]
    engine: str

    def marked(self) -> str:
        """``first`` with each character in doubt in brackets: ``WORL[D] 8[1]750``."""
        doubt = set(self.doubtful)
        return "".join(f"[{ch}]" if i in doubt else ch for i, ch in enumerate(self.first))

    def message(self) -> str:
        """For the reviewer, on the field: which characters the second recogniser read otherwise.
        A warning: it says where to look, and does not by itself hold the field for review."""
        if not self.doubtful:
            return f"{MESSAGE_PREFIX} ({self.engine}) agrees"
        return (f"warning: {MESSAGE_PREFIX} ({self.engine}) reads {self.second!r}; characters in doubt: "
                f"{self.marked()}")


def compare(first: str, second: str, *, engine: str = "") -> SecondReading:
    """The two readings aligned character by character (spaces and case aside)."""
    kept = [i for i, ch in enumerate(first) if not ch.isspace()]
    a = "".join(first[i] for i in kept).casefold()
    b = "".join(ch for ch in second if not ch.isspace()).casefold()
    confirmed: set[int] = set()
    if a and b:
        for block in difflib.SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks():
            confirmed.update(range(block.a, block.a + block.size))
    doubtful = tuple(kept[i] for i in range(len(a)) if i not in confirmed)
    agreement = round(len(confirmed) / len(a), 4) if a else 0.0
    return SecondReading(first=first, second=second, agreement=agreement, doubtful=doubtful, engine=engine)


def line_crops(image: PageImage, words: Sequence[Word], *, text_share: float = 1.0) -> list[tuple[list[Word], np.ndarray]]:
    """The value's words grouped by line (in reading order), each with the crop of the page
    image around them (grayscale). ``text_share``: the share of a word box's height that the
    text fills (an engine's ``text_share``; a detector that grows its boxes puts parts of the
    neighbouring lines in them, which a single-line reader then tries to read)."""
    gray = np.asarray(image.image.convert("L"), dtype=np.uint8)
    height, width = gray.shape
    lines: dict[tuple[int, int], list[Word]] = {}
    for word in words:
        lines.setdefault((word.block, word.line), []).append(word)
    crops = []
    for key in sorted(lines):
        ws = sorted(lines[key], key=lambda w: w.bbox[0])
        x0, y0 = min(w.bbox[0] for w in ws) * width, min(w.bbox[1] for w in ws) * height
        x1, y1 = max(w.bbox[2] for w in ws) * width, max(w.bbox[3] for w in ws) * height
        # the text's own height: the median box height, less what the detector added
        boxes = sorted((w.bbox[3] - w.bbox[1]) * height for w in ws)
        tall = max(boxes[len(boxes) // 2] * min(max(text_share, 0.1), 1.0), 1.0)
        trim = (boxes[len(boxes) // 2] - tall) / 2
        y0, y1 = y0 + trim, y1 - trim
        left, right = int(max(0, x0 - PAD_ALONG * tall)), int(min(width, x1 + PAD_ALONG * tall))
        top, bottom = int(max(0, y0 - PAD_ACROSS * tall)), int(min(height, y1 + PAD_ACROSS * tall))
        if right - left >= 2 and bottom - top >= 2:
            crops.append((ws, gray[top:bottom, left:right]))
    return crops


def read_again(image: PageImage, words: Sequence[Word], reader: LineReader, *,
               text_share: float = 1.0) -> SecondReading | None:
    """The value held by ``words`` (boxes on ``image``, the upright page they were read on) read
    again by ``reader``, line by line, and compared with the first reading; None without words.
    ``text_share``: see ``line_crops``."""
    crops = line_crops(image, words, text_share=text_share)
    if not crops:
        return None
    first = " ".join(" ".join(w.text for w in ws) for ws, _ in crops)
    second = " ".join(reader.read_line(crop).strip() for _, crop in crops)
    return compare(first, second, engine=reader.name)


def field_with_second_reading(field: FieldResult, image: PageImage, page: PageWords, reader: LineReader, *,
                              text_share: float = 1.0) -> FieldResult:
    """``field`` with the second reading of its words (on ``page``, read from ``image``): the
    agreement as the signal ``second_reading`` and, where the two readings differ, a warning
    for the reviewer naming the characters in doubt (``SecondReading.message``; none when they
    agree). Confidence and status are left as they were: the signal is not one of the
    calibration's features, so calibrated scores do not change until a calibration is fitted
    with it. A field without words on this page is returned unchanged."""
    by_id = {w.id: w for w in page.words}
    words = [by_id[i] for i in field.word_ids if i in by_id]
    reading = read_again(image, words, reader, text_share=text_share) if words else None
    if reading is None:
        return field
    messages = (*field.messages, reading.message()) if reading.doubtful else field.messages
    return replace(field, signals={**field.signals, SIGNAL: reading.agreement}, messages=messages)


def rereader(pages: Sequence[PageWords], images: dict[int, PageImage], reader: LineReader, *,
             text_share: float = 1.0) -> Callable[[Sequence[str]], SecondReading | None]:
    """A function from a value's word ids to their second reading by ``reader`` (``read_again``),
    for the words of an OCR'd page with an image in ``images`` (page number -> the upright image
    that page's boxes refer to); None for words of a text layer, of a page without its image, or
    spread over pages. Each set of words is read once."""
    page_of: dict[str, PageWords] = {}
    for page in pages:
        if page.source == "ocr" and page.page in images:
            for word in page.words:
                page_of[word.id] = page
    done: dict[tuple[str, ...], SecondReading | None] = {}

    def read(word_ids: Sequence[str]) -> SecondReading | None:
        key = tuple(word_ids)
        if key not in done:
            found = {page_of[i].page for i in key if i in page_of}
            if not key or len(found) != 1 or any(i not in page_of for i in key):
                done[key] = None
            else:
                page = page_of[key[0]]
                wanted = set(key)
                words = [w for w in page.words if w.id in wanted]
                done[key] = read_again(images[page.page], words, reader, text_share=text_share)
        return done[key]

    return read


def second_readings(fields: Sequence[FieldResult], pages: Sequence[PageWords], images: dict[int, PageImage],
                    reader: LineReader, *, text_share: float = 1.0) -> tuple[FieldResult, ...]:
    """Each field whose value was read by OCR (its words on a page of ``images``: page number ->
    the upright image that page's boxes refer to) read again by ``reader``
    (``field_with_second_reading``); the others (no value, a list, a typed form value, a page
    from a text layer, a field that already carries its second reading) unchanged. Only the
    lines of chosen values are read: a few crops."""
    by_page = {p.page: p for p in pages if p.source == "ocr"}
    out = []
    for f in fields:
        page = by_page.get(f.page) if f.page is not None else None
        image = images.get(f.page) if f.page is not None else None
        if (page is None or image is None or f.value is None or isinstance(f.value, list) or not f.word_ids
                or f.provenance == "form_field" or SIGNAL in f.signals):
            out.append(f)
            continue
        out.append(field_with_second_reading(f, image, page, reader, text_share=text_share))
    return tuple(out)
