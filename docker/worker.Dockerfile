# A userq worker (`python -m stream_worker`): one member of the consumer group; run as many as there
# are partitions. It serves Prometheus metrics on 0.0.0.0:$METRICS_PORT (9101) and nothing else.
#   docker build -f docker/worker.Dockerfile -t userq-worker .
# The same image runs the one-shot `python -m runtime setup` (migrations and topics).
# Two stages, as in docker/api.Dockerfile: a builder that fills a virtualenv, a slim non-root runtime.

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
LABEL org.opencontainers.image.title="userq-worker" \
      org.opencontainers.image.description="userq stream worker: per-user FIFO execution from Kafka into PostgreSQL"
RUN groupadd --system --gid 10001 userq \
    && useradd --system --uid 10001 --gid userq --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin userq
COPY --from=builder /opt/userq /opt/userq
COPY docker/healthcheck.py /usr/local/bin/userq-healthcheck
ENV PATH=/opt/userq/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    METRICS_HOST=0.0.0.0 \
    METRICS_PORT=9101
WORKDIR /opt/userq
USER 10001:10001
EXPOSE 9101
# The metrics endpoint answers while the process lives; consumer health (lag, failed batches) is what
# Prometheus and the alert rules watch.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "/usr/local/bin/userq-healthcheck", "METRICS_PORT", "/metrics"]
# SIGTERM: finish the batch in hand, commit, leave the group (allow it stop_grace_period).
STOPSIGNAL SIGTERM
CMD ["python", "-m", "stream_worker"]
