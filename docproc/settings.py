"""Django settings, read from the environment.

Every knob is an environment variable; the defaults run on one machine with no other service
than Redis: SQLite and files in ``./data``, the embedded OCR engine and the rules extractor
fallback. See README.md for the full list.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from docproc.logging import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw not in (None, "") else default


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw not in (None, "") else default


DATA_DIR = Path(env("DOCPROC_DATA_DIR", str(BASE_DIR / "data")))

DEBUG = env_bool("DOCPROC_DEBUG", False)
# The built-in key signs sessions and CSRF tokens that anyone with this source could forge: the
# system check docproc.E001 refuses it unless DEBUG is on. scripts/install writes a random key to
# DOCPROC_SECRET_KEY_FILE (default data/secret-key, mode 0600) for a single machine.
BUILTIN_SECRET_KEY = "docproc-insecure-development-key-set-DOCPROC_SECRET_KEY-in-production"
DOCPROC_SECRET_KEY_FILE = Path(env("DOCPROC_SECRET_KEY_FILE", str(DATA_DIR / "secret-key")))
SECRET_KEY = env("DOCPROC_SECRET_KEY", "")
if not SECRET_KEY and DOCPROC_SECRET_KEY_FILE.is_file():
    SECRET_KEY = DOCPROC_SECRET_KEY_FILE.read_text().strip()
if not SECRET_KEY:
    SECRET_KEY = BUILTIN_SECRET_KEY
ALLOWED_HOSTS = [h.strip() for h in env("DOCPROC_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver").split(",") if h.strip()]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in env("DOCPROC_CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "django_prometheus",
    "docproc",
    "docproc.audit",
    "reviewer",
    "workers",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "docproc.middleware.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "docproc.middleware.RequestIdMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "docproc.audit.middleware.AuditContextMiddleware",
    "docproc.middleware.SessionIdleTimeoutMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires: it turns a locked-out sign-in into its 429 page.
    "axes.middleware.AxesMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "docproc.urls"
WSGI_APPLICATION = "docproc.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env("DATABASE_URL", f"sqlite:///{DATA_DIR / 'docproc.sqlite3'}"),
        conn_max_age=env_int("DOCPROC_DB_CONN_MAX_AGE", 0),
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # Workers and web share the file: wait for the write lock instead of failing at once.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 30
    DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"
    # Tests share the test database with a real worker process: a file, not memory.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test-docproc.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
     "OPTIONS": {"min_length": env_int("DOCPROC_PASSWORD_MIN_LENGTH", 10)}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# django-axes checks every sign-in (the login page and the admin's) before the model backend.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

# --- Sign-in and sessions -----------------------------------------------------------------------
# Lockout per (user name, address) pair: one address guessing one account is stopped, while a
# colleague behind the same NAT, or the real user from elsewhere, can still sign in.
AXES_FAILURE_LIMIT = env_int("DOCPROC_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = env_int("DOCPROC_LOGIN_LOCKOUT_SECONDS", 900) / 3600  # hours, as axes wants
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "docproc.netaddr.client_ip"
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
# The audit log keeps sign-ins; axes' own access log would be a second, unchained copy.
AXES_DISABLE_ACCESS_LOG = True
# A signed-in session ends after this many seconds without a request, and at the latest after
# DOCPROC_SESSION_MAX_AGE_SECONDS whatever the activity.
DOCPROC_SESSION_IDLE_SECONDS = env_int("DOCPROC_SESSION_IDLE_SECONDS", 30 * 60)
SESSION_COOKIE_AGE = env_int("DOCPROC_SESSION_MAX_AGE_SECONDS", 8 * 3600)
# Number of reverse proxies in front of the web server that append to X-Forwarded-For; the client
# address is the one the outermost trusted proxy saw. 0: REMOTE_ADDR, X-Forwarded-For ignored.
DOCPROC_TRUSTED_PROXIES = env_int("DOCPROC_TRUSTED_PROXIES", 0)
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(env("DOCPROC_STATIC_ROOT", str(DATA_DIR / "static")))
# --- Files: originals and page previews --------------------------------------------------------
# Every file goes through Django's storage API (docproc/storage.py), never a local path, so that
# web and workers may run on different hosts. "local": FileSystemStorage under MEDIA_ROOT (one
# machine, or a folder every host mounts). "s3": an S3-compatible bucket through django-storages;
# MEDIA_ROOT then holds only short-lived local copies (MEDIA_ROOT/tmp), each removed after use.
STORAGE_BACKENDS = {"local": "django.core.files.storage.FileSystemStorage", "s3": "storages.backends.s3.S3Storage"}
DOCPROC_STORAGE = env("DOCPROC_STORAGE", "local").strip().lower()
if DOCPROC_STORAGE not in STORAGE_BACKENDS:
    raise ImproperlyConfigured(f"DOCPROC_STORAGE={DOCPROC_STORAGE!r} is not a storage; use one of {', '.join(STORAGE_BACKENDS)}")
DOCPROC_S3_ENDPOINT_URL = env("DOCPROC_S3_ENDPOINT_URL", "")  # empty: AWS itself
DOCPROC_S3_BUCKET = env("DOCPROC_S3_BUCKET", "")
DOCPROC_S3_PREFIX = env("DOCPROC_S3_PREFIX", "").strip("/")  # keys under this folder of the bucket
# Empty keys: boto3's own chain (AWS_* variables, the instance's or pod's role).
DOCPROC_S3_ACCESS_KEY_ID = env("DOCPROC_S3_ACCESS_KEY_ID", "")
DOCPROC_S3_SECRET_ACCESS_KEY = env("DOCPROC_S3_SECRET_ACCESS_KEY", "")
DOCPROC_S3_REGION = env("DOCPROC_S3_REGION", "")
# Server-side encryption of every object written: AES256 (the server's keys), aws:kms (with
# DOCPROC_S3_SSE_KMS_KEY_ID, or the bucket's default KMS key), or empty for none.
DOCPROC_S3_SSE = env("DOCPROC_S3_SSE", "AES256").strip()
DOCPROC_S3_SSE_KMS_KEY_ID = env("DOCPROC_S3_SSE_KMS_KEY_ID", "")
# "path" (bucket in the URL path) suits self-hosted servers (SeaweedFS, MinIO) reached by address.
DOCPROC_S3_ADDRESSING_STYLE = env("DOCPROC_S3_ADDRESSING_STYLE", "path" if DOCPROC_S3_ENDPOINT_URL else "auto")
if DOCPROC_STORAGE == "s3" and not DOCPROC_S3_BUCKET:
    raise ImproperlyConfigured("DOCPROC_STORAGE=s3 needs DOCPROC_S3_BUCKET (and DOCPROC_S3_ENDPOINT_URL for a server other than AWS)")
if DOCPROC_S3_SSE not in ("", "AES256", "aws:kms"):
    raise ImproperlyConfigured(f"DOCPROC_S3_SSE={DOCPROC_S3_SSE!r}: use AES256, aws:kms or leave it empty")


def _s3_options() -> dict:
    object_parameters = {"ServerSideEncryption": DOCPROC_S3_SSE} if DOCPROC_S3_SSE else {}
    if DOCPROC_S3_SSE == "aws:kms" and DOCPROC_S3_SSE_KMS_KEY_ID:
        object_parameters["SSEKMSKeyId"] = DOCPROC_S3_SSE_KMS_KEY_ID
    return {
        "bucket_name": DOCPROC_S3_BUCKET, "location": DOCPROC_S3_PREFIX,
        "endpoint_url": DOCPROC_S3_ENDPOINT_URL or None, "region_name": DOCPROC_S3_REGION or None,
        "access_key": DOCPROC_S3_ACCESS_KEY_ID or None, "secret_key": DOCPROC_S3_SECRET_ACCESS_KEY or None,
        "addressing_style": DOCPROC_S3_ADDRESSING_STYLE, "signature_version": "s3v4",
        "object_parameters": object_parameters,
        # Objects stay private: the review UI streams page images after its permission check
        # (README, "Storage") and hands out no URL; a URL asked for anyway is a signed one.
        "default_acl": None, "querystring_auth": True, "custom_domain": None,
        "file_overwrite": True,  # names are chosen by docproc (one per document and page)
        "max_memory_size": 8 * 1024 * 1024,  # larger downloads spill to a temporary file
    }


STORAGES = {
    "default": ({"BACKEND": STORAGE_BACKENDS["s3"], "OPTIONS": _s3_options()} if DOCPROC_STORAGE == "s3"
                else {"BACKEND": STORAGE_BACKENDS["local"]}),
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Uploaded documents are never served as public media: views check the role first.
MEDIA_ROOT = Path(env("DOCPROC_MEDIA_ROOT", str(DATA_DIR / "media")))
MEDIA_URL = "/_private_media/"
FILE_UPLOAD_PERMISSIONS = 0o640
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o750
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/review/"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["docproc.api.auth.ApiTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["docproc.api.auth.IsApiClient"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "docproc.api.errors.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_THROTTLE_CLASSES": ["docproc.api.throttling.ApiClientRateThrottle",
                                 "docproc.api.throttling.DailyUploadQuotaThrottle"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "docproc API",
    "DESCRIPTION": "Upload documents, follow their processing and read extracted fields with provenance.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Served from the project's own static files, never a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Celery / Redis -----------------------------------------------------------------------
REDIS_URL = env("REDIS_URL", "redis://127.0.0.1:6379/0")
CELERY_BROKER_URL = env("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env_bool("DOCPROC_TASKS_EAGER", False)
# Time limits per task; the broker's visibility timeout must stay above the longest one or
# Redis hands a still-running task to a second worker.
DOCPROC_TASK_SOFT_TIME_LIMIT = env_int("DOCPROC_TASK_SOFT_TIME_LIMIT", 900)
DOCPROC_TASK_TIME_LIMIT = env_int("DOCPROC_TASK_TIME_LIMIT", 960)
DOCPROC_VISIBILITY_TIMEOUT = env_int("DOCPROC_VISIBILITY_TIMEOUT", 3600)
CELERY_TASK_SOFT_TIME_LIMIT = DOCPROC_TASK_SOFT_TIME_LIMIT
CELERY_TASK_TIME_LIMIT = DOCPROC_TASK_TIME_LIMIT
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # Strictly above the hard time limit; the fault tests set all three low to see redelivery.
    "visibility_timeout": max(DOCPROC_VISIBILITY_TIMEOUT, DOCPROC_TASK_TIME_LIMIT + 5),
    # Ten priority levels (one Redis list each), the lowest number taken first: the fairness
    # between clients in docproc/dispatch.py.
    "priority_steps": list(range(10)),
    "queue_order_strategy": "priority",
}
# Pipelined stages: ingest and a digital PDF's text layer on "cpu", render + OCR + layout on
# "ocr", extraction on "gpu", each its own task. Off: one task on "gpu" reads and extracts (the
# single-task mode, kept for comparison in bench_load --pipeline off).
DOCPROC_PIPELINE_STAGES = env_bool("DOCPROC_PIPELINE_STAGES", True)
# Fairness: a document's tasks drop one priority level per this many documents of the same
# client in flight ahead of it (0: no priorities, first come first served).
DOCPROC_FAIR_SHARE_STEP = env_int("DOCPROC_FAIR_SHARE_STEP", 1)
# The safety net against memory that grows in a long-lived worker (models stay loaded, so the
# limits are generous): a pool process is replaced after this many tasks, or after a task that
# leaves it above this resident size (KiB for Celery; the setting is in MiB). 0 turns one off.
DOCPROC_WORKER_MAX_TASKS = env_int("DOCPROC_WORKER_MAX_TASKS", 500)
DOCPROC_WORKER_MAX_MEMORY_MB = env_int("DOCPROC_WORKER_MAX_MEMORY_MB", 3072)
CELERY_WORKER_MAX_TASKS_PER_CHILD = DOCPROC_WORKER_MAX_TASKS or None
CELERY_WORKER_MAX_MEMORY_PER_CHILD = DOCPROC_WORKER_MAX_MEMORY_MB * 1024 or None

# --- Engines ------------------------------------------------------------------------------
# Document types: the shipped docproc/doctypes/*.yaml plus the user's own *.yaml files here,
# loaded and checked when a process starts (a broken file stops it, naming the file and line).
DOCPROC_DOCTYPES_DIR = Path(env("DOCPROC_DOCTYPES_DIR", str(DATA_DIR / "doctypes")))
DOCPROC_OCR_ENGINE = env("DOCPROC_OCR_ENGINE", "rapidocr")
DOCPROC_LAYOUT_ENGINE = env("DOCPROC_LAYOUT_ENGINE", "pdf-structure")
DOCPROC_EXTRACT_ENGINE = env("DOCPROC_EXTRACT_ENGINE", "llamacpp")
DOCPROC_DEVICE = env("DOCPROC_DEVICE", "cpu")
DOCPROC_OCR_THREADS = env_int("DOCPROC_OCR_THREADS", 1)
DOCPROC_PADDLE_MODEL_DIR = env("DOCPROC_PADDLE_MODEL_DIR", "")
# OCR: Tesseract's language (a traineddata Debian installs), and the share of a PDF page's
# visible text its text layer must cover before the page is trusted without OCR.
DOCPROC_TESSERACT_LANG = env("DOCPROC_TESSERACT_LANG", "eng")
# rapidocr: its text detector's settings (measured on the shared receipts, see the README),
# the long side above which it shrinks a page (0: never; the preprocessing already sized the
# page for the recogniser) and the characters recognition may emit (all, latin, ascii).
DOCPROC_RAPIDOCR_UNCLIP_RATIO = env_float("DOCPROC_RAPIDOCR_UNCLIP_RATIO", 1.6)
DOCPROC_RAPIDOCR_BOX_THRESH = env_float("DOCPROC_RAPIDOCR_BOX_THRESH", 0.5)
DOCPROC_RAPIDOCR_THRESH = env_float("DOCPROC_RAPIDOCR_THRESH", 0.3)
DOCPROC_RAPIDOCR_MAX_SIDE_LEN = env_int("DOCPROC_RAPIDOCR_MAX_SIDE_LEN", 2000)
DOCPROC_OCR_CHARSET = env("DOCPROC_OCR_CHARSET", "all")
# The recogniser that reads each OCR'd value's lines again ("" or "none": off); where it reads
# otherwise, the field says which characters are in doubt.
DOCPROC_SECOND_READING_ENGINE = env("DOCPROC_SECOND_READING_ENGINE", "tesseract")
DOCPROC_TEXT_LAYER_MIN_COVERAGE = env_float("DOCPROC_TEXT_LAYER_MIN_COVERAGE", 0.7)
# Layout: DOCPROC_LAYOUT_ENGINE=none turns the stage off; layoutparser needs these files.
DOCPROC_LAYOUTPARSER_CONFIG = env("DOCPROC_LAYOUTPARSER_CONFIG", "")
DOCPROC_LAYOUTPARSER_WEIGHTS = env("DOCPROC_LAYOUTPARSER_WEIGHTS", "")
DOCPROC_LAYOUTPARSER_LABELS = env("DOCPROC_LAYOUTPARSER_LABELS", "")
DOCPROC_MODELS_DIR = Path(env("DOCPROC_MODELS_DIR", str(DATA_DIR / "models")))
DOCPROC_LLM_MODEL = env("DOCPROC_LLM_MODEL", "qwen2.5-coder-1.5b-instruct-q4_k_m")
DOCPROC_LLM_GGUF = env("DOCPROC_LLM_GGUF", "")
# LLM extraction (llamacpp, transformers, openai backends); see docproc/pipeline/extract/.
# The answer cache on disk holds extracted personal data and serves only re-runs and benches:
# on by default in development (DOCPROC_DEBUG) only. "" keeps answers in memory only.
DOCPROC_LLM_CACHE_DIR = env("DOCPROC_LLM_CACHE_DIR", str(DATA_DIR / "llm-cache") if DEBUG else "")
DOCPROC_LLM_THREADS = env_int("DOCPROC_LLM_THREADS", min(4, os.cpu_count() or 1))  # more threads than cores slows llama.cpp down
DOCPROC_LLM_CTX = env_int("DOCPROC_LLM_CTX", 4096)
DOCPROC_LLM_MAX_TOKENS = env_int("DOCPROC_LLM_MAX_TOKENS", 512)
# Vendor memory (docproc/memory.py): values reviewers verified on a sender's documents become the
# next document's candidates where it prints them; its verified documents become worked examples
# in an LLM's prompt, within this many (estimated) tokens (0: no examples).
DOCPROC_MEMORY = env_bool("DOCPROC_MEMORY", True)
DOCPROC_MEMORY_MIN_SIMILARITY = env_float("DOCPROC_MEMORY_MIN_SIMILARITY", 0.5)
DOCPROC_MEMORY_MAX_SLIP_RATIO = env_float("DOCPROC_MEMORY_MAX_SLIP_RATIO", 0.1)
DOCPROC_MEMORY_MIN_DOCUMENTS = env_int("DOCPROC_MEMORY_MIN_DOCUMENTS", 1)
DOCPROC_LLM_EXAMPLE_TOKENS = env_int("DOCPROC_LLM_EXAMPLE_TOKENS", 1200)

# Document text (tokens, ~3 characters each) one model call may show when it asks only the fields
# the label rules and form template left open: the lines that can hold them, nearest first.
DOCPROC_LLM_PROMPT_BUDGET_TOKENS = env_int("DOCPROC_LLM_PROMPT_BUDGET_TOKENS", 400)
# The deadline of one model call: the backend stops generating and the document falls back to the
# rules (reason recorded). All calls of one document together get half of the task's soft limit.
DOCPROC_LLM_TIMEOUT_SECONDS = env_float("DOCPROC_LLM_TIMEOUT_SECONDS", 120.0)
# Layers llama.cpp puts on the GPU (needs a CUDA build of xllamacpp): all of them by default with
# DOCPROC_DEVICE=cuda, none on the CPU. DOCPROC_DEVICE (cpu|cuda) also puts rapidocr and
# rapid-layout on onnxruntime's CUDA provider and the transformers backend on cuda.
DOCPROC_LLM_GPU_LAYERS = env_int("DOCPROC_LLM_GPU_LAYERS", 99 if DOCPROC_DEVICE == "cuda" else 0)
DOCPROC_LLM_PRICE_INPUT_PER_MTOK = env_float("DOCPROC_LLM_PRICE_INPUT_PER_MTOK", 0.0)  # for the cost estimate
DOCPROC_LLM_PRICE_OUTPUT_PER_MTOK = env_float("DOCPROC_LLM_PRICE_OUTPUT_PER_MTOK", 0.0)
DOCPROC_HF_MODEL_DIR = env("DOCPROC_HF_MODEL_DIR", "")  # a transformers model folder; else the GGUF above
DOCPROC_OPENAI_BASE_URL = env("DOCPROC_OPENAI_BASE_URL", "")  # e.g. http://vllm:8000/v1
DOCPROC_OPENAI_MODEL = env("DOCPROC_OPENAI_MODEL", "")
DOCPROC_OPENAI_API_KEY = env("DOCPROC_OPENAI_API_KEY", "")
DOCPROC_OPENAI_TIMEOUT = env_float("DOCPROC_OPENAI_TIMEOUT", 60.0)
DOCPROC_OPENAI_RETRIES = env_int("DOCPROC_OPENAI_RETRIES", 2)

# --- Limits -------------------------------------------------------------------------------
DOCPROC_MAX_UPLOAD_BYTES = env_int("DOCPROC_MAX_UPLOAD_BYTES", 50 * 1024 * 1024)
DOCPROC_MAX_PAGES = env_int("DOCPROC_MAX_PAGES", 200)
DOCPROC_MAX_IMAGE_PIXELS = env_int("DOCPROC_MAX_IMAGE_PIXELS", 80_000_000)
DOCPROC_RENDER_DPI = env_int("DOCPROC_RENDER_DPI", 200)
DOCPROC_STUCK_AFTER_SECONDS = env_int("DOCPROC_STUCK_AFTER_SECONDS", 1800)
# Learning from review: the precision a calibration refit's thresholds must reach on held-out
# outcomes, the share of auto-accepted documents sent to review anyway as a sample, and the refit.
DOCPROC_TARGET_PRECISION = env_float("DOCPROC_TARGET_PRECISION", 0.995)
DOCPROC_SAMPLE_RATE = env_float("DOCPROC_SAMPLE_RATE", 0.02)
DOCPROC_CALIBRATION_MIN_OUTCOMES = env_int("DOCPROC_CALIBRATION_MIN_OUTCOMES", 50)
DOCPROC_CALIBRATION_MIN_THRESHOLD = env_float("DOCPROC_CALIBRATION_MIN_THRESHOLD", 0.9)
DOCPROC_CALIBRATION_FOLDS = env_int("DOCPROC_CALIBRATION_FOLDS", 5)
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

# --- Webhooks -----------------------------------------------------------------------------
DOCPROC_WEBHOOK_TIMEOUT = env_float("DOCPROC_WEBHOOK_TIMEOUT", 10.0)
DOCPROC_WEBHOOK_MAX_ATTEMPTS = env_int("DOCPROC_WEBHOOK_MAX_ATTEMPTS", 8)
DOCPROC_WEBHOOK_ALLOW_PRIVATE = env_bool("DOCPROC_WEBHOOK_ALLOW_PRIVATE", False)

# --- Limits per client, metrics, worker liveness ----------------------------------------------
# Upload requests per API client per UTC day (0: no quota); the per-minute rate limit is
# ApiClient.rate_limit_per_minute. Both are counted in Redis.
DOCPROC_DAILY_UPLOAD_QUOTA = env_int("DOCPROC_DAILY_UPLOAD_QUOTA", 0)
# API requests without a valid token per address per minute before 429 (0: no limit).
DOCPROC_ANON_RATE_PER_MINUTE = env_int("DOCPROC_ANON_RATE_PER_MINUTE", 30)
# /metrics answers a scraper sending "Authorization: Bearer <this token>", and staff users.
DOCPROC_METRICS_TOKEN = env("DOCPROC_METRICS_TOKEN", "")
# Workers write a heartbeat this often; /readyz wants one seen within DOCPROC_WORKER_STALE_SECONDS.
DOCPROC_WORKER_HEARTBEAT_SECONDS = env_int("DOCPROC_WORKER_HEARTBEAT_SECONDS", 15)
DOCPROC_WORKER_STALE_SECONDS = env_int("DOCPROC_WORKER_STALE_SECONDS", 90)
# The queues this worker process consumes (scripts/run and docker-compose set it per worker);
# a worker on "gpu" loads its models at start-up instead of on its first document.
DOCPROC_WORKER_QUEUES = [q.strip() for q in env("DOCPROC_WORKER_QUEUES", "").split(",") if q.strip()]
# Workers run at this nice level (0-19; 0 leaves it): on a host shared with the web server, OCR
# and the model's threads yield the CPU to requests, so uploads answer at once under a backlog.
DOCPROC_WORKER_NICE = min(max(env_int("DOCPROC_WORKER_NICE", 10), 0), 19)

# --- Review -------------------------------------------------------------------------------
DOCPROC_REVIEW_LOCK_SECONDS = env_int("DOCPROC_REVIEW_LOCK_SECONDS", 900)
# A postponed document is skipped by "next" for this long.
DOCPROC_REVIEW_POSTPONE_SECONDS = env_int("DOCPROC_REVIEW_POSTPONE_SECONDS", 3600)

# --- Audit --------------------------------------------------------------------------------
# Mask field values in every audit export and in the auditor UI, whoever asks.
DOCPROC_AUDIT_MASK_VALUES = env_bool("DOCPROC_AUDIT_MASK_VALUES", False)
# Otherwise these groups (and superusers) see field values; supervisors see them masked.
DOCPROC_AUDIT_UNMASKED_GROUPS = [g.strip() for g in env("DOCPROC_AUDIT_UNMASKED_GROUPS", "auditor,admin").split(",") if g.strip()]
DOCPROC_AUDIT_PAGE_SIZE = env_int("DOCPROC_AUDIT_PAGE_SIZE", 50)

# JSON lines on the console; errors also to DOCPROC_LOG_DIR/errors.log (web, workers, gunicorn).
DOCPROC_LOG_DIR = Path(env("DOCPROC_LOG_DIR", str(DATA_DIR / "logs")))
DOCPROC_LOG_DIR.mkdir(parents=True, exist_ok=True)
DOCPROC_LOG_LEVEL = env("DOCPROC_LOG_LEVEL", "INFO")
LOGGING = logging_config(level=DOCPROC_LOG_LEVEL, log_dir=str(DOCPROC_LOG_DIR))
# The web server (docproc/gunicorn_conf.py): address, worker processes, request timeout in seconds.
DOCPROC_BIND = env("DOCPROC_BIND", "127.0.0.1:8000")
DOCPROC_WEB_WORKERS = env_int("DOCPROC_WEB_WORKERS", 2)
DOCPROC_WEB_TIMEOUT = env_int("DOCPROC_WEB_TIMEOUT", 120)

if not DEBUG:
    SESSION_COOKIE_HTTPONLY = True
    X_FRAME_OPTIONS = "DENY"
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SECURE_REFERRER_POLICY = "same-origin"
if env_bool("DOCPROC_HTTPS", False):
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = True
    SECURE_HSTS_SECONDS = 31536000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
