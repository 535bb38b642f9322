"""Serve an installed GGUF over HTTP with llama.cpp's OpenAI-compatible server (``xllamacpp``).

    python -m docproc.pipeline.extract.serve --gguf data/models/X.gguf --port 8081

gives ``http://127.0.0.1:8081/v1/chat/completions`` for the ``openai`` backend
(``DOCPROC_OPENAI_BASE_URL=http://127.0.0.1:8081/v1``): one model for many workers, or a
stand-in for vLLM in tests. Prints ``listening <url>`` once it accepts requests.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gguf", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--ctx", type=int, default=4096)
    parser.add_argument("--threads", type=int, default=min(4, os.cpu_count() or 1))
    parser.add_argument("--alias", default="", help="the model name clients send (default: the file's stem)")
    args = parser.parse_args(argv)
    if not Path(args.gguf).is_file():
        print(f"no such file: {args.gguf}", file=sys.stderr)
        return 2
    import xllamacpp as xlc

    params = xlc.CommonParams()
    params.model.path = args.gguf
    params.n_ctx = args.ctx
    params.n_parallel = 1
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    params.hostnames = [args.host]
    params.port = args.port
    params.cache_prompt = True
    params.warmup = False
    params.verbosity = -1
    if args.alias:
        params.model_alias = {args.alias}
    server = xlc.Server(params)
    print(f"listening {server.listening_address}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    del server
    return 0


if __name__ == "__main__":
    sys.exit(main())
