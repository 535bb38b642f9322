"""The embedded default: a GGUF model run in process by llama.cpp (``xllamacpp``).

The answer is constrained by a grammar built from the document type's schema, so it is
always the schema's JSON object; token log-probs come back with it. The server keeps the
prompt's KV cache between calls, and the prompt puts everything fixed first, so a call reads
only the document's tokens.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..types import EngineUnavailable, MissingModel
from .llm import Completion, LlmExtractor, LlmTimeout
from .models import model_path
from .options import LlamaCppOptions
from .prompts import Prompt

VERSION = "1"


class LlamaCppExtractor(LlmExtractor):
    name = "llamacpp"
    version = VERSION

    def __init__(self, options: LlamaCppOptions | None = None) -> None:
        options = options or LlamaCppOptions()
        super().__init__(options)
        self.missing: MissingModel | None = None
        try:
            self.path = model_path(options.model)
            self.model = self.path.stem
        except MissingModel as exc:
            # Raised on use, so that the runner falls back to the rules and says why.
            self.missing = exc
            self.path = Path()
            self.model = options.model.name or "missing"
        self.n_ctx = options.context_tokens
        self.threads = options.threads
        self.gpu_layers = options.gpu_layers
        self.max_chars = min(self.max_chars, int(self.n_ctx * 2.2))  # ~3 characters a token, room for the answer
        self._server: Any = None
        self._grammars: dict[str, str] = {}
        self._lock = threading.Lock()

    def _load(self) -> Any:
        if self.missing is not None:
            raise self.missing
        if self._server is None:
            try:
                import xllamacpp as xlc
            except ImportError:
                raise MissingModel("the llamacpp extractor needs the 'llm' extra: pip install 'docproc[llm]'") from None
            params = xlc.CommonParams()
            params.model.path = str(self.path)
            params.n_ctx = self.n_ctx
            params.n_parallel = 1  # one slot: its KV cache holds the last prompt's prefix
            params.n_predict = self.max_tokens
            params.cpuparams.n_threads = self.threads
            params.cpuparams_batch.n_threads = self.threads
            params.n_gpu_layers = self.gpu_layers
            params.sampling.temp = 0
            params.sampling.top_k = 1
            params.cache_prompt = True
            params.warmup = False
            params.verbosity = -1
            try:
                self._server = xlc.Server(params)
            except Exception as exc:  # a corrupt or incompatible file
                raise EngineUnavailable(f"llama.cpp could not load {self.path}: {exc}") from exc
        return self._server

    def grammar(self, prompt: Prompt) -> str:
        # One grammar per schema: a call that asks only some fields gets a grammar of those, and
        # a call with fields answered by line one of the lines it shows (so a few are kept).
        key = prompt.version + "|" + prompt.schema_key
        if key not in self._grammars:
            import json

            import xllamacpp as xlc

            if len(self._grammars) >= 64:
                self._grammars.clear()
            self._grammars[key] = xlc.json_schema_to_grammar(json.dumps(prompt.schema))
        return self._grammars[key]

    def _complete(self, prompt: Prompt, text: str) -> Completion:
        with self._lock:  # one slot, one request at a time: keeps its prefix cache useful
            server = self._load()
            request = {
                "messages": prompt.messages(text),
                "grammar": self.grammar(prompt),
                "max_tokens": self.max_tokens,
                "temperature": 0,
                "logprobs": True,
                "top_logprobs": 1,
                "cache_prompt": True,
                # Streamed so that the generation can be stopped at the call's deadline: the
                # server stops the slot when the chunk callback returns True.
                "stream": True,
                "stream_options": {"include_usage": True},
            }
            chunks: list[Mapping[str, Any]] = []
            deadline = self.deadline()
            stopped = False

            def on_chunk(chunk: Any) -> bool:
                nonlocal stopped
                chunks.append(chunk if isinstance(chunk, Mapping) else {"error": str(chunk)})
                if time.monotonic() > deadline:
                    stopped = True
                return stopped

            try:
                server.handle_chat_completions(request, on_chunk)
            except Exception as exc:
                raise EngineUnavailable(f"llama.cpp failed: {exc}") from exc
            if stopped or time.monotonic() > deadline:
                raise LlmTimeout(f"llama.cpp generation stopped at its deadline ({self.call_seconds:.0f} s, "
                                 f"DOCPROC_LLM_TIMEOUT_SECONDS) after {len(chunks)} chunks")
        return completion_from_openai(result_from_stream(chunks))


def result_from_stream(chunks: list[Mapping[str, Any]]) -> dict[str, Any]:
    """The streamed chunks of a chat completion put together as one non-streamed answer."""
    content: list[str] = []
    logprobs: list[Any] = []
    result: dict[str, Any] = {}
    for chunk in chunks:
        if "error" in chunk:
            return {"error": chunk["error"]}
        for choice in chunk.get("choices") or ():
            piece = (choice.get("delta") or {}).get("content")
            if piece:
                content.append(piece)
            lp = choice.get("logprobs")
            if isinstance(lp, Mapping) and lp.get("content"):
                logprobs.extend(lp["content"])
        for key in ("usage", "timings"):
            if chunk.get(key):
                result[key] = chunk[key]
    if not chunks:
        return {"error": "the model server sent no answer"}
    result["choices"] = [{"message": {"content": "".join(content)}, "logprobs": {"content": logprobs} if logprobs else None}]
    return result


def completion_from_openai(result: Mapping[str, Any]) -> Completion:
    """A chat-completions answer (OpenAI shape, as llama.cpp and vLLM give it) as a Completion."""
    if "error" in result:
        raise EngineUnavailable(f"the model server answered with an error: {str(result['error'])[:300]}")
    try:
        choice = result["choices"][0]
        content = choice["message"]["content"] or ""
    except (KeyError, IndexError, TypeError):
        raise EngineUnavailable(f"the model server's answer has no choices: {str(result)[:300]}") from None
    tokens = None
    logprobs = (choice.get("logprobs") or {}).get("content") if isinstance(choice.get("logprobs"), dict) else None
    if logprobs:
        tokens = tuple(
            (bytes(t["bytes"]).decode("utf-8", "replace") if t.get("bytes") else t.get("token", ""), float(t["logprob"]))
            for t in logprobs
        )
    usage = result.get("usage") or {}
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or (result.get("timings") or {}).get("cache_n") or 0
    return Completion(content=content, tokens=tokens, tokens_in=int(usage.get("prompt_tokens") or 0),
                      tokens_out=int(usage.get("completion_tokens") or 0), cached_tokens=int(cached))
