"""Application factory of the 评标专家管理与继续教育系统."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask
from flask_appbuilder import AppBuilder
from sqlalchemy.pool import NullPool

from app import extensions, fab_fixes
from app.errors import install_converters, register_errors
from app.models import migration_filter
from app.services.production import check_production

BASE_DIR = Path(__file__).resolve().parent.parent


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    fab_fixes.apply()
    app = Flask(__name__, instance_path=str(BASE_DIR / "instance"), instance_relative_config=False)
    app.config.from_object("config")
    if overrides:
        app.config.update(overrides)
    check_production(app.config)
    Path(app.config["UPLOAD_FOLDER"]).mkdir(parents=True, exist_ok=True)
    install_converters(app)  # before any route: every <int:...> is bounded
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("sqlite") and ":memory:" not in uri:
        # SQLite: a connection per checkout, closed on return. A pooled connection could come
        # back with a statement still open, holding a read snapshot into the next request: its
        # reads then miss newer commits and its first write fails at once with "database is
        # locked" (seen as a 500 on a login while another request wrote). Opening a SQLite
        # file costs well under a millisecond; PostgreSQL keeps its pool.
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
            **app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {}), "poolclass": NullPool}
    elif uri.startswith("postgresql"):
        # A pooled connection whose server went away (restart, terminated backend, failover)
        # is tested with a round trip when it is checked out and replaced, so the first
        # request after an outage succeeds instead of failing on a dead connection.
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
            "pool_pre_ping": True, **app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {})}

    extensions.db.init_app(app)
    extensions.csrf.init_app(app)
    extensions.init_celery(app)
    extensions.migrate.init_app(
        app, extensions.db, directory=str(BASE_DIR / "migrations"), compare_type=True,
        include_object=migration_filter(uri.split(":", 1)[0].split("+", 1)[0]),
    )
    appbuilder = extensions.appbuilder
    if getattr(appbuilder, "_app_bound", False):
        appbuilder = AppBuilder()
    appbuilder._app_bound = True
    # The views, guards, audit hooks and commands are imported here, after
    # fab_fixes.apply(): they subclass and call FAB's patched views and security manager,
    # and at the top they would load the whole web app with any ``import app.x`` (a job, a
    # migration, a test of one service).
    with app.app_context():
        appbuilder.init_app(app, extensions.db.session)
        from app.views import register_views  # after apply(): see above

        register_views(appbuilder)

    from app.guards import register_guards  # after apply(): see above
    from app.services.audit_hooks import register_audit_hooks  # after apply(): see above

    register_audit_hooks()

    register_guards(app)
    register_errors(app)
    from app.cli import register_cli  # after apply(): see above

    register_cli(app)
    app.add_url_rule("/favicon.ico", "favicon",
                     lambda: app.send_static_file("favicon.ico"))
    return app
