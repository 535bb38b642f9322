"""Stage results to and from JSON-able dicts, for storage keyed by stage and engine."""

from __future__ import annotations

from typing import Any

from .types import DocumentRead, IngestedFile, PageLayout, PageWords, Region, Word


def page_words_to_dict(page: PageWords) -> dict[str, Any]:
    return {
        "page": page.page,
        "width": page.width,
        "height": page.height,
        "source": page.source,
        "engine": page.engine,
        "engine_version": page.engine_version,
        "words": [[w.id, w.text, list(w.bbox), w.confidence, w.line, w.block]
                  + ([w.source, w.widget] if w.source or w.widget else []) for w in page.words],
    }


def page_words_from_dict(data: dict[str, Any]) -> PageWords:
    return PageWords(
        page=int(data["page"]),
        width=float(data["width"]),
        height=float(data["height"]),
        source=data["source"],
        engine=data["engine"],
        engine_version=data["engine_version"],
        words=tuple(
            Word(id=i, text=t, bbox=(b[0], b[1], b[2], b[3]), confidence=float(c), line=int(ln), block=int(bl),
                 source=str(rest[0]) if rest else "", widget=str(rest[1]) if len(rest) > 1 else "")
            for i, t, b, c, ln, bl, *rest in data["words"]
        ),
    )


def page_layout_to_dict(layout: PageLayout) -> dict[str, Any]:
    return {
        "page": layout.page,
        "engine": layout.engine,
        "engine_version": layout.engine_version,
        "regions": [[r.kind, list(r.bbox), r.confidence] for r in layout.regions],
        "rulings": [list(b) for b in layout.rulings],
    }


def page_layout_from_dict(data: dict[str, Any]) -> PageLayout:
    return PageLayout(
        page=int(data["page"]),
        engine=data["engine"],
        engine_version=data["engine_version"],
        regions=tuple(Region(kind=k, bbox=(b[0], b[1], b[2], b[3]), confidence=float(c)) for k, b, c in data["regions"]),
        rulings=tuple((b[0], b[1], b[2], b[3]) for b in data.get("rulings", [])),
    )


def document_read_to_dict(read: DocumentRead) -> dict[str, Any]:
    """A whole document's reading (``runner.DocumentRead``): what the OCR stage hands to extraction."""
    ing = read.ingested
    return {
        "ingested": {"content_type": ing.content_type, "page_count": ing.page_count, "sha256": ing.sha256,
                     "size": ing.size},
        "pages": [page_words_to_dict(p) for p in read.pages],
        "layouts": [page_layout_to_dict(lay) for lay in read.layouts],
        "timings": dict(read.timings),
    }


def document_read_from_dict(data: dict[str, Any]) -> DocumentRead:
    ing = data["ingested"]
    return DocumentRead(
        ingested=IngestedFile(content_type=ing["content_type"], page_count=int(ing["page_count"]),
                              sha256=str(ing["sha256"]), size=int(ing["size"])),
        pages=tuple(page_words_from_dict(p) for p in data["pages"]),
        layouts=tuple(page_layout_from_dict(lay) for lay in data.get("layouts", [])),
        timings={str(k): float(v) for k, v in data.get("timings", {}).items()},
    )
