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
        parser.add_argument("--workers", type=int, default=2, help="Celery worker processes (each takes both queues)")
        parser.add_argument("--web-workers", type=int, default=2, help="gunicorn worker processes")
        parser.add_argument("--web-threads", type=int, default=4, help="threads per gunicorn worker")
        parser.add_argument("--drain-seconds", type=int, default=600,
                            help="how long to wait after the upload phase for queued documents to finish")
        parser.add_argument("--think-seconds", type=float, default=0.0, help="pause of each uploader between uploads")
        parser.add_argument("--redis-url", default="", help="use this broker instead of a private redis-server")
        parser.add_argument("--request-timeout", type=float, default=60.0)

    def handle(self, *args, concurrency: int, seconds: int, out: Path, scanned_share: float, workers: int,
               web_workers: int, web_threads: int, drain_seconds: int, think_seconds: float, redis_url: str,
               request_timeout: float, **opts):
        if not 1 <= concurrency <= 200 or not 1 <= seconds <= 3600 or not 0 <= scanned_share <= 1:
            raise CommandError("--concurrency is 1..200, --seconds 1..3600, --scanned-share 0..1")
        if not 1 <= workers <= 16 or not 1 <= web_workers <= 16:
            raise CommandError("--workers and --web-workers are 1..16")
        report = run_load_bench(concurrency=concurrency, seconds=seconds, out=out, scanned_share=scanned_share,
                                workers=workers, web_workers=web_workers, web_threads=web_threads,
                                drain_seconds=drain_seconds, think_seconds=think_seconds, redis_url=redis_url,
                                request_timeout=request_timeout, log=self.stderr.write)
        self.stdout.write(markdown(report))
        if not report["accepted"]:
            raise CommandError(f"no upload was accepted: {report['not_accepted']}")
        if report["not_final"]:
            raise CommandError(f"{report['not_final']} accepted uploads did not reach a final state")
