# batchscore + Airflow 3.3.2 in one image, installed from the committed uv.lock (the same versions as CI).
# Used by every Airflow service in docker-compose.yml (api-server, scheduler, dag-processor, triggerer,
# Celery workers) and by the one-shot init service.
FROM python:3.11-slim-bookworm

ARG UV_VERSION=0.13.9
ARG AIRFLOW_UID=50000
ENV PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PROJECT_ENVIRONMENT=/opt/batchscore/venv \
    AIRFLOW_HOME=/opt/airflow \
    BATCHSCORE_HOME=/opt/batchscore/home \
    BATCHSCORE_MODEL_STORE=/opt/batchscore/models \
    PATH=/opt/batchscore/venv/bin:$PATH

RUN pip install --no-cache-dir "uv==${UV_VERSION}" \
    && useradd --create-home --uid "${AIRFLOW_UID}" --gid 0 airflow

WORKDIR /opt/batchscore/app
# dependencies first (a layer that only changes with the lock), then the project itself
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --locked --no-dev --no-install-project
COPY pipeline ./pipeline
COPY dags ./dags
COPY sql ./sql
COPY usecases ./usecases
COPY expectations ./expectations
COPY deploy ./deploy
RUN uv sync --locked --no-dev \
    && mkdir -p /opt/airflow/logs /opt/airflow/auth /opt/batchscore/home /opt/batchscore/models \
    && chown -R airflow:0 /opt/airflow /opt/batchscore/home /opt/batchscore/models \
    && chmod -R g+rwX /opt/airflow /opt/batchscore/home /opt/batchscore/models

USER airflow
EXPOSE 8080
CMD ["airflow", "version"]
