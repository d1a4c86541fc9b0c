"""Extension objects, created once and bound to the app in the factory."""
import sqlite3

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
