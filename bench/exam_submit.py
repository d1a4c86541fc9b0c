"""2,000 exam submissions within one minute, through gunicorn on PostgreSQL.

    .venv/bin/python -m bench.exam_submit [--experts 2000] [--clients 50] [--workers 4]

Creates the PostgreSQL database ``bench_exam`` (migrations, reference data, roles) with N
admitted experts, each with an open course and an exam in progress (3 questions drawn),
signs each of them in on the server side (a user_session row and a signed session cookie
made with the app's own serializer, the CSRF token likewise), starts gunicorn with the real
app on 127.0.0.1, then hands in all N papers (POST /training/<id>/exam/submit with the
answers and the CSRF token), spread evenly over ``--within`` seconds (60 by default: 2,000
within one minute), from up to ``--clients`` concurrent connections. Reports the wall
time, errors, the latency p50/p99, and checks in the database that every attempt was
handed in exactly once and graded. Loopback only.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import http.client
import json
import os
import secrets
import signal
import statistics
import subprocess
import tempfile
import time
import urllib.parse
from pathlib import Path

from bench import fresh_database, prepare_database, save_result

ROOT = Path(__file__).resolve().parent.parent
PG = "postgresql://postgres@127.0.0.1:5432"
SECRET = "bench-exam-secret"


def prepare(url: str, n: int, tmp: Path) -> list[dict]:
    fresh_database(url)
    from flask_wtf.csrf import generate_csrf  # noqa: F401  (the same salt is used below)
    from itsdangerous import URLSafeTimedSerializer

    from app import create_app
    from app.extensions import db
    from app.models import (
        AppUser,
        Course,
        Enrollment,
        Expert,
        PaperRule,
        Prefecture,
        Question,
        TrainingRound,
        utcnow,
    )
    from app.services import exam, sessions
    from app.services.experts import expert_role
    from app.services.validators import make_id_number

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": SECRET,
                      "UPLOAD_FOLDER": str(tmp / "uploads")})
    out = []
    with app.app_context():
        prepare_database(app)
        s = db.session
        now = utcnow()
        prefecture = s.query(Prefecture).first()
        rnd = TrainingRound(name="考试压测", enroll_start=now, enroll_end=now, fee_fen=0,
                            admission_batches="无", active=False, pass_mark=60)
        course = Course(round=rnd, name="压测课程", required_minutes=1)
        s.add(course)
        for i in range(3):
            s.add(Question(course=course, kind="判断", text=f"判断{i}", answer="对"))
        s.add(PaperRule(course=course, judge_count=3, judge_score=34, time_limit_minutes=60))
        role = expert_role(s)
        s.flush()
        serializer = app.session_interface.get_signing_serializer(app)
        csrf_signer = URLSafeTimedSerializer(SECRET, salt="wtf-csrf-token")
        for i in range(n):
            user = AppUser(username=f"exam{i}", first_name="考生", last_name="",
                           email=f"exam{i}@expert.invalid", active=True, password="x",
                           must_change_password=False)
            user.roles = [role]
            expert = Expert(name="考生", user=user, application_no=f"SQ9{i:07d}",
                            id_number=make_id_number("650102", dt.date(1970, 1, 1) +
                                                     dt.timedelta(days=i // 500), i % 1000 + 0),
                            phone=f"139{i:08d}", prefecture=prefecture, status="已入库",
                            expert_no=f"XJ2025{i:06d}")
            enrollment = Enrollment(expert=expert, course=course, paid_at=now - dt.timedelta(days=3),
                                    study_start=now - dt.timedelta(days=1),
                                    study_end=now + dt.timedelta(days=5), credited_seconds=60)
            s.add(enrollment)
            if i % 200 == 0:
                s.flush()
        s.flush()
        for enrollment in s.query(Enrollment).all():
            attempt = exam.start(s, enrollment, now)
            token = sessions.start(s, enrollment.expert.user_id, "127.0.0.1", now)
            raw = secrets.token_hex(20)
            cookie = serializer.dumps({"_user_id": str(enrollment.expert.user_id), "_fresh": True,
                                       "sid": token, "csrf_token": raw, "locale": "zh"})
            out.append({"enrollment": enrollment.id, "attempt": attempt.id, "cookie": cookie,
                        "csrf": csrf_signer.dumps(raw),
                        "questions": json.loads(attempt.question_ids)})
        s.commit()
    return out


def submit(port: int, item: dict) -> tuple[float, int]:
    body = urllib.parse.urlencode(
        [("csrf_token", item["csrf"])] + [(f"q{q}", "对") for q in item["questions"]])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    t0 = time.perf_counter()
    conn.request("POST", f"/training/{item['enrollment']}/exam/submit", body,
                 {"Content-Type": "application/x-www-form-urlencoded",
                  "Cookie": f"session={item['cookie']}"})
    resp = conn.getresponse()
    resp.read()
    conn.close()
    return (time.perf_counter() - t0) * 1000, resp.status


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--experts", type=int, default=2000)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--within", type=float, default=60.0,
                    help="spread the submissions evenly over this many seconds (0 = all at once)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-exam-"))
    url = f"{PG}/bench_exam"
    t0 = time.time()
    items = prepare(url, args.experts, tmp)
    prepared = time.time() - t0
    env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": SECRET, "INSTANCE_DIR": str(tmp),
           "UPLOAD_FOLDER": str(tmp / "uploads")}
    proc = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "--workers", str(args.workers), "--worker-class",
         "gthread", "--threads", "4", "--bind", "127.0.0.1:8711", "--log-level", "warning",
         "app:create_app()"], cwd=ROOT, env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(100):
            try:
                c = http.client.HTTPConnection("127.0.0.1", 8711, timeout=1)
                c.request("GET", "/favicon.ico")
                c.getresponse().read()
                break
            except OSError:
                time.sleep(0.3)
        start = time.perf_counter()
        gap = args.within / len(items) if args.within else 0.0

        def paced(numbered):
            i, item = numbered
            delay = start + i * gap - time.perf_counter()
            if delay > 0:
                time.sleep(delay)  # experts hand in over the minute, not all in one instant
            return submit(8711, item)

        with concurrent.futures.ThreadPoolExecutor(args.clients) as pool:
            results = list(pool.map(paced, enumerate(items)))
        wall = time.perf_counter() - start
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
    latencies = sorted(r[0] for r in results)
    statuses = [r[1] for r in results]
    from sqlalchemy import create_engine, text

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        handed_in = conn.execute(text(
            "SELECT count(*) FROM exam_attempt WHERE submitted_at IS NOT NULL")).scalar()
        graded = conn.execute(text(
            "SELECT count(*) FROM exam_attempt WHERE status IN ('合格', '不合格')")).scalar()
        answers = conn.execute(text("SELECT count(*) FROM exam_answer")).scalar()
    engine.dispose()
    summary = {
        "experts": args.experts, "clients": args.clients, "gunicorn_workers": args.workers,
        "within_seconds": args.within,
        "prepare_seconds": round(prepared, 1), "wall_seconds": round(wall, 2),
        "submissions_per_second": round(args.experts / wall, 1),
        "ok": sum(1 for s in statuses if s == 302), "errors": sum(1 for s in statuses if s != 302),
        "p50_ms": round(statistics.median(latencies), 1),
        "p99_ms": round(latencies[max(0, int(len(latencies) * 0.99) - 1)], 1),
        "max_ms": round(latencies[-1], 1),
        "attempts_handed_in": handed_in, "attempts_graded": graded, "answers": answers,
    }
    print(json.dumps(summary, ensure_ascii=False, indent=1))
    save_result("exam_submit", summary)


if __name__ == "__main__":
    main()
