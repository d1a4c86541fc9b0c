"""The Celery entry point: `celery -A app.worker worker` (and `celery -A app.worker beat`).

The Flask app is built once per worker process, so every task runs in its app context
with the same configuration as the web app (DATABASE_URL, UPLOAD_FOLDER, REDIS_URL ...)."""
from __future__ import annotations

from app import create_app, tasks

flask_app = create_app()
celery = flask_app.extensions["celery"]
TASKS = tasks
