"""What every LLM backend shares: prompt, pages in chunks, JSON parsing, per-field token
probabilities, snapping to the document's words, the result cache and the model-call log.

A backend only implements ``_complete(prompt, text) -> Completion``; ``LlmExtractor`` does the
rest, so the three backends differ only in how they reach the model.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import math
import os
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from docproc.doctypes import DocType, FieldSpec

from ..grounding import snap_candidate
from ..memory import WorkedExample
from ..types import Candidate, DocumentText, EngineUnavailable, ExtractionOutput, PageWords
from ..visual_lines import reline
from .focus import focus_rows
from .options import LlmOptions
from .prompts import EXAMPLES_VERSION, Prompt, build_prompt, numbered_text, parse_line_ref, with_examples


@dataclass(frozen=True, slots=True)
class Completion:
    """One answer from a model: its text and, when the backend has them, token log-probs."""

    content: str
    tokens: tuple[tuple[str, float], ...] | None  # (token text, natural log-prob)
    tokens_in: int
    tokens_out: int
    cached_tokens: int = 0


class LlmTimeout(EngineUnavailable):
    """A model call ran past its deadline (the backend stopped it), or the document's budget for
    model calls is spent; the runner falls back to the rules with this as the reason."""

    code = "llm_timeout"


class ExtractionFailed(EngineUnavailable):
    """The backend answered, but not with the schema's JSON (the grammar should prevent it)."""


@dataclass(slots=True)
class CallLog:
    records: list[dict[str, Any]] = field(default_factory=list)


# Whose answers these are: (client, document). Set around a document's extraction by the caller
# (the worker's task context); unset in benches and ``manage.py extract``, which share "local".
answer_scope: contextvars.ContextVar[tuple[str, str]] = contextvars.ContextVar("answer_scope", default=("local", ""))
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")


def client_scope(client_id: object) -> str:
    """The cache scope name of an API client (``local`` for documents without one)."""
    return f"client-{client_id}" if client_id else "local"


def _private_dir(path: Path, root: Path) -> None:
    """Make ``path`` and its parents below ``root`` with mode 0700, whatever the umask."""
    root.mkdir(parents=True, exist_ok=True)
    for part in reversed([path, *path.parents]):
        if part == root or root not in part.parents:
            continue
        part.mkdir(mode=0o700, exist_ok=True)


def _scope_dir(client: str) -> str:
    return _SAFE_NAME.sub("_", client)[:80] or "local"


class ResultCache:
    """Answers by (text hash, schema, prompt version, backend, model): in memory, and on disk
    when a folder is given so that every worker process and a re-run share them. The backend is
    part of the key: two backends that load the same model file do not answer alike, and a
    benchmark of one must never be served the other's answers.

    Answers hold extracted personal data: each client has its own folder (one client is never
    served another's answer), files are 0600, and each document's keys are listed so that
    ``purge_document`` removes them with the document."""

    def __init__(self, folder: Path | None, *, size: int = 256) -> None:
        self.folder = folder
        self.size = size
        self._mem: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(text: str, schema: str, prompt_version: str, model: str, backend: str) -> str:
        raw = json.dumps([hashlib.sha256(text.encode()).hexdigest(), schema, prompt_version, backend, model])
        return hashlib.sha256(raw.encode()).hexdigest()

    def _path(self, client: str, key: str) -> Path:
        assert self.folder is not None
        return self.folder / _scope_dir(client) / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        client, _ = answer_scope.get()
        mem_key = f"{client}\x00{key}"
        with self._lock:
            if mem_key in self._mem:
                self._mem.move_to_end(mem_key)
                return self._mem[mem_key]
        if self.folder is not None:
            try:
                value = json.loads(self._path(client, key).read_text())
            except (OSError, ValueError):
                return None
            self._remember(mem_key, value)
            return value
        return None

    def put(self, key: str, value: dict[str, Any]) -> None:
        client, document = answer_scope.get()
        self._remember(f"{client}\x00{key}", value)
        if self.folder is not None:
            path = self._path(client, key)
            try:
                _private_dir(path.parent, self.folder)
                tmp = path.with_suffix(".tmp")
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as fh:
                    fh.write(json.dumps(value))
                tmp.replace(path)
                if document:
                    index = self.folder / _scope_dir(client) / "documents" / f"{_scope_dir(document)}.keys"
                    _private_dir(index.parent, self.folder)
                    fd = os.open(index, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                    with os.fdopen(fd, "a") as fh:
                        fh.write(key + "\n")
            except OSError:
                pass  # a cache that cannot be written is only slower

    @staticmethod
    def purge_document(folder: Path | None, *, client: str, document: str) -> int:
        """Delete the answers cached for ``document`` of ``client``; returns how many files went."""
        if folder is None:
            return 0
        base = Path(folder) / _scope_dir(client)
        index = base / "documents" / f"{_scope_dir(document)}.keys"
        try:
            keys = set(index.read_text().split())
        except OSError:
            return 0
        removed = 0
        for key in keys:
            if re.fullmatch(r"[0-9a-f]{64}", key):
                try:
                    (base / key[:2] / f"{key}.json").unlink()
                    removed += 1
                except FileNotFoundError:
                    pass
        index.unlink(missing_ok=True)
        return removed

    def _remember(self, key: str, value: dict[str, Any]) -> None:
        with self._lock:
            self._mem[key] = value
            self._mem.move_to_end(key)
            while len(self._mem) > self.size:
                self._mem.popitem(last=False)


def value_probabilities(content: str, tokens: tuple[tuple[str, float], ...] | None, names: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """Per top-level field: geometric-mean, minimum and first-token probability of the
    tokens that spell its value in ``content``, and how many tokens (``tokens``). Fields
    without tokens are left out."""
    if not tokens:
        return {}
    starts: list[tuple[int, int, float]] = []
    pos = 0
    for text, logprob in tokens:
        starts.append((pos, pos + len(text), logprob))
        pos += len(text)
    if pos != len(content):
        # Token texts do not spell the content exactly (multi-byte splits): align from the end.
        shift = len(content) - pos
        starts = [(a + shift, b + shift, lp) for a, b, lp in starts]
    spans = _value_spans(content, names)
    out: dict[str, dict[str, float]] = {}
    for name, (a, b) in spans.items():
        lps = [lp for s, e, lp in starts if e > a and s < b]
        if not lps:
            continue
        out[name] = {
            "p_mean": math.exp(sum(lps) / len(lps)),
            "p_min": math.exp(min(lps)),
            "p_first": math.exp(lps[0]),
            "tokens": float(len(lps)),
        }
    return out


def _value_spans(content: str, names: tuple[str, ...]) -> dict[str, tuple[int, int]]:
    """Character span of each top-level key's value in a JSON object's text."""
    decoder = json.JSONDecoder()
    spans: dict[str, tuple[int, int]] = {}
    i = content.find("{") + 1
    if i <= 0:
        return spans
    n = len(content)
    while i < n:
        while i < n and content[i] in " \t\r\n,":
            i += 1
        if i >= n or content[i] == "}":
            break
        try:
            key, i = decoder.raw_decode(content, i)
        except ValueError:
            break
        while i < n and content[i] in " \t\r\n:":
            i += 1
        try:
            _, end = decoder.raw_decode(content, i)
        except ValueError:
            break
        if isinstance(key, str) and key in names:
            a, b = i, end
            if content[a] == '"':  # the quotes are grammar, not the model's belief in the value
                a, b = a + 1, b - 1
            spans[key] = (a, max(a + 1, b))
        i = end
    return spans


def parse_answer(content: str, doctype: DocType, names: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The answer's value of every field of ``doctype`` (or of ``names`` only), None where absent."""
    text = content.strip()
    if text.startswith("```"):
        text = text.strip("`").removeprefix("json").strip()
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ExtractionFailed(f"the model's answer is not JSON: {exc}: {content[:200]!r}") from None
    if not isinstance(data, dict):
        raise ExtractionFailed(f"the model's answer is not a JSON object: {content[:200]!r}")
    out: dict[str, Any] = {}
    for spec in doctype.fields:
        if names is not None and spec.name not in names:
            continue
        value = data.get(spec.name)
        if spec.type == "list":
            out[spec.name] = _items(value, spec)
        elif value is None or (isinstance(value, str) and not value.strip()):
            out[spec.name] = None
        else:
            out[spec.name] = str(value).strip()
    return out


def _items(value: Any, spec: FieldSpec) -> list[dict[str, str | None]] | None:
    if not isinstance(value, list):
        return None
    rows = []
    for row in value:
        if isinstance(row, dict):
            rows.append({s.name: (None if row.get(s.name) in (None, "") else str(row.get(s.name))) for s in spec.item_fields})
    return rows or None


def chunk_pages(pages: tuple[PageWords, ...], max_chars: int) -> list[tuple[PageWords, ...]]:
    """Consecutive pages grouped so that each group's text stays under ``max_chars``; a page
    longer than that is its own group (its text is cut by the backend's context)."""
    groups: list[list[PageWords]] = []
    size = 0
    for page in pages:
        length = len(page.text) + 40
        if groups and size + length <= max_chars:
            groups[-1].append(page)
            size += length
        else:
            groups.append([page])
            size = length
    return [tuple(g) for g in groups]


def lines_value(answer: str, rows: list[tuple[int, tuple[str, ...]]], pages: tuple[PageWords, ...]) -> tuple[str | None, str]:
    """The value an answer by line names: the words of its lines as read, one space apart, and
    the reference itself. An answer that is not a reference of existing lines (a server that
    ignored the schema wrote the text) is taken as the value written."""
    span = parse_line_ref(answer)
    if span is None:
        return answer, ""
    first, last = span
    if not 1 <= first <= last <= len(rows):
        return None, answer
    words = {w.id: w for page in pages for w in page.words}
    text = " ".join(words[i].text for _, ids in rows[first - 1:last] for i in ids if i in words)
    return (text or None), answer


class LlmExtractor:
    """Base of the LLM backends. Subclasses set ``name``, ``version``, ``model`` and implement
    ``_complete``; they raise ``EngineUnavailable`` when the model cannot answer."""

    name = "llm"
    version = "1"
    asks_fields = True  # ``extract`` takes ``fields``: the runner asks only those still open
    model = ""
    prices: tuple[float, float] = (0.0, 0.0)  # cost per 1M input / output tokens
    max_chars = 6000  # of document text per model call; longer documents go by pages
    accepts_examples = True  # worked examples of the same sender go into the prompt (vendor memory)

    def __init__(self, options: LlmOptions | None = None) -> None:
        options = options or LlmOptions()
        self.cache = ResultCache(options.cache_dir)
        self.prices = (options.price_input_per_mtok, options.price_output_per_mtok)
        self.max_tokens = options.max_tokens
        self.call_seconds = options.call_seconds
        self.document_seconds = options.document_seconds
        self.example_tokens = options.example_tokens
        self.prompt_budget_chars = options.prompt_budget_tokens * 3  # ~3 characters a token
        self._deadline = time.monotonic() + self.call_seconds
        self._prompts: dict[str, Prompt] = {}

    # -- to implement ------------------------------------------------------------------------
    def _complete(self, prompt: Prompt, text: str) -> Completion:  # pragma: no cover - abstract
        """One model call. It MUST stop by ``self.deadline()`` (``time.monotonic()`` seconds) and
        raise :class:`LlmTimeout` when it did not finish in time."""
        raise NotImplementedError

    def deadline(self) -> float:
        """When the call in progress must have finished (``time.monotonic()`` seconds)."""
        return self._deadline

    def seconds_left(self) -> float:
        return max(0.0, self._deadline - time.monotonic())

    # -- the Extractor protocol ----------------------------------------------------------------
    def prompt_for(self, doctype: DocType) -> Prompt:
        if doctype.name not in self._prompts:
            self._prompts[doctype.name] = build_prompt(doctype)
        return self._prompts[doctype.name]

    def extract(self, document: DocumentText, doctype: DocType, *,
                fields: tuple[str, ...] | None = None,
                examples: tuple[WorkedExample, ...] = ()) -> ExtractionOutput:
        """Candidates of every field, or, with ``fields`` (the ones the label rules and the
        form template left open), of those only, each call shown only the lines that can hold
        them (``focus.focus_rows``, within the prompt budget). ``fields=()`` asks nothing.

        ``examples``: earlier verified documents of the same sender, given to the model as
        worked examples within ``example_tokens`` (``prompts.with_examples``); the ones used are
        listed in the output (``examples``) and in each call's record."""
        names = doctype.field_names if fields is None else tuple(n for n in doctype.field_names if n in fields)
        prompt = self.prompt_for(doctype).for_fields(doctype, names)
        if not names:
            return ExtractionOutput(candidates=(), engine=self.name, engine_version=f"{self.version}:{self.model}",
                                    prompt_version=prompt.version)
        if examples and self.example_tokens > 0:
            prompt = with_examples(prompt, examples, budget_tokens=self.example_tokens,
                                   by_line=doctype.by_line)
        document = reline(document)  # OCR lines rebuilt from geometry: whole header lines for the model
        calls: list[dict[str, Any]] = []
        parts: list[tuple[tuple[PageWords, ...], dict[str, Any], dict[str, dict[str, float]], list]] = []
        started = time.monotonic()
        chunks = chunk_pages(document.pages, self.max_chars)  # a long document goes by pages
        for index, pages in enumerate(chunks):
            left = self.document_seconds - (time.monotonic() - started)
            if left <= 0:
                exc = LlmTimeout(f"the model calls of this document took {self.document_seconds:.0f} s "
                                 f"after {index} of {len(chunks)} parts")
                exc.calls = tuple(calls)
                raise exc
            self._deadline = time.monotonic() + min(self.call_seconds, left)
            keep = (focus_rows(pages, doctype, names, budget_chars=self.prompt_budget_chars)
                    if fields is not None else None)
            text, rows = numbered_text(pages, keep)
            shown = tuple(sorted(i + 1 for i in keep)) if keep is not None else tuple(range(1, len(rows) + 1))
            answer, probs = self._answer(prompt.for_lines(doctype, shown), doctype, text, calls)
            calls[-1]["fields"] = list(names)
            calls[-1]["lines_sent"] = len(keep) if keep is not None else len(rows)
            calls[-1]["lines"] = len(rows)
            calls[-1]["answer_tokens_by_field"] = {n: int(p.get("tokens", 0)) for n, p in probs.items()}
            parts.append((pages, answer, probs, rows))
        candidates = tuple(self._merge(doctype, document, parts, names))
        return ExtractionOutput(
            candidates=candidates, engine=self.name, engine_version=f"{self.version}:{self.model}",
            prompt_version=prompt.version, calls=tuple(calls),
            examples=tuple(e.document for e in prompt.examples),
        )

    # -- internals ---------------------------------------------------------------------------
    def _answer(self, prompt: Prompt, doctype: DocType, text: str, calls: list[dict[str, Any]]):
        key = ResultCache.key(text, prompt.schema_key + prompt.examples_key, prompt.version,
                              self.model, self.name)
        start = time.perf_counter()
        hit = self.cache.get(key)
        if hit is not None:
            calls.append(self._record(prompt, 0, 0, time.perf_counter() - start, cache_hit=True, cached_tokens=0))
            return hit["answer"], hit["probs"]
        try:
            completion = self._complete(prompt, text)
        except EngineUnavailable as exc:
            calls.append(self._record(prompt, 0, 0, time.perf_counter() - start, cache_hit=False, cached_tokens=0,
                                      error=f"{exc.code}: {exc.detail}"[:300]))
            exc.calls = tuple(calls)
            raise
        latency = time.perf_counter() - start
        calls.append(self._record(prompt, completion.tokens_in, completion.tokens_out, latency, cache_hit=False,
                                  cached_tokens=completion.cached_tokens))
        try:
            answer = parse_answer(completion.content, doctype, prompt.fields or None)
        except ExtractionFailed as exc:
            exc.calls = tuple(calls)
            raise
        probs = value_probabilities(completion.content, completion.tokens, prompt.fields or doctype.field_names)
        self.cache.put(key, {"answer": answer, "probs": probs})
        return answer, probs

    def _record(self, prompt: Prompt, tokens_in: int, tokens_out: int, latency: float, *, cache_hit: bool,
                cached_tokens: int, error: str = "") -> dict[str, Any]:
        cost = (tokens_in * self.prices[0] + tokens_out * self.prices[1]) / 1_000_000
        record = {
            "backend": self.name, "model": self.model, "prompt_version": prompt.version,
            "tokens_in": tokens_in, "tokens_out": tokens_out, "cached_tokens": cached_tokens,
            "latency_s": round(latency, 4), "cost": round(cost, 8), "cache_hit": cache_hit,
        }
        if prompt.examples:
            record["examples"] = [e.document for e in prompt.examples]
            record["examples_version"] = EXAMPLES_VERSION
        if error:
            record["error"] = error
        return record

    def _merge(self, doctype: DocType, document: DocumentText, parts, names: tuple[str, ...]) -> list[Candidate]:
        out: list[Candidate] = []
        for spec in doctype.fields:
            if spec.name not in names:
                continue
            if spec.type == "list":
                rows: list[dict[str, Any]] = []
                confs: list[float] = []
                for _pages, answer, probs, _ in parts:
                    if answer.get(spec.name):
                        rows.extend(answer[spec.name])
                        confs.append(probs.get(spec.name, {}).get("p_mean", 0.8))
                conf = min(confs) if confs else 0.5
                out.append(Candidate(spec.name, rows or None, conf,  # type: ignore[arg-type]
                                     extra={"p_mean": conf}))
                continue
            best: Candidate | None = None
            for pages, answer, probs, rows in parts:
                value = answer.get(spec.name)
                p = probs.get(spec.name, {})
                extra: dict[str, Any] = {**p, "model_value": value, "pages": [pg.page for pg in pages]}
                if spec.answer == "lines" and value is not None:
                    value, extra["lines"] = lines_value(value, rows, pages)
                cand = Candidate(spec.name, value, p.get("p_mean", 0.8 if value else 0.5), extra=extra)
                if value is not None:
                    cand = snap_candidate(cand, spec, DocumentText(pages), vocabulary=doctype.words)
                if best is None or (best.value is None and cand.value is not None) or (
                        cand.value is not None and cand.model_confidence > best.model_confidence):
                    best = cand
            assert best is not None
            out.append(best)
        return out
