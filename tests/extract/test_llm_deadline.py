"""The deadline of each model call (DOCPROC_LLM_TIMEOUT_SECONDS) and of a document's model calls
together: the backend stops generating, the document falls back to the rules once, with the
reason. The llama.cpp server is a small fake here that streams until told to stop; the real
server stops its slot the same way (the chunk callback returning True)."""

from __future__ import annotations

import json
import time

from docproc.doctypes import get_doctype
from docproc.pipeline.extract.llamacpp import LlamaCppExtractor, result_from_stream
from docproc.pipeline.extract.llm import Completion, LlmExtractor, LlmTimeout
from docproc.pipeline.extract.options import LlamaCppOptions, LlmOptions
from docproc.pipeline.runner import run_extractor
from docproc.pipeline.types import DocumentText
from tests.extract.test_llm_units import page

CLAIM = get_doctype("claim")


class EndlessServer:
    """Streams one token every 20 ms for ever, unless the callback asks it to stop."""

    def __init__(self) -> None:
        self.chunks_sent = 0
        self.stopped_by_caller = False

    def handle_chat_completions(self, request, callback):
        assert request["stream"] is True
        while self.chunks_sent < 10_000:
            time.sleep(0.02)
            self.chunks_sent += 1
            if callback({"choices": [{"index": 0, "delta": {"content": " "}}]}):
                self.stopped_by_caller = True
                return None
        return None


def _llamacpp_with(server, **options) -> LlamaCppExtractor:
    ex = LlamaCppExtractor(LlamaCppOptions(**options))
    ex.missing = None
    ex._server = server
    ex._grammars[ex.prompt_for(CLAIM).version] = ""  # the fake takes no grammar
    return ex


def test_a_llamacpp_call_past_its_deadline_is_stopped_and_falls_back_with_the_reason():
    """Given a model that would generate for minutes, when the call's deadline (0.3 s) passes,
    the server is told to stop, and the document is read by the rules with ``llm_timeout``."""
    server = EndlessServer()
    ex = _llamacpp_with(server, call_seconds=0.3, document_seconds=10)
    doc = DocumentText((page(["Claim Number: CLM-2024-123456"]),))
    started = time.monotonic()
    out = run_extractor(doc, CLAIM, ex)
    assert server.stopped_by_caller and server.chunks_sent < 200
    assert time.monotonic() - started < 5
    assert out.engine == "rules" and out.fallback_reason.startswith("llamacpp: llm_timeout")
    assert out.calls and "llm_timeout" in out.calls[-1]["error"]


def test_a_streamed_answer_is_put_back_together_with_its_logprobs_and_usage():
    lp = lambda t, v: {"token": t, "bytes": list(t.encode()), "logprob": v}  # noqa: E731
    chunks = [
        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": None}}]},
        {"choices": [{"index": 0, "delta": {"content": '{"a":'}, "logprobs": {"content": [lp('{"a":', -0.1)]}}]},
        {"choices": [{"index": 0, "delta": {"content": ' "x"}'}, "logprobs": {"content": [lp(' "x"}', -0.2)]}}]},
        {"choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 2}, "timings": {"cache_n": 4}},
    ]
    from docproc.pipeline.extract.llamacpp import completion_from_openai

    completion = completion_from_openai(result_from_stream(chunks))
    assert json.loads(completion.content) == {"a": "x"}
    assert completion.tokens == (('{"a":', -0.1), (' "x"}', -0.2))
    assert (completion.tokens_in, completion.tokens_out, completion.cached_tokens) == (12, 2, 4)


class SlowModel(LlmExtractor):
    name = "slow"
    model = "slow-1"

    def __init__(self, options, seconds: float) -> None:
        super().__init__(options)
        self.max_chars = 60  # one call per page
        self.seconds = seconds
        self.calls_made = 0

    def _complete(self, prompt, text):
        self.calls_made += 1
        time.sleep(self.seconds)
        return Completion(json.dumps({"claim_number": None}), None, tokens_in=1, tokens_out=1)


def test_a_long_document_stops_calling_the_model_when_its_budget_is_spent():
    """Given ten pages read one call each and a budget of three calls, extraction stops after the
    budget and falls back, instead of holding the worker for every page."""
    doc = DocumentText(tuple(page([f"Page {n} of the claim text"], n) for n in range(1, 11)))
    model = SlowModel(LlmOptions(call_seconds=5, document_seconds=0.25), seconds=0.1)
    out = run_extractor(doc, CLAIM, model)
    assert model.calls_made == 3
    assert out.engine == "rules" and "llm_timeout" in out.fallback_reason and "3 of 10 parts" in out.fallback_reason


def test_the_deadline_is_the_setting_capped_by_half_the_task_soft_limit(settings):
    from docproc.engines import llm_options

    settings.DOCPROC_LLM_TIMEOUT_SECONDS = 120
    settings.DOCPROC_TASK_SOFT_TIME_LIMIT = 900
    options = llm_options("llamacpp")
    assert (options.call_seconds, options.document_seconds) == (120, 450)
    settings.DOCPROC_TASK_SOFT_TIME_LIMIT = 100
    assert llm_options("llamacpp").call_seconds == 50
    assert LlmTimeout("x").code == "llm_timeout"
