"""The load benchmark behind ``manage.py bench_load``: concurrent uploaders against gunicorn and Celery workers started on
this machine, then a drain; reports upload latency, documents per minute end to end and by path
(digital claims, scanned claims, receipts), the utilisation of each queue's workers (the share of
their time spent running tasks, from the workers' busy-time counters) and the count of accepted
uploads that never reached a final state (it must be 0).

``pipeline=True`` runs the pipelined stages (a worker on "cpu", ``ocr_workers`` on "ocr", one on
"gpu"); ``pipeline=False`` the single-task mode (``workers`` processes each taking every queue,
one task reading and extracting a document), for before/after figures on the same batch.
``documents`` uploads a fixed mixed batch instead of uploading for ``seconds``.

A benchmark, not a test: it writes ``DIR/load-report.json`` and ``DIR/load-report.md``. Every
process listens on 127.0.0.1 only; by default the broker is a private redis-server on a free
port, so the shared Redis is not loaded. Documents go to the configured database under a new API
client named ``bench-load-<time>``, so they can be told apart (and deleted) afterwards.
"""

from __future__ import annotations

import json
import random
import statistics
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.utils import timezone

from docproc.bench.stack import RedisServer, Stack, upload_over_http, wait_until
from docproc.models import ApiClient, Document

PIPELINE_DONE = ("needs_review", "auto_accepted", "reviewed", "delivered", "failed", "rejected")


KINDS = ("digital", "scanned", "receipt")
DOC_TYPES = {"digital": "claim", "scanned": "claim", "receipt": "receipt"}
SUFFIX = {"digital": "pdf", "scanned": "png", "receipt": "jpg"}


@dataclass
class Upload:
    kind: str  # digital | scanned | receipt
    started: float  # seconds since the load began
    seconds: float
    status: int  # HTTP status, 0 for a transport error
    document: str = ""
    error: str = ""


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return round(ordered[index], 4)


def _database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] or ""
    if db.get("PASSWORD"):
        auth += f":{db['PASSWORD']}"
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _make_files(folder: Path, *, digital: int, scanned: int, receipts: Path | None = None,
                receipt_count: int = 3) -> tuple[dict[str, list[bytes]], dict[str, list[dict]]]:
    """(kind -> the files' bytes, kind -> each file's true field values), index for index."""
    from fixtures.claims import LAYOUTS, make_claim, write_claim_pdf, write_scan

    files: dict[str, list[bytes]] = {"digital": [], "scanned": [], "receipt": []}
    truth: dict[str, list[dict]] = {"digital": [], "scanned": [], "receipt": []}
    if receipts is not None:
        manifest = [json.loads(line) for line in (receipts / "manifest.jsonl").read_text().splitlines() if line.strip()]
        for m in sorted(manifest, key=lambda m: m["id"])[:receipt_count]:
            files["receipt"].append((receipts / m["file"]).read_bytes())
            truth["receipt"].append(m["fields"])
    for i in range(max(digital, scanned)):
        claim = make_claim(9000 + i)
        pdf = write_claim_pdf(claim, folder / f"c{i}.pdf", layout=LAYOUTS[i % len(LAYOUTS)])
        if i < digital:
            files["digital"].append(pdf.read_bytes())
            truth["digital"].append(claim.fields())
        if i < scanned:
            files["scanned"].append(write_scan(pdf, folder / f"s{i}.png", dpi=150, noise=0.02, seed=i).read_bytes())
            truth["scanned"].append(claim.fields())
    return files, truth


def _auto_accepted_wrong(accepted: dict[str, str], truths: dict[str, dict]) -> dict:
    """Auto-accepted fields whose value is not the truth (what nobody will look at), per kind."""
    from docproc.bench.compare import values_match
    from docproc.doctypes import get_doctype
    from docproc.models import Field

    out = {kind: {"auto_accepted": 0, "wrong": 0, "examples": []} for kind in KINDS}
    for f in Field.objects.filter(document_id__in=list(accepted), status="auto_accepted").select_related("document"):
        doc_id = str(f.document_id)
        truth = truths.get(doc_id, {})
        if f.name not in truth:
            continue
        doctype = get_doctype(f.document.doc_type)
        row = out[accepted[doc_id]]
        row["auto_accepted"] += 1
        if not values_match(doctype.field(f.name), f.value, truth[f.name], day_first=doctype.day_first):
            row["wrong"] += 1
            if len(row["examples"]) < 5:
                row["examples"].append({"document": doc_id, "field": f.name, "value": f.value, "truth": truth[f.name]})
    return out


def _unique(data: bytes, kind: str, n: int) -> bytes:
    # Trailing bytes after %%EOF, IEND or a JPEG's end marker are ignored by readers; they defeat
    # the SHA-256 dedupe.
    return data + (b"\n%% bench %d\n" % n if kind == "digital" else b"bench-%d" % n)


def _kinds_plan(documents: int, *, scanned_share: float, receipt_share: float, have_receipts: bool) -> list[str]:
    """The kinds of a fixed batch of ``documents``, interleaved: scans and receipts spread evenly."""
    plan, owed = [], {"scanned": 0.0, "receipt": 0.0}
    shares = {"scanned": scanned_share, "receipt": receipt_share if have_receipts else 0.0}
    for _ in range(documents):
        for kind in owed:
            owed[kind] += shares[kind]
        kind = max(owed, key=lambda k: owed[k])
        if owed[kind] >= 1.0:
            owed[kind] -= 1.0
            plan.append(kind)
        else:
            plan.append("digital")
    return plan


def _busy(broker) -> dict[str, float]:
    """The workers' busy seconds per queue (workers/observability.py adds each task's run time)."""
    from docproc.metrics import PREFIX

    return {k.decode(): float(v) for k, v in broker.hgetall(f"{PREFIX}:busy_seconds").items()}


def _keep_model_busy(base: str, token: str, files: dict[str, list[bytes]], file_truth: dict[str, list[dict]],
                     count: int, *, log: Callable[[str], None]) -> dict[str, dict]:
    """Upload ``count`` receipts and wait until the model reads one; returns id -> truth."""
    if not files["receipt"]:
        raise ValueError("keeping the model busy needs receipts (--receipts DIR)")
    out: dict[str, dict] = {}
    for n in range(count):
        index = n % len(files["receipt"])
        status, body = upload_over_http(base, token, _unique(files["receipt"][index], "receipt", 10**8 + n),
                                        f"busy-{n}.jpg", doc_type="receipt", timeout=60)
        if status not in (200, 201):
            raise RuntimeError(f"a receipt to keep the model busy was refused: {status} {body}")
        out[str(body["id"])] = file_truth["receipt"][index]
    log(f"{count} receipts uploaded; waiting for the model to read one ...")
    wait_until(lambda: Document.objects.filter(pk__in=list(out), stage="extract").exists(), timeout=600,
               interval=0.5, what="the model reading a receipt")
    return out


def run_load_bench(*, concurrency: int, seconds: int, out: Path, scanned_share: float, workers: int,
                   web_workers: int, web_threads: int, drain_seconds: int, think_seconds: float, redis_url: str,
                   request_timeout: float, log: Callable[[str], None], pipeline: bool = True, ocr_workers: int = 1,
                   documents: int = 0, receipts: Path | None = None, receipt_share: float = 0.0,
                   model_busy: int = 0) -> dict:
    """Run the load (the command checks the options' ranges), write ``load-report.json`` and
    ``load-report.md`` to ``out`` and return the report; ``report["not_final"]`` must be 0.

    ``model_busy`` receipts are uploaded before the load, which starts once the model reads one of
    them: the upload latency is then measured while the LLM runs (they count as receipts in the
    end states, not in the upload latency)."""
    out.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="bench-load-"))
    log(f"generating files in {folder} ...")
    files, file_truth = _make_files(folder, digital=6, scanned=3 if scanned_share > 0 else 0,
                                    receipts=receipts if receipt_share > 0 or model_busy else None,
                                    receipt_count=max(3, model_busy))
    truths: dict[str, dict] = {}  # document id -> its true field values
    plan = _kinds_plan(documents, scanned_share=scanned_share, receipt_share=receipt_share,
                       have_receipts=bool(files["receipt"])) if documents else []

    client = ApiClient(name=f"bench-load-{timezone.now():%Y%m%dT%H%M%S}", rate_limit_per_minute=0)
    token = ApiClient.new_token()
    client.set_token(token)
    client.save()

    if redis_url:
        # Every process of the stack gets this URL as it is, database number included.
        redis = RedisServer.running_at(redis_url, folder / "redis")
    else:
        redis = RedisServer(folder / "redis").start()
    broker_url = redis.url
    stack = Stack(folder=folder, database_url=_database_url(), redis=redis,
                  # The stack's data folder is its own; the key file and the models stay this
                  # installation's (without them gunicorn refuses to start and the workers
                  # have no model to extract with).
                  extra_env={"DOCPROC_MEDIA_ROOT": str(settings.MEDIA_ROOT), "DOCPROC_LOG_LEVEL": "WARNING",
                             "DOCPROC_SECRET_KEY_FILE": str(settings.DOCPROC_SECRET_KEY_FILE),
                             "DOCPROC_MODELS_DIR": str(settings.DOCPROC_MODELS_DIR),
                             "DOCPROC_PIPELINE_STAGES": "1" if pipeline else "0"})
    # Which worker processes consume each queue (for its utilisation).
    if pipeline:
        topology = [("cpu", "cpu"), *((f"ocr{i}", "ocr") for i in range(ocr_workers)), ("gpu", "gpu")]
    else:
        topology = [(f"bench{i}", "cpu,ocr,gpu") for i in range(workers)]
    consumers = {q: sum(q in queues.split(",") for _, queues in topology) for q in ("cpu", "ocr", "gpu")}
    samples: list[dict] = []
    uploads: list[Upload] = []
    lock = threading.Lock()
    try:
        for name, queues in topology:
            stack.start_worker(name, queues=queues)
        base = stack.start_web(workers=web_workers, threads=web_threads)
        log(f"web at {base}, workers {topology}; {concurrency} uploaders "
            + (f"for {len(plan)} documents ..." if plan else f"for {seconds}s ..."))

        import redis as redis_lib

        broker = redis_lib.Redis.from_url(broker_url)
        busy_before = _busy(broker)
        preloaded = _keep_model_busy(base, token, files, file_truth, model_busy, log=log) if model_busy else {}
        truths.update(preloaded)
        t0 = time.monotonic()
        deadline = t0 + seconds
        counter = iter(range(10**9))
        stop_sampling = threading.Event()

        def depth_of(queue: str) -> int:
            return broker.llen(queue) + sum(broker.llen(f"{queue}\x06\x16{p}") for p in range(1, 10))

        def sample() -> None:
            while not stop_sampling.wait(1.0):
                try:
                    depth = {q: depth_of(q) for q in ("cpu", "ocr", "gpu")}
                except Exception as exc:
                    depth = {"error": type(exc).__name__}
                samples.append({"t": round(time.monotonic() - t0, 1), **depth})

        def next_kind(rng: random.Random) -> str | None:
            if documents:
                with lock:
                    return plan.pop(0) if plan else None
            if time.monotonic() >= deadline:
                return None
            roll = rng.random()
            if files["receipt"] and roll < receipt_share:
                return "receipt"
            return "scanned" if files["scanned"] and roll < receipt_share + scanned_share else "digital"

        def uploader(seed: int) -> None:
            rng = random.Random(seed)
            while time.monotonic() < deadline and (kind := next_kind(rng)) is not None:
                with lock:
                    n = next(counter)
                index = rng.randrange(len(files[kind]))
                data = _unique(files[kind][index], kind, n)
                started = time.monotonic()
                try:
                    name = f"{kind}-{n}.{SUFFIX[kind]}"
                    status, body = upload_over_http(base, token, data, name, doc_type=DOC_TYPES[kind],
                                                    timeout=request_timeout)
                    error = "" if status in (200, 201) else str(body.get("code") or body.get("detail", ""))[:200]
                except Exception as exc:  # timeouts, resets: the load broke something
                    status, body, error = 0, {}, f"{type(exc).__name__}: {exc}"[:200]
                with lock:
                    uploads.append(Upload(kind, round(started - t0, 3), round(time.monotonic() - started, 4),
                                          status, body.get("id", "") if status in (200, 201) else "", error))
                    if status in (200, 201):
                        truths[str(body.get("id"))] = file_truth[kind][index]
                if think_seconds:
                    time.sleep(think_seconds)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        threads = [threading.Thread(target=uploader, args=(i,), daemon=True) for i in range(concurrency)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=seconds + request_timeout + 30)
        load_end = time.monotonic()
        accepted = {u.document: u.kind for u in uploads if u.document}
        accepted.update({doc_id: "receipt" for doc_id in preloaded})
        log(f"{len(uploads)} uploads, {len(accepted)} accepted; draining ...")

        def pending() -> int:
            return Document.objects.filter(client=client).exclude(status__in=PIPELINE_DONE).count()

        try:
            wait_until(lambda: pending() == 0, timeout=drain_seconds, interval=1, what="drain")
        except TimeoutError:
            pass
        drain_end = time.monotonic()
        stop_sampling.set()
        busy_after = _busy(broker)
    finally:
        stack.stop()

    busy = {q: round(busy_after.get(q, 0.0) - busy_before.get(q, 0.0), 3) for q in ("cpu", "ocr", "gpu")}
    window = max(drain_end - t0, 1e-9)
    report = _report(client, uploads, accepted, samples, t0=t0, load_end=load_end, drain_end=drain_end,
                          options={"concurrency": concurrency, "seconds": seconds, "scanned_share": scanned_share,
                                   "receipt_share": receipt_share if files["receipt"] else 0.0,
                                   "documents": documents, "pipeline": "on" if pipeline else "off",
                                   "model_busy": len(preloaded),
                                   "workers": [f"{name}:{queues}" for name, queues in topology],
                                   "extractor": settings.DOCPROC_EXTRACT_ENGINE,
                                   "web_workers": web_workers, "web_threads": web_threads,
                                   "drain_seconds": drain_seconds, "think_seconds": think_seconds,
                                   "private_redis": not redis_url, "database": connection.vendor},
                          logs={p.name: p.read_text(errors="replace") for p in folder.glob("*.log")})
    # A queue's utilisation: the busy share of the processes that consume it, over the whole run
    # (first upload to the drain's end). In the single-task mode every process takes every queue:
    # the figures are then each queue's share of all the workers' time.
    report["queues"] = {q: {"busy_seconds": busy[q], "worker_processes": consumers[q],
                            "utilisation": round(busy[q] / (window * consumers[q]), 3) if consumers[q] else None}
                        for q in ("cpu", "ocr", "gpu")}
    report["auto_accepted_wrong"] = _auto_accepted_wrong(accepted, truths)
    report["workers_utilisation"] = round(sum(busy.values()) / (window * len(topology)), 3)
    (out / "load-report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "load-report.md").write_text(markdown(report))
    return report

def _report(client, uploads: list[Upload], accepted: dict[str, str], samples, *, t0, load_end, drain_end,
            options, logs) -> dict:
    docs = {str(d["id"]): d for d in Document.objects.filter(client=client).values(
        "id", "status", "error_code", "created_at", "finished_at", "updated_at")}
    by_kind: dict[str, dict] = {}
    for kind in KINDS:
        ids = [i for i, k in accepted.items() if k == kind]
        done = [docs[i] for i in ids if i in docs and docs[i]["status"] in PIPELINE_DONE]
        latencies = [u.seconds for u in uploads if u.kind == kind and u.document]
        span = _span_minutes(done)
        by_kind[kind] = {
            "accepted": len(ids), "reached_final": len(done),
            "statuses": dict(Counter(d["status"] for d in done)),
            "errors": dict(Counter(d["error_code"] for d in done if d["error_code"])),
            "documents_per_minute": round(len(done) / span, 2) if span else None,
            "upload_p50_s": _percentile(latencies, 50), "upload_p99_s": _percentile(latencies, 99),
        }
    ok_latencies = [u.seconds for u in uploads if u.document]
    refused = Counter(f"{u.status} {u.error}" for u in uploads if not u.document)
    not_final = [i for i in accepted if i not in docs or docs[i]["status"] not in PIPELINE_DONE]
    all_done = [docs[i] for i in accepted if i in docs and docs[i]["status"] in PIPELINE_DONE]
    span = _span_minutes(all_done)
    errors = Counter(d["error_code"] for d in all_done if d["error_code"])
    log_problems = {
        name: [line[:300] for line in text.splitlines()
               if any(w in line for w in ("ERROR", "CRITICAL", "Traceback", "WORKER TIMEOUT", "OperationalError"))][:20]
        for name, text in logs.items()
    }
    return {
        "options": options,
        "uploads": len(uploads), "accepted": len(accepted),
        "upload_seconds": {"p50": _percentile(ok_latencies, 50), "p90": _percentile(ok_latencies, 90),
                           "p99": _percentile(ok_latencies, 99),
                           "max": round(max(ok_latencies), 4) if ok_latencies else None,
                           "mean": round(statistics.fmean(ok_latencies), 4) if ok_latencies else None},
        "uploads_per_second": round(len(accepted) / max(load_end - t0, 1e-9), 2),
        "not_accepted": dict(refused),
        "by_path": by_kind,
        "documents_per_minute": round(len(all_done) / span, 2) if span else None,
        "errors": dict(errors),
        "not_final": len(not_final), "not_final_ids": not_final[:50],
        "load_phase_s": round(load_end - t0, 1), "drain_phase_s": round(drain_end - load_end, 1),
        "max_queue_depth": {q: max((s.get(q, 0) for s in samples if isinstance(s.get(q), int)), default=0)
                            for q in ("cpu", "ocr", "gpu")},
        "queue_samples": samples[::max(1, len(samples) // 120)],
        "log_problems": {k: v for k, v in log_problems.items() if v},
    }

def _span_minutes(done: list[dict]) -> float:
    if not done:
        return 0.0
    start = min(d["created_at"] for d in done)
    end = max((d["finished_at"] or d["updated_at"]) for d in done)
    return max((end - start).total_seconds() / 60.0, 1 / 60)

def markdown(r: dict) -> str:
    o = r["options"]
    what = (f"a batch of {o['documents']} documents" if o.get("documents") else f"{o['seconds']} s")
    lines = [
        "# Load bench", "",
        f"{o['concurrency']} uploaders for {what} ({o['scanned_share']:.0%} scanned claims, "
        f"{o.get('receipt_share', 0):.0%} receipts); pipeline {o.get('pipeline', 'on')}, extractor "
        f"{o.get('extractor', '')}; gunicorn {o['web_workers']}x{o['web_threads']}, Celery workers "
        f"{o['workers']}; database {o['database']}."
        + (f" The load started once the model was reading the first of {o['model_busy']} receipts uploaded before it."
           if o.get("model_busy") else ""), "",
        f"- documents per minute end to end (first upload to last final state): **{r.get('documents_per_minute')}**",
        f"- failed with a code: {r.get('errors') or 'none'}",
        "- auto-accepted wrong values: " + (", ".join(
            f"{kind} {v['wrong']} of {v['auto_accepted']}" for kind, v in r["auto_accepted_wrong"].items())
            if r.get("auto_accepted_wrong") else "not measured"),
        f"- uploads: {r['uploads']}, accepted: {r['accepted']} ({r['uploads_per_second']}/s during the load phase)",
        f"- upload latency (accepted): p50 {r['upload_seconds']['p50']} s, p90 {r['upload_seconds']['p90']} s, "
        f"p99 {r['upload_seconds']['p99']} s, max {r['upload_seconds']['max']} s",
        f"- not accepted: {r['not_accepted'] or 'none'}",
        f"- accepted uploads not in a final state after {r['drain_phase_s']} s of drain: **{r['not_final']}**",
        f"- largest queue depth: {r['max_queue_depth']}", "",
        "| path | accepted | reached final | documents/min | upload p50 s | upload p99 s | statuses |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind, k in r["by_path"].items():
        lines.append(f"| {kind} | {k['accepted']} | {k['reached_final']} | {k['documents_per_minute']} | "
                     f"{k['upload_p50_s']} | {k['upload_p99_s']} | {k['statuses']} |")
    if r.get("queues"):
        lines += ["", f"Queue utilisation (busy share of its worker processes; all workers: "
                      f"{r.get('workers_utilisation')}):", "",
                  "| queue | worker processes | busy s | utilisation |", "|---|---|---|---|"]
        for q, v in r["queues"].items():
            lines.append(f"| {q} | {v['worker_processes']} | {v['busy_seconds']} | {v['utilisation']} |")
    if r["log_problems"]:
        lines += ["", "Problems in the process logs:"]
        for name, found in r["log_problems"].items():
            lines.append(f"- {name}: {len(found)} lines, first: `{found[0][:200]}`")
    return "\n".join(lines) + "\n"
