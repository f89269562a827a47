FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml requirements.lock README.md alembic.ini ./
COPY config config
COPY workers workers
COPY mapping mapping
COPY models models
COPY migrations migrations
COPY sandbox sandbox
COPY demo demo
# The versions the test suite passed on (requirements.lock), not whatever the registry serves today.
RUN pip install --no-cache-dir -c requirements.lock .
USER nobody
