"""Any OpenAI-compatible chat-completions endpoint: vLLM, Ollama, llama.cpp's server, a hosted API.

Base URL, model, key, timeout and retries come from settings. The request asks for structured
output (``response_format`` with the type's JSON schema) and token log-probs; a server that
rejects either is asked again without it, so a plain endpoint still works (its answer is
then only parsed and validated, and the field confidence has no token probabilities).
A connection refused, a timeout or a 5xx after the retries raises ``EngineUnavailable``: the
runner falls back to the rules and sends every field to review.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

from ..types import EngineUnavailable, MissingModel
from .llamacpp import completion_from_openai
from .llm import Completion, LlmExtractor
from .options import OpenAIOptions
from .prompts import Prompt

VERSION = "1"


class OpenAICompatExtractor(LlmExtractor):
    name = "openai"
    version = VERSION

    def __init__(self, options: OpenAIOptions | None = None) -> None:
        options = options or OpenAIOptions()
        super().__init__(options)
        self.base_url = options.base_url.rstrip("/")
        self.model = options.model
        self.api_key = options.api_key
        self.timeout = options.timeout
        self.retries = options.retries
        self._structured = True
        self._logprobs = True

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(f"{self.base_url}/chat/completions", data=json.dumps(body).encode(),
                                         headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            return json.loads(response.read())

    def _complete(self, prompt: Prompt, text: str) -> Completion:
        if not self.base_url:
            raise MissingModel("the openai extractor needs DOCPROC_OPENAI_BASE_URL (and DOCPROC_OPENAI_MODEL)")
        last = ""
        for attempt in range(self.retries + 1):
            body: dict[str, Any] = {"model": self.model or "default", "messages": prompt.messages(text),
                                    "temperature": 0, "max_tokens": self.max_tokens}
            if self._structured:
                body["response_format"] = {"type": "json_schema",
                                           "json_schema": {"name": "fields", "strict": True, "schema": prompt.schema}}
            if self._logprobs:
                body["logprobs"] = True
                body["top_logprobs"] = 1
            try:
                return completion_from_openai(self._post(body))
            except urllib.error.HTTPError as exc:
                detail = exc.read()[:300].decode("utf-8", "replace")
                if exc.code == 400 and (self._structured or self._logprobs):
                    # The server does not offer one of the options: drop log-probs first.
                    if self._logprobs:
                        self._logprobs = False
                    else:
                        self._structured = False
                    last = f"HTTP 400: {detail}"
                    continue
                if exc.code in (401, 403, 404):
                    raise EngineUnavailable(f"{self.base_url} answered HTTP {exc.code}: {detail}") from None
                last = f"HTTP {exc.code}: {detail}"
            except OSError as exc:  # URLError, timeouts and refused connections are all OSErrors
                reason = getattr(exc, "reason", exc)
                last = f"{type(reason).__name__}: {reason}"
            except ValueError as exc:
                last = f"not JSON: {exc}"
            if attempt < self.retries:
                time.sleep(min(4.0, 0.5 * 2 ** attempt))
        raise EngineUnavailable(f"{self.base_url} is unavailable after {self.retries + 1} attempts: {last}")
