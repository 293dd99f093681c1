# userq's HTTP API (`python -m producer_api`): FastAPI on uvicorn, listening on 0.0.0.0:$PORT (3000).
#   docker build -f docker/api.Dockerfile -t userq-api .
# Two stages: the builder installs userq and its dependencies into a virtualenv (every dependency ships
# wheels, so no compiler is needed); the runtime stage is the slim Python image, that virtualenv and a
# user without a shell or a home. docker/worker.Dockerfile is built the same way.

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
# The virtualenv gets no pip of its own: the base image's pip installs into it, and the runtime has none.
RUN python -m venv --without-pip /opt/userq
# Dependencies first, from pyproject.toml alone, so that a change to userq's code reuses this layer: the
# base dependencies (the client's) and the `server` extra.
COPY pyproject.toml ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; print('\n'.join(p['dependencies'] + p['optional-dependencies']['server']))" > requirements.txt \
    && pip --python /opt/userq/bin/python install -r requirements.txt
COPY README.md ./
COPY schemas ./schemas
COPY request_types ./request_types
COPY store ./store
COPY runtime ./runtime
COPY userq ./userq
COPY producer_api ./producer_api
COPY stream_worker ./stream_worker
RUN pip --python /opt/userq/bin/python install --no-deps . \
    && /opt/userq/bin/python -m compileall -q /opt/userq

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="userq-api" \
      org.opencontainers.image.description="userq producer API: authenticated HTTP submits into Kafka"
RUN groupadd --system --gid 10001 userq \
    && useradd --system --uid 10001 --gid userq --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin userq
COPY --from=builder /opt/userq /opt/userq
COPY docker/healthcheck.py /usr/local/bin/userq-healthcheck
ENV PATH=/opt/userq/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOST=0.0.0.0 \
    PORT=3000
WORKDIR /opt/userq
USER 10001:10001
EXPOSE 3000
# Liveness: the process answers. Readiness (Kafka and PostgreSQL reachable) is GET /readyz; the compose
# file checks that one instead, so that `docker compose up --wait` returns once submits can succeed.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "/usr/local/bin/userq-healthcheck", "PORT", "/healthz"]
STOPSIGNAL SIGTERM
CMD ["python", "-m", "producer_api"]
