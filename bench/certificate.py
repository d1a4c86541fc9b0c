"""专家证书 (issue #6): first render, kept download, and a whole round of 10,000 issued.

    .venv/bin/python -m bench.certificate                    # --experts 10000 --processes 2
    .venv/bin/python -m bench.certificate --experts 1000     # a quicker look
    .venv/bin/python -m bench.certificate --experts 1000 --inline  # the batch without the worker

Recreates the PostgreSQL database ``bench_certificate`` (127.0.0.1, user postgres), runs the
migrations, and inserts N admitted experts who passed and paid both courses of one round
(bulk inserts). Then:

1. first render: ``certificate.issue`` for 20 experts one by one (eligibility, WeasyPrint
   PDF, the PNG drawn from it by pdfium, both files written, the rows flushed), timed each;
2. download: one expert signs in and downloads the kept PNG and PDF 200 times each, first
   through the app in this process (Flask's test client), then from gunicorn over loopback
   (one keep-alive connection, one request at a time, the body read); both go through the
   download front (app.views.certificate.CertificateDownloadFront): session, account,
   role permission and ownership in one statement, then the file;
3. batch: the rest of the round queued as the staff page queues it and run by a real
   Celery worker (``celery -A app.worker worker``, prefork, --processes processes) on a
   private redis-server, timed until the batch says 已完成; ``--inline``: through
   ``run_batch`` in this process with a process pool, as ``flask certificate-batch`` runs
   it. Then counts the valid certificates (one per expert).
"""
from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert, select

from app import create_app
from app.extensions import db, init_celery
from app.models import (
    Certificate,
    CertificateBatch,
    Course,
    Enrollment,
    Expert,
    ExpertStatus,
    PaymentOrder,
    TrainingRound,
    utcnow,
)
from app.services import certificate as certs
from app.services import unit_of_work
from app.services.accounts import hash_password
from app.services.audit import SYSTEM
from app.services.experts import prepare_new_expert
from app.services.validators import make_id_number
from bench import (
    ROOT,
    fresh_database,
    log_in,
    percentile,
    prepare_database,
    save_result,
    start_gunicorn,
    wait_port,
)

DB = "bench_certificate"


def _cpu() -> float:
    """CPU of this process and its reaped children (the pool's or the worker's processes)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_redis(port: int, timeout: float = 20) -> None:
    end = time.time() + timeout
    while time.time() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"redis-server does not answer on port {port}")


def _batch_on_worker(app, s, rnd, url: str, tmp: Path, processes: int) -> tuple[float, int, int]:
    """The batch queued as the staff page queues it, run by `celery -A app.worker worker`;
    timed from the queueing to the batch's 已完成, the worker then stopped (its CPU and its
    children's is reaped into ours)."""
    port = _free_port()
    broker = f"redis://127.0.0.1:{port}/0"
    redis = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",  # noqa: S603, S607
                              "--save", "", "--appendonly", "no", "--dir", str(tmp)],
                             stdout=subprocess.DEVNULL)
    _wait_redis(port)
    env = {**os.environ, "DATABASE_URL": url.replace("+psycopg", ""), "SECRET_KEY": "bench-secret",
           "UPLOAD_FOLDER": app.config["UPLOAD_FOLDER"], "INSTANCE_DIR": str(tmp),
           "CELERY_BROKER_URL": broker}
    worker = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "celery", "-A", "app.worker", "worker", "--pool=prefork",
         f"--concurrency={processes}", "--loglevel=WARNING", "--without-gossip",
         "--without-mingle"], cwd=str(ROOT), env=env, start_new_session=True)
    try:
        time.sleep(8)  # the worker's processes up (create_app in each) before the clock starts
        app.config.update(CELERY_BROKER_URL=broker, CELERY_RESULT_BACKEND=broker)
        init_celery(app)
        t = time.perf_counter()
        batch, _ = certs.start_batch(s, rnd, actor=SYSTEM, now=utcnow(),
                                              base_url="https://expert.example.gov.cn")
        unit_of_work.commit(s)
        batch_id = batch.id
        while True:
            s.expire_all()
            batch = s.get(CertificateBatch, batch_id)
            if batch.is_finished:
                break
            time.sleep(0.2)
        elapsed = time.perf_counter() - t
        assert batch.status == "已完成", (batch.status, batch.message)
        return elapsed, batch.done, batch.failed
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=60)
        redis.terminate()
        redis.wait(timeout=10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--experts", type=int, default=10_000)
    ap.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--downloads", type=int, default=200)
    ap.add_argument("--inline", action="store_true",
                    help="the batch in this process (run_batch, as the command line), not the worker")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-cert-"))
    url = fresh_database(f"postgresql://postgres@127.0.0.1:5432/{DB}")

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "UPLOAD_FOLDER": str(tmp / "uploads"),
                      "TESTING": True, "WTF_CSRF_ENABLED": False,
                      "FAB_PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"})
    result: dict = {"benchmark": "certificate", "experts": args.experts,
                    "processes": args.processes, "database": "postgresql"}
    with app.app_context():
        prepare_database(app)
        s = db.session
        now = utcnow()
        rnd = TrainingRound(name="2025年第一批", admission_batches="压测", fee_fen=30000,
                            enroll_start=now, enroll_end=now + dt.timedelta(days=30), active=False)
        rnd.courses = [Course(name="招标投标法律法规", required_minutes=180),
                       Course(name="评标纪律", required_minutes=90)]
        s.add(rnd)
        # one expert with an account (downloads through the app), the rest bulk-inserted
        first = Expert(name="买买提·艾力", id_number=make_id_number("650102", dt.date(1975, 3, 9), 13),
                       phone="13899990000", status=ExpertStatus.ADMITTED.value,
                       expert_no="XJ2025000000")
        prepare_new_expert(s, first)
        first.user.password = hash_password("Bench2025pass")
        first.user.must_change_password = False
        unit_of_work.commit(s)
        t0 = time.perf_counter()
        rows = []
        for i in range(1, args.experts):
            birth = dt.date(1960 + i % 30, 1 + i % 12, 1 + i % 28)
            rows.append({"name": f"专家{i:05d}", "status": ExpertStatus.ADMITTED.value,
                         "id_number": make_id_number(f"65{i // 1000 % 100:02d}01", birth, i % 1000),
                         "expert_no": f"XJ2025{i:06d}", "application_no": f"BENCH{i:08d}",
                         "version": 1, "created_on": now, "changed_on": now})
        s.execute(insert(Expert), rows)
        ids = s.execute(select(Expert.id).order_by(Expert.id)).scalars().all()
        courses = sorted(rnd.courses, key=lambda c: c.id)
        s.execute(insert(Enrollment), [
            {"expert_id": e, "course_id": c.id, "attempt_no": 1, "paid_at": now,
             "review_status": "合格", "completed": True, "graded_at": now, "credited_seconds": 0,
             "resume_position": 0, "created_at": now} for e in ids for c in courses])
        enrollments = s.execute(select(Enrollment.id, Enrollment.expert_id)).all()
        s.execute(insert(PaymentOrder), [
            {"order_no": f"PXB{eid:09d}", "enrollment_id": eid, "expert_no": "XJ", "amount_fen": 30000,
             "kind": "培训费", "status": "已支付", "created_at": now, "paid_at": now}
            for eid, _ in enrollments])
        unit_of_work.commit(s)
        result["setup_s"] = round(time.perf_counter() - t0, 1)
        round_id, first_id = rnd.id, first.id
        settings = certs.settings_from(app.config, "https://expert.example.gov.cn")

        # 1. first render, one by one (the expert's first visit to 专家证书)
        times = []
        cold = None
        for expert_id in ids[:21]:
            expert = s.get(Expert, expert_id)
            t = time.perf_counter()
            cert, created = certs.issue(s, expert, rnd, settings=settings,
                                        upload_dir=app.config["UPLOAD_FOLDER"], actor=SYSTEM,
                                        today=dt.date(2025, 6, 3), now=utcnow())
            unit_of_work.commit(s)
            elapsed = (time.perf_counter() - t) * 1000
            assert created
            if cold is None:
                cold = elapsed  # fonts loaded, templates compiled
            else:
                times.append(elapsed)
        result["first_render_cold_ms"] = round(cold, 1)
        result["first_render_median_ms"] = round(statistics.median(times), 1)
        result["first_render_p95_ms"] = round(percentile(times, 0.95), 1)
        result["first_render_max_ms"] = round(max(times), 1)
        cert_id = s.execute(select(Certificate.id).where(Certificate.expert_id == first_id)).scalar_one()
        kept = s.get(Certificate, cert_id)
        result["pdf_bytes"], result["png_bytes"] = kept.pdf_file.size, kept.png_file.size

    # 2. downloads through the app
    client = app.test_client()
    with app.app_context():
        username = db.session.get(Expert, first_id).user.username
    resp = client.post("/login/?login_kind=expert", data={
        "username": username, "password": "Bench2025pass", "login_kind": "expert"})
    assert resp.status_code == 302, resp.status_code
    for kind in ("image", "pdf"):
        client.get(f"/certificates/{cert_id}/{kind}")  # warm
        times = []
        for _ in range(args.downloads):
            t = time.perf_counter()
            resp = client.get(f"/certificates/{cert_id}/{kind}")
            body = resp.get_data()
            times.append((time.perf_counter() - t) * 1000)
            assert resp.status_code == 200 and body
        result[f"download_{kind}_median_ms"] = round(statistics.median(times), 2)
        result[f"download_{kind}_p95_ms"] = round(percentile(times, 0.95), 2)

    # 2b. the same downloads from a real server over loopback (gunicorn, one keep-alive
    # connection, one request at a time: each figure is one whole download, body read)
    env = {**os.environ, "DATABASE_URL": url.replace("+psycopg", ""), "SECRET_KEY": "bench-secret",
           "UPLOAD_FOLDER": app.config["UPLOAD_FOLDER"], "INSTANCE_DIR": str(tmp)}
    server = start_gunicorn("app:create_app()", 8703, 2, 2, env, ROOT)
    try:
        wait_port(8703)
        cookie = log_in(8703, username, "Bench2025pass")
        conn = http.client.HTTPConnection("127.0.0.1", 8703)
        for kind in ("image", "pdf"):
            times = []
            for i in range(args.downloads + 20):
                t = time.perf_counter()
                conn.request("GET", f"/certificates/{cert_id}/{kind}", headers={"Cookie": cookie})
                resp = conn.getresponse()
                body = resp.read()
                if i >= 20:  # the first ones warm the workers up
                    times.append((time.perf_counter() - t) * 1000)
                assert resp.status == 200 and body, resp.status
            result[f"served_{kind}_median_ms"] = round(statistics.median(times), 2)
            result[f"served_{kind}_p95_ms"] = round(percentile(times, 0.95), 2)
            result[f"served_{kind}_p99_ms"] = round(percentile(times, 0.99), 2)
    finally:
        os.killpg(server.pid, signal.SIGTERM)

    # 3. the rest of the round as one batch, through a real Celery worker (prefork, one
    # process a core) and a private redis-server, as `make run` starts them; or, with
    # --inline, through run_batch in this process with a process pool (the command line)
    with app.app_context():
        s = db.session
        rnd = s.get(TrainingRound, round_id)
        cpu0 = _cpu()
        load0 = os.getloadavg()[0]
        if args.inline:
            batch, _ = certs.start_batch(s, rnd, actor=SYSTEM, now=utcnow())
            unit_of_work.commit(s)
            t = time.perf_counter()
            outcome = certs.run_batch(s, batch.id, settings=settings,
                                      upload_dir=app.config["UPLOAD_FOLDER"],
                                      today=dt.date(2025, 6, 3), processes=args.processes)
            elapsed = time.perf_counter() - t
            issued, failed = outcome.issued, outcome.failed
        else:
            elapsed, issued, failed = _batch_on_worker(app, s, rnd, url, tmp, args.processes)
        batch_cpu = _cpu() - cpu0
        result["batch_runner"] = "run_batch in-process" if args.inline else \
            f"celery worker --concurrency={args.processes}"
        result["batch_cpu_s"] = round(batch_cpu, 1)
        result["batch_cpu_per_certificate_ms"] = round(batch_cpu * 1000 / max(1, issued), 1)
        # what 2 otherwise idle cores would take for 10,000 (PostgreSQL's own CPU not counted)
        result["projected_10000_on_2_idle_cores_s"] = round(batch_cpu / max(1, issued)
                                                            * 10_000 / 2, 1)
        result["load_average_before_after"] = [round(load0, 1), round(os.getloadavg()[0], 1)]
        valid = s.execute(select(Certificate.expert_id).where(
            Certificate.round_id == round_id, Certificate.status == "有效")).scalars().all()
        result["batch_issued"] = issued
        result["batch_failed"] = failed
        result["batch_s"] = round(elapsed, 1)
        result["batch_per_certificate_ms"] = round(elapsed * 1000 / max(1, issued), 1)
        result["valid_certificates"] = len(valid)
        result["distinct_experts"] = len(set(valid))
        result["projected_10000_s"] = round(elapsed / max(1, issued) * 10_000, 1)
        t = time.perf_counter()
        size = sum(len(chunk) for chunk in certs.zip_round(s, rnd, app.config["UPLOAD_FOLDER"]))
        result["zip_s"], result["zip_mb"] = round(time.perf_counter() - t, 1), round(size / 1e6, 1)
    print(json.dumps(result, ensure_ascii=False, indent=1))
    save_result("certificate", result)


if __name__ == "__main__":
    main()
