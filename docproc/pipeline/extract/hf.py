"""transformers + torch: a local model folder (``DOCPROC_HF_MODEL_DIR``) or the installed GGUF,
on the device from ``DOCPROC_DEVICE`` (``cuda`` in production, ``cpu`` here).

Decoding is guided by the document type's schema: the JSON's structure (braces, keys,
commas) is written by this module, and the model only chooses at each value between a
string and ``null`` (and, in a list, between another item and the end) and writes the
strings' characters, with every token that would break out of a JSON string masked. The
answer is therefore always valid JSON of the schema, and each value's token log-probs (under
the model's unconstrained distribution) are kept, as with the llamacpp backend.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from pathlib import Path
from typing import Any

from ..types import EngineUnavailable, MissingModel
from .llm import Completion, LlmExtractor, LlmTimeout
from .models import model_path
from .options import TransformersOptions
from .prompts import Prompt

VERSION = "1"
MAX_STRING_TOKENS = 96
_STRING_END_TAIL = set(',}] \n\t\r"')


class TransformersExtractor(LlmExtractor):
    name = "transformers"
    version = VERSION

    def __init__(self, options: TransformersOptions | None = None) -> None:
        options = options or TransformersOptions()
        super().__init__(options)
        self.device = options.device
        self.threads = options.threads
        self.missing: MissingModel | None = None
        self.folder: Path | None = options.model_dir
        self.gguf: Path | None = None
        if self.folder is not None:
            if not (self.folder / "config.json").is_file():
                self.missing = MissingModel(f"DOCPROC_HF_MODEL_DIR={self.folder} is not a transformers model folder "
                                            "(no config.json); no model is downloaded at run time")
            self.model = self.folder.name
        else:
            try:
                self.gguf = model_path(options.model)
                self.model = self.gguf.stem
            except MissingModel as exc:
                self.missing = exc
                self.model = "missing"
        self._lm: Any = None
        self._tok: Any = None
        self._pieces: list[str] = []
        self._prefix: dict[str, tuple[list[int], Any]] = {}
        self._lock = threading.Lock()

    # -- loading -------------------------------------------------------------------------------
    def _load(self) -> None:
        if self.missing is not None:
            raise self.missing
        if self._lm is not None:
            return
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError:
            raise MissingModel("the transformers extractor needs the 'transformers' extra: "
                               "pip install 'docproc[transformers]'") from None
        if self.threads:
            torch.set_num_threads(self.threads)
        try:
            if self.folder is not None:
                tok = AutoTokenizer.from_pretrained(self.folder, local_files_only=True)
                lm = AutoModelForCausalLM.from_pretrained(self.folder, local_files_only=True, torch_dtype="auto")
            else:
                assert self.gguf is not None
                tok = AutoTokenizer.from_pretrained(self.gguf.parent, gguf_file=self.gguf.name, local_files_only=True)
                lm = AutoModelForCausalLM.from_pretrained(self.gguf.parent, gguf_file=self.gguf.name, local_files_only=True)
            lm.to(self.device).eval()
        except (OSError, ValueError, RuntimeError) as exc:
            raise EngineUnavailable(f"transformers could not load {self.folder or self.gguf} on {self.device}: {exc}") from exc
        self._tok, self._lm = tok, lm
        self._pieces = tok.batch_decode([[i] for i in range(len(tok))])

    # -- decoding ------------------------------------------------------------------------------
    def _complete(self, prompt: Prompt, text: str) -> Completion:
        with self._lock:
            self._load()
            return _Decoder(self, prompt, text).run()


class _Decoder:
    """Greedy schema-guided decoding over one prompt, with the KV cache carried along."""

    def __init__(self, ex: TransformersExtractor, prompt: Prompt, text: str) -> None:
        import torch

        self.torch = torch
        self.ex = ex
        self.prompt = prompt
        self.tok = ex._tok
        self.lm = ex._lm
        self.pieces = ex._pieces
        self.out = ""  # the answer as written so far
        self.tokens: list[tuple[str, float]] = []
        self.tokens_out = 0
        messages = prompt.messages(text)
        full = self.tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        ids = self.tok(full, add_special_tokens=False)["input_ids"]
        self.tokens_in = len(ids)
        prefix_ids, prefix_cache = self._prefix_cache(messages)
        self.cached = 0
        self.cache = None
        self.logits = None
        if prefix_ids and ids[: len(prefix_ids)] == prefix_ids:
            self.cache = copy.deepcopy(prefix_cache)
            self.cached = len(prefix_ids)
            ids = ids[len(prefix_ids):]
        self._feed(ids)

    def _prefix_cache(self, messages: list[dict[str, str]]) -> tuple[list[int], Any]:
        # The system message is the same for every document of the type: read it once.
        key = self.prompt.version  # the system message is the same whatever fields are asked
        if key not in self.ex._prefix:
            system = self.tok.apply_chat_template(messages[:1], tokenize=False)
            ids = self.tok(system, add_special_tokens=False)["input_ids"]
            with self.torch.no_grad():
                out = self.lm(self.torch.tensor([ids], device=self.ex.device), use_cache=True)
            self.ex._prefix[key] = (ids, out.past_key_values)
        return self.ex._prefix[key]

    def _feed(self, ids: list[int]) -> None:
        if not ids:
            return
        if time.monotonic() > self.ex.deadline():
            raise LlmTimeout(f"generation stopped at its deadline ({self.ex.call_seconds:.0f} s, "
                             "DOCPROC_LLM_TIMEOUT_SECONDS)")
        with self.torch.no_grad():
            out = self.lm(self.torch.tensor([ids], device=self.ex.device), past_key_values=self.cache, use_cache=True)
        self.cache = out.past_key_values
        self.logits = self.torch.log_softmax(out.logits[0, -1].float(), dim=-1)

    def _write(self, text: str, logprob: float = 0.0) -> None:
        """Text this module writes (structure, or a choice already scored): appended and fed."""
        self.out += text
        self.tokens.append((text, logprob))
        self._feed(self.tok(text, add_special_tokens=False)["input_ids"])

    def _choose(self, options: list[str]) -> tuple[str, float]:
        """The option whose first token the model finds likeliest next."""
        best, best_lp = options[0], -1e9
        for option in options:
            first = self.tok(option, add_special_tokens=False)["input_ids"][0]
            lp = float(self.logits[first])
            if lp > best_lp:
                best, best_lp = option, lp
        return best, best_lp

    def run(self) -> Completion:
        schema = self.prompt.schema
        self._write("{")
        names = list(schema["properties"])
        for i, name in enumerate(names):
            self._write(("" if i == 0 else ", ") + json.dumps(name) + ":")
            prop = schema["properties"][name]
            if prop.get("type") == "array":
                self._array(prop["items"])
            elif "enum" in prop:
                self._one_of(prop["enum"])
            else:
                self._string_or_null()
        self.out += "}"
        self.tokens.append(("}", 0.0))
        return Completion(self.out, tuple(self.tokens), self.tokens_in, self.tokens_out, self.cached)

    def _array(self, item: dict[str, Any]) -> None:
        self._write(" [")
        count = 0
        while count < 50:
            choice, _ = self._choose(["{", "]"] if count == 0 else [", {", "]"])
            if choice == "]":
                break
            self._write(choice)
            for j, sub in enumerate(item["properties"]):
                self._write(("" if j == 0 else ", ") + json.dumps(sub) + ":")
                self._string_or_null()
            self._write("}")
            count += 1
        self._write("]")

    def _one_of(self, options: list[str | None]) -> None:
        """One of ``options`` (an answer by line: "L3", "L3-L5", or null), token by token along
        the options' own tokens, each step the likeliest token that keeps an option possible."""
        if None in options:
            choice, lp = self._choose([' "', " null"])
            if choice == " null":
                self._write(" null", lp)
                return
        self._write(' "')
        spelled = {o: self.tok(o, add_special_tokens=False)["input_ids"] for o in options if o is not None}
        quote = self.tok('"', add_special_tokens=False)["input_ids"][0]
        chosen: list[int] = []
        while True:
            live = [ids for ids in spelled.values() if ids[:len(chosen)] == chosen]
            complete = any(len(ids) == len(chosen) for ids in live)
            following = {ids[len(chosen)] for ids in live if len(ids) > len(chosen)}
            if not following:
                break
            best = max(following, key=lambda t: float(self.logits[t]))
            if complete and float(self.logits[quote]) >= float(self.logits[best]):
                break
            lp = float(self.logits[best])
            piece = self.pieces[best]
            self.out += piece
            self.tokens.append((piece, lp))
            self.tokens_out += 1
            chosen.append(best)
            self._feed([best])
        self._write('"')

    def _string_or_null(self) -> None:
        # The separator's space goes with the value's first token, as the tokenizer writes JSON.
        choice, lp = self._choose([' "', " null"])
        if choice == " null":
            self._write(" null", lp)
            return
        self._write(' "')
        torch = self.torch
        value = ""
        for _ in range(MAX_STRING_TOKENS):
            order = torch.argsort(self.logits, descending=True)[:64].tolist()
            pick = None
            for token_id in order:
                piece = self.pieces[token_id]
                if not piece or "\\" in piece or "\n" in piece or token_id in self.tok.all_special_ids:
                    continue
                quote = piece.find('"')
                if quote == -1 or set(piece[quote:]) <= _STRING_END_TAIL:
                    pick = (token_id, piece, quote)
                    break
            if pick is None:
                break
            token_id, piece, quote = pick
            lp = float(self.logits[token_id])
            self.tokens_out += 1
            if quote != -1:
                if piece[:quote]:
                    value += piece[:quote]
                    self.out += json.dumps(piece[:quote])[1:-1]
                    self.tokens.append((json.dumps(piece[:quote])[1:-1], lp))
                self._write('"', lp)
                return
            value += piece
            escaped = json.dumps(piece)[1:-1]
            self.out += escaped
            self.tokens.append((escaped, lp))
            self._feed([token_id])
        self._write('"')
