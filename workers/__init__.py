"""Workers: the Celery app (`workers.celery`, found by `celery -A workers`), tasks, ingest, client, CLI."""
