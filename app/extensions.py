"""Extension objects, created once and bound to the app in the factory."""
import sqlite3

from celery import Celery, Task
from flask_appbuilder import AppBuilder
from flask_appbuilder.models.sqla.base import SQLA
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import event
from sqlalchemy.engine import Engine

db = SQLA()
csrf = CSRFProtect()
migrate = Migrate()
# One AppBuilder serves one app: the factory takes this one for the first app of
# the process and a fresh one for any further app (tests build several).
appbuilder = AppBuilder()


@event.listens_for(Engine, "connect")
def _sqlite_write_ahead_log(dbapi_connection, connection_record) -> None:
    """SQLite in WAL mode: readers never block a writer's commit, nor a writer the readers,
    so several gunicorn threads (and the test server's) share the file without "database is
    locked". Foreign keys enforced: SQLite ignores the declared ones unless told, so deleting
    a row in use left dangling references (PostgreSQL always enforces them). PostgreSQL is
    otherwise untouched."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


# Background jobs. Configured from the Flask config by ``init_celery`` (the app factory);
# the tasks are named in app/tasks.py and run by `celery -A app.worker worker`.
celery = Celery("app", set_as_current=True)


def init_celery(app) -> Celery:
    """Celery configured from ``app.config``, each task run inside ``app``'s context."""
    cfg = app.config
    transport = {"visibility_timeout": cfg["CELERY_VISIBILITY_TIMEOUT"],
                 "unacked_restore_interval": cfg["CELERY_RESTORE_EVERY"],
                 "unacked_restore_throttle": 1}
    celery.conf.update(
        broker_url=cfg["CELERY_BROKER_URL"], result_backend=cfg["CELERY_RESULT_BACKEND"],
        broker_transport_options=transport, result_backend_transport_options=transport,
        broker_connection_retry_on_startup=True,
        # the page must say at once that the queue cannot be reached, not after a minute
        broker_connection_timeout=3, broker_connection_max_retries=1,
        task_publish_retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0.5,
                                   "interval_max": 1},
        task_serializer="json", result_serializer="json", accept_content=["json"],
        task_acks_late=True, task_reject_on_worker_lost=True, worker_prefetch_multiplier=1,
        task_soft_time_limit=cfg["CELERY_TASK_SOFT_TIME_LIMIT"],
        task_time_limit=cfg["CELERY_TASK_TIME_LIMIT"], result_expires=24 * 3600,
        task_track_started=True, worker_hijack_root_logger=False, timezone="Asia/Shanghai",
        beat_schedule={
            "cleanup": {"task": "housekeeping.cleanup", "schedule": cfg["CELERY_CLEANUP_EVERY"]},
            "statistics": {"task": "statistics.refresh",
                           "schedule": cfg["STATISTICS_REFRESH_SECONDS"]},
        },
    )

    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            with app.app_context():
                return self.run(*args, **kwargs)

    celery.Task = FlaskTask
    app.extensions["celery"] = celery
    return celery
