"""Benchmarks (run as modules: ``.venv/bin/python -m bench.registry``); figures in
docs/PERFORMANCE.md, raw results in bench/results/ (git-ignored)."""
from __future__ import annotations

import http.client
import json
import re
import subprocess
import time
import urllib.parse
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
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
    db.session.commit()  # as flask init does: the services flush


def save_result(name: str, result: Any) -> None:
    """bench/results/<name>.json (git-ignored): the raw figures behind docs/PERFORMANCE.md."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, ensure_ascii=False, indent=1))


def wait_port(port: int, timeout: float = 30) -> None:
    end = time.time() + timeout
    while time.time() < end:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/favicon.ico")
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"nothing answers on port {port}")


def start_gunicorn(target: str, port: int, workers: int, threads: int, env: dict, cwd: Path,
                   worker_class: str = "gthread"):
    cmd = [str(ROOT / ".venv/bin/gunicorn"), "--workers", str(workers), "--worker-class",
           worker_class, "--threads", str(threads), "--bind", f"127.0.0.1:{port}",
           "--log-level", "warning", target]
    return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)


def log_in(port: int, username: str, password: str) -> str:
    """The session cookie of an expert signed in through the login form, as a browser does."""
    conn = http.client.HTTPConnection("127.0.0.1", port)
    conn.request("GET", "/login/")
    resp = conn.getresponse()
    page = resp.read().decode("utf-8", "replace")
    cookie = [v.split(";")[0] for k, v in resp.getheaders() if k.lower() == "set-cookie"][-1]
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"username": username, "password": password,
                                   "login_kind": "expert", "csrf_token": token})
    conn.request("POST", "/login/?login_kind=expert", form,
                 {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie})
    resp = conn.getresponse()
    resp.read()
    assert resp.status == 302, f"login failed: {resp.status}"
    cookies = [v.split(";")[0] for k, v in resp.getheaders() if k.lower() == "set-cookie"]
    return cookies[-1] if cookies else cookie


def fresh_database(url: str) -> str:
    """An empty database at ``url`` (SQLite: the file and its journals removed; PostgreSQL:
    dropped, sessions and all, and created again). Returns the URL as the app takes it."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    from config import normalize_database_url

    url = normalize_database_url(url)
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        for suffix in ("", "-journal", "-wal", "-shm"):
            Path(u.database + suffix).unlink(missing_ok=True)
        Path(u.database).parent.mkdir(parents=True, exist_ok=True)
        return url
    admin = create_engine(u.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{u.database}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{u.database}"')
    admin.dispose()
    return url
