"""The migrations and the models say the same thing: the test database, built by running
every migration (conftest's ``app``), has exactly the schema of ``app/models.py`` as
Alembic's autogenerate sees it with the options the app gives it, so ``flask db migrate``
would write nothing; and the revisions form one line (a single head)."""
from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_appbuilder import Model

import app.models  # noqa: F401  (registers the tables on FAB's metadata, as migrations/env.py does)

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"



def _scripts() -> ScriptDirectory:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config)


def test_migrations_have_a_single_head():
    heads = _scripts().get_heads()
    assert len(heads) == 1, f"several heads, merge them: {heads}"


def test_the_test_database_is_at_the_head(app, db_transaction):
    context = MigrationContext.configure(db_transaction)
    assert set(context.get_current_heads()) == set(_scripts().get_heads())


def test_models_match_the_migrated_database(app, db_transaction):
    """No drift: what autogenerate would add, drop or alter is empty, compared as the app
    compares (``compare_type`` and the rest of Flask-Migrate's options, app/__init__.py)."""
    options = {key: value for key, value in app.extensions["migrate"].configure_args.items()
               if key != "process_revision_directives"}
    assert options.get("compare_type") is True  # what app/__init__.py gives Flask-Migrate
    context = MigrationContext.configure(db_transaction, opts=options)
    diff = compare_metadata(context, Model.metadata)
    found = [_described(d) for d in diff]
    # ix_expert_name_pattern is declared for PostgreSQL only (ddl_if) and compared there only
    assert found == [], "\n".join(str(d) for d in diff)


def _described(op) -> tuple:
    """An autogenerate difference as (what, the object's name): a column's or a type's
    change is a list of them (the same table and column)."""
    if isinstance(op, list):
        return tuple(_described(o) for o in op)
    # ("add_index", Index), ("add_column", schema, table, Column), ("modify_type", schema,
    # table, column, ...): the first named object, else the table and column names
    named = [getattr(part, "name", None) for part in op[1:]]
    found = next((name for name in named if name), None)
    return op[0], found or ".".join(str(part) for part in op[2:4])
