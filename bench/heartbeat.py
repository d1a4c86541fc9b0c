"""The study heartbeat under gunicorn on PostgreSQL, next to a bare Flask endpoint.

    .venv/bin/python -m bench.heartbeat [--seconds 20] [--connections 32] [--workers 4]

Creates a fresh PostgreSQL database ``bench_heartbeat`` on 127.0.0.1:5432 (migrations,
reference data, roles) with one admitted expert whose course is open, starts gunicorn
on 127.0.0.1 with the real app, signs the expert in, and drives POST
/training/<id>/heartbeat with wrk (Debian package ``wrk``) carrying the session cookie
and the CSRF header, for ``--seconds``. In the same run it starts a second gunicorn
serving a bare Flask app ("return 'ok'") with the same settings and drives it the same
way, so the two figures share the machine's state. Only loopback addresses are used.
"""
from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from bench import ROOT, fresh_database, log_in, prepare_database, save_result, start_gunicorn, wait_port

PG = "postgresql://postgres@127.0.0.1:5432"
PASSWORD = "Bench2025pass"


def prepare(url: str, tmp: Path, experts: int) -> list[tuple[str, int]]:
    fresh_database(url)
    os.environ["DATABASE_URL"] = url

    from app import create_app
    from app.extensions import db
    from app.models import Course, Enrollment, Expert, Lesson, Prefecture, TrainingRound, utcnow
    from app.services.accounts import hash_password
    from app.services.experts import prepare_new_expert
    from app.services.validators import make_id_number

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "UPLOAD_FOLDER": str(tmp / "uploads")})
    with app.app_context():
        prepare_database(app)
        now = utcnow()
        rnd = TrainingRound(name="压测批次", enroll_start=now, enroll_end=now, fee_fen=0,
                            admission_batches="无", active=False)
        course = Course(round=rnd, name="压测课程", required_minutes=100000)
        db.session.add(Lesson(course=course, title="第一讲"))
        password = hash_password(PASSWORD)
        out = []
        for i in range(experts):
            e = Expert(name="心跳测试", id_number=make_id_number("650102", dt.date(1980, 1, 1), i),
                       phone=f"139{i:08d}", prefecture=db.session.query(Prefecture).first(),
                       status="已入库", expert_no=f"XJ2025{i:06d}", admission_batch="2024年第一批")
            prepare_new_expert(db.session, e)
            e.user.password = password
            e.user.must_change_password = False
            enrollment = Enrollment(expert=e, course=course, paid_at=now - dt.timedelta(days=3),
                                    study_start=now - dt.timedelta(days=1),
                                    study_end=now + dt.timedelta(days=30))
            db.session.add(enrollment)
            db.session.flush()
            out.append((e.user.username, enrollment.id))
        db.session.commit()
        return out


def existing(url: str, experts: int) -> list[tuple[str, int]]:
    """(username, enrolment id) of the experts a previous run created."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT u.username, e.id FROM enrollment e JOIN expert x ON x.id = e.expert_id "
            "JOIN ab_user u ON u.id = x.user_id ORDER BY e.id LIMIT :n"), {"n": experts}).all()
    engine.dispose()
    return [(u, i) for u, i in rows]


def sign_in(port: int, username: str, enrollment_id: int) -> tuple[str, str, str]:
    """(cookie, csrf token, lesson id) of a signed-in expert."""
    cookie = log_in(port, username, PASSWORD)
    conn = http.client.HTTPConnection("127.0.0.1", port)
    conn.request("GET", f"/training/{enrollment_id}/study", headers={"Cookie": cookie})
    page = conn.getresponse().read().decode("utf-8", "replace")
    csrf = re.search(r'data-csrf="([^"]+)"', page).group(1)
    lesson = re.search(r'data-lesson="(\d+)"', page).group(1)
    return cookie, csrf, lesson


def _ticks(pid: int) -> int:
    """utime + stime of one process, in clock ticks (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])


def _processes(name: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


def _machine() -> tuple[int, int]:
    """(busy, total) ticks of the whole machine, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def run_wrk(url: str, seconds: int, connections: int, script: Path, server_pgid: int) -> dict:
    """wrk's figures, and where the CPU went meanwhile (in cores: 1.0 = one core busy)."""
    servers = [p for p in _processes("gunicorn") if os.getpgid(p) == server_pgid]
    postgres = _processes("postgres")
    before = {p: _ticks(p) for p in servers + postgres}
    busy0, total0 = _machine()
    start = time.time()
    proc = subprocess.Popen(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency",
                             "-s", str(script), url], stdout=subprocess.PIPE, text=True)
    postgres_seen = set(postgres)
    while True:  # PostgreSQL backends come and go: note them as they appear
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        for p in _processes("postgres"):
            if p not in postgres_seen:
                postgres_seen.add(p)
                before.setdefault(p, 0)
        time.sleep(0.5)
    out = proc.stdout.read()
    after = {p: _ticks(p) for p in before}
    wall = time.time() - start
    busy1, total1 = _machine()
    if os.waitstatus_to_exitcode(status):
        raise RuntimeError(f"wrk failed: {out}")
    hz = os.sysconf("SC_CLK_TCK")

    def cores(pids):
        return round(sum(after[p] - before[p] for p in pids) / hz / wall, 2)
    cpu = {"gunicorn": cores(servers), "postgres": cores(postgres_seen),
           "wrk": round((usage.ru_utime + usage.ru_stime) / wall, 2),
           "whole_machine": round((busy1 - busy0) / (total1 - total0) * (os.cpu_count() or 1), 2)}
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def ms(label):
        m = re.search(rf"\s{label}%\s+([\d.]+)(us|ms|s)", out)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket = re.search(r"Socket errors: (.*)", out)
    return {"rps": round(rps), "p50_ms": ms("50"), "p99_ms": ms("99"),
            "non_2xx": int(errors.group(1)) if errors else 0,
            "socket_errors": socket.group(1) if socket else "none", "cpu_cores": cpu, "raw": out}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2, help="gthread threads per worker")
    ap.add_argument("--worker-class", default="gthread", help="gunicorn worker class")
    ap.add_argument("--reuse-db", action="store_true",
                    help="keep the database of the previous run (its experts and enrolments)")
    ap.add_argument("--experts", type=int, default=64,
                    help="signed-in experts the requests rotate over (each beats on its own row)")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")
    tmp = Path(tempfile.mkdtemp(prefix="bench-heartbeat-"))
    url = f"{PG}/bench_heartbeat"
    accounts = existing(url, args.experts) if args.reuse_db else prepare(url, tmp, args.experts)
    env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": "bench-secret",
           "UPLOAD_FOLDER": str(tmp / "uploads"), "INSTANCE_DIR": str(tmp)}
    bare = tmp / "bare_app.py"
    bare.write_text(textwrap.dedent("""
        from flask import Flask
        app = Flask(__name__)
        @app.post("/ping")
        def ping():
            return "ok"
        @app.get("/favicon.ico")
        def icon():
            return ""
    """))
    results = {}
    procs = []
    try:
        procs.append(start_gunicorn("app:create_app()", 8701, args.workers, args.threads, env, ROOT,
                                    args.worker_class))
        procs.append(start_gunicorn("bare_app:app", 8702, args.workers, args.threads, env, tmp,
                                    args.worker_class))
        wait_port(8701)
        wait_port(8702)
        targets = []
        for username, enrollment_id in accounts:
            cookie, csrf, lesson = sign_in(8701, username, enrollment_id)
            body = json.dumps({"lesson_id": lesson, "visible": True, "position": 10})
            targets.append({"path": f"/training/{enrollment_id}/heartbeat", "cookie": cookie,
                            "csrf": csrf, "body": body})
            # a check that the request is accepted before timing it
            conn = http.client.HTTPConnection("127.0.0.1", 8701)
            conn.request("POST", targets[-1]["path"], body,
                         {"Content-Type": "application/json", "X-CSRFToken": csrf, "Cookie": cookie})
            first = conn.getresponse()
            assert first.status == 200, (first.status, first.read()[:200])
        lua_targets = ",\n".join(
            "{{path={}, cookie={}, csrf={}, body={}}}".format(*tuple(
                json.dumps(t[k]) for k in ("path", "cookie", "csrf", "body"))) for t in targets)
        script = tmp / "post.lua"
        script.write_text(
            "local targets = {\n" + lua_targets + "\n}\n"
            "local i = math.random(#targets)\n"
            "wrk.method = \"POST\"\n"
            "wrk.headers[\"Content-Type\"] = \"application/json\"\n"
            "request = function()\n"
            "  i = i % #targets + 1\n"
            "  local t = targets[i]\n"
            "  wrk.headers[\"Cookie\"] = t.cookie\n"
            "  wrk.headers[\"X-CSRFToken\"] = t.csrf\n"
            "  return wrk.format(\"POST\", t.path, nil, t.body)\n"
            "end\n")
        bare_script = tmp / "bare.lua"
        bare_script.write_text(
            'wrk.method = "POST"\n'
            f'wrk.body = {json.dumps(targets[0]["body"])}\n'
            'wrk.headers["Content-Type"] = "application/json"\n')
        results["bare_flask"] = run_wrk("http://127.0.0.1:8702/ping", args.seconds,
                                        args.connections, bare_script, procs[1].pid)
        results["heartbeat"] = run_wrk("http://127.0.0.1:8701/", args.seconds, args.connections,
                                       script, procs[0].pid)
    finally:
        for p in procs:
            os.killpg(p.pid, signal.SIGTERM)
    summary = {k: {kk: vv for kk, vv in v.items() if kk != "raw"} for k, v in results.items()}
    summary["settings"] = vars(args) | {"nproc": os.cpu_count()}
    print(json.dumps(summary, ensure_ascii=False, indent=1))
    save_result("heartbeat", results)


if __name__ == "__main__":
    main()
