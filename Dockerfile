FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY workers workers
COPY mapping mapping
COPY models models
COPY migrations migrations
COPY sandbox sandbox
RUN pip install --no-cache-dir .
USER nobody
