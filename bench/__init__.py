"""Benchmarks (run as modules: ``.venv/bin/python -m bench.registry``); figures in
docs/PERFORMANCE.md, raw results in bench/results/ (git-ignored)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of the values, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


def prepare_database(app: Any) -> None:
    """A benchmark's fresh database as `flask init` makes it: migrations, reference lists, roles.
    Call inside the app's context."""
    from flask_migrate import upgrade

    from app.extensions import db
    from app.services.reference import load_reference_data
    from app.services.roles import sync_roles

    upgrade()
    load_reference_data(db.session, app.config["REFERENCE_DIR"])
    sync_roles(app.appbuilder)


def save_result(name: str, result: Any) -> None:
    """bench/results/<name>.json (git-ignored): the raw figures behind docs/PERFORMANCE.md."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, ensure_ascii=False, indent=1))
