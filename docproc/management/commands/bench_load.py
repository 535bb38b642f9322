"""``manage.py bench_load``: the load benchmark (docproc/bench/load.py, which says what it
measures). Fails unless uploads were accepted and every one reached a final state."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from docproc.bench.load import markdown, run_load_bench


class Command(BaseCommand):
    help = "Load-test uploads against gunicorn and Celery workers started on this machine (loopback only)."

    def add_arguments(self, parser):
        parser.add_argument("--concurrency", type=int, default=50, help="concurrent uploaders (at most 200)")
        parser.add_argument("--seconds", type=int, default=60, help="length of the upload phase (at most 3600)")
        parser.add_argument("--out", type=Path, required=True)
        parser.add_argument("--scanned-share", type=float, default=0.2, help="share of uploads that are scans")
        parser.add_argument("--pipeline", choices=("on", "off"), default="on",
                            help="on: the pipelined stages (a worker on cpu, --ocr-workers on ocr, one on gpu); "
                                 "off: the single-task mode (--workers processes each on every queue)")
        parser.add_argument("--workers", type=int, default=2,
                            help="with --pipeline off: Celery worker processes (each takes every queue)")
        parser.add_argument("--ocr-workers", type=int, default=1, help="with --pipeline on: worker processes on ocr")
        parser.add_argument("--documents", type=int, default=0,
                            help="upload a fixed mixed batch of this many documents (0: upload for --seconds)")
        parser.add_argument("--receipts", type=Path, default=None,
                            help="a receipts dataset folder (manifest.jsonl, images/) for the receipt share")
        parser.add_argument("--receipt-share", type=float, default=0.0, help="share of uploads that are receipts")
        parser.add_argument("--model-busy", type=int, default=0,
                            help="upload this many receipts (from --receipts) first and start the load once the "
                                 "model reads one, to measure uploads while the LLM runs")
        parser.add_argument("--web-workers", type=int, default=2, help="gunicorn worker processes")
        parser.add_argument("--web-threads", type=int, default=4, help="threads per gunicorn worker")
        parser.add_argument("--drain-seconds", type=int, default=600,
                            help="how long to wait after the upload phase for queued documents to finish")
        parser.add_argument("--think-seconds", type=float, default=0.0, help="pause of each uploader between uploads")
        parser.add_argument("--redis-url", default="", help="use this broker instead of a private redis-server")
        parser.add_argument("--request-timeout", type=float, default=60.0)

    def handle(self, *args, concurrency: int, seconds: int, out: Path, scanned_share: float, workers: int,
               web_workers: int, web_threads: int, drain_seconds: int, think_seconds: float, redis_url: str,
               request_timeout: float, pipeline: str, ocr_workers: int, documents: int, receipts: Path | None,
               receipt_share: float, model_busy: int, **opts):
        if not 1 <= concurrency <= 200 or not 1 <= seconds <= 3600 or not 0 <= scanned_share <= 1:
            raise CommandError("--concurrency is 1..200, --seconds 1..3600, --scanned-share 0..1")
        if not 1 <= workers <= 16 or not 1 <= web_workers <= 16 or not 1 <= ocr_workers <= 16:
            raise CommandError("--workers, --ocr-workers and --web-workers are 1..16")
        if not 0 <= documents <= 10000 or not 0 <= receipt_share <= 1 or scanned_share + receipt_share > 1:
            raise CommandError("--documents is 0..10000, --receipt-share 0..1, and the shares add up to at most 1")
        if not 0 <= model_busy <= 100:
            raise CommandError("--model-busy is 0..100")
        if (receipt_share or model_busy) and (receipts is None or not (receipts / "manifest.jsonl").is_file()):
            raise CommandError("--receipt-share and --model-busy need --receipts DIR with a manifest.jsonl (e.g. the receipts-sroie dataset)")
        report = run_load_bench(concurrency=concurrency, seconds=seconds, out=out, scanned_share=scanned_share,
                                workers=workers, web_workers=web_workers, web_threads=web_threads,
                                drain_seconds=drain_seconds, think_seconds=think_seconds, redis_url=redis_url,
                                request_timeout=request_timeout, log=self.stderr.write, pipeline=pipeline == "on",
                                ocr_workers=ocr_workers, documents=documents, receipts=receipts,
                                receipt_share=receipt_share, model_busy=model_busy)
        self.stdout.write(markdown(report))
        if not report["accepted"]:
            raise CommandError(f"no upload was accepted: {report['not_accepted']}")
        if report["not_final"]:
            raise CommandError(f"{report['not_final']} accepted uploads did not reach a final state")
