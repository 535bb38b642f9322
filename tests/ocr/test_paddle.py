"""PaddleOCR runs only with operator-supplied model folders and says which setting to set."""

from __future__ import annotations

import pytest

from docproc.pipeline import registry
from docproc.pipeline.types import MissingModel


def test_paddleocr_without_model_dir_names_the_setting(settings):
    from docproc import engines

    settings.DOCPROC_OCR_ENGINE = "paddleocr"
    settings.DOCPROC_PADDLE_MODEL_DIR = ""
    engines.reset_engines()
    try:
        with pytest.raises(MissingModel) as info:
            engines.get_ocr()
    finally:
        engines.reset_engines()
    assert "DOCPROC_PADDLE_MODEL_DIR" in info.value.detail
    assert info.value.code == "missing_model"


def test_paddleocr_with_an_incomplete_folder_says_what_is_missing(tmp_path):
    (tmp_path / "det").mkdir()
    with pytest.raises(MissingModel) as info:
        registry.build_engine("ocr", "paddleocr", {"model_dir": str(tmp_path), "device": "cpu", "threads": 1})
    assert "DOCPROC_PADDLE_MODEL_DIR" in info.value.detail and "rec/" in info.value.detail
