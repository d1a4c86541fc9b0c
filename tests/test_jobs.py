"""Background jobs on a real Celery worker (a separate process, as in production): a
certificate batch run through it, a worker killed mid-batch (SIGKILL) and another one
finishing the batch with no duplicate certificate and the counts right, a broker that
cannot be reached, cancel and retry, the import task and the periodic clean-up.

The worker reads the test database (a SQLite file, or TEST_DATABASE_URL's PostgreSQL) and
a private redis-server started here on a free port (skipped, with the reason, when the
redis-server binary is missing)."""
from __future__ import annotations

import datetime as dt
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import login_staff, page_text
from tests.test_certificate import passed  # noqa: F401  (a fixture)
from tests.test_import import good_row, workbook

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.commits  # the worker is another process: it must see committed rows


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """A private redis-server (no persistence) for the session's broker."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (make test-deps installs it as root)")
    port = _free_port()
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(  # noqa: S603
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not _ping(port):
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            pytest.skip("redis-server did not start")
        time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(timeout=10)


def _reconnect(app) -> None:
    """The Celery app configured again from app.config, its pools to the old broker gone."""
    from app.extensions import celery, init_celery

    celery.close()
    celery.amqp._producer_pool = None
    init_celery(app)


VISIBILITY = 4  # seconds before a dead worker's message is given to another


@pytest.fixture
def broker(app, redis_url):
    """The app sends to the private Redis (and the worker below reads from it)."""
    saved = {k: app.config[k] for k in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND",
                                        "CELERY_VISIBILITY_TIMEOUT", "CELERY_RESTORE_EVERY")}
    app.config.update(CELERY_BROKER_URL=redis_url, CELERY_RESULT_BACKEND=redis_url,
                      CELERY_VISIBILITY_TIMEOUT=VISIBILITY, CELERY_RESTORE_EVERY=1)
    _reconnect(app)
    yield redis_url
    app.config.update(saved)
    _reconnect(app)


class Worker:
    """`celery -A app.worker worker` as a subprocess of its own process group."""

    def __init__(self, app, redis_url: str, log: Path, name: str):
        env = {**os.environ, "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
               "UPLOAD_FOLDER": app.config["UPLOAD_FOLDER"], "CELERY_BROKER_URL": redis_url,
               "CELERY_RESULT_BACKEND": redis_url, "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY),
               "CELERY_RESTORE_EVERY": "1", "CERTIFICATE_BATCH_PART": "1",
               "PUBLIC_BASE_URL": "http://cert.test", "SECRET_KEY": app.config["SECRET_KEY"]}
        self.log = log.open("ab")
        self.proc = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "celery", "-A", "app.worker", "worker", "--pool=prefork",
             "--concurrency=1", "--loglevel=INFO", "-n", f"{name}@%h", "--without-gossip",
             "--without-mingle", "--without-heartbeat"],
            cwd=str(ROOT), env=env, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True)

    def kill(self) -> None:
        """SIGKILL to the worker and its pool: nothing of theirs is acknowledged."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


@pytest.fixture
def workers(app, broker, tmp_path):
    started: list[Worker] = []

    def start(name: str = "w1") -> Worker:
        worker = Worker(app, broker, tmp_path / "worker.log", f"{name}-{len(started)}")
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def _round_of(make_passed, n: int, prefix: str) -> int:
    first = make_passed(f"{prefix}0")
    for i in range(1, n):
        make_passed(f"{prefix}{i}", round_id=first.round_id)
    return first.round_id


def _start(staff, round_id: int) -> str:
    resp = staff.post(f"/certificates/admin/round/{round_id}/issue")
    assert resp.status_code == 302 and "/certificates/admin/batch/" in resp.headers["Location"]
    return resp.headers["Location"].rstrip("/") + "/status"


def _wait(staff, status_url: str, until, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = staff.get(status_url).get_json()
        if until(body):
            return body
        assert time.monotonic() < deadline, f"batch still {body}"
        time.sleep(0.1)


def _certificates(app, round_id: int) -> tuple[int, int, list]:
    from app.extensions import db
    from app.models import Certificate, CertificateBatch, CertificateBatchPart

    with app.app_context():
        valid = db.session.query(Certificate).filter_by(round_id=round_id, status="有效").all()
        parts = db.session.query(CertificateBatchPart).join(CertificateBatch).filter(
            CertificateBatch.round_id == round_id).all()
        out = (len(valid), len({c.expert_id for c in valid}),
               [(p.done, p.skipped, p.failed, p.finished_at is not None) for p in parts])
        db.session.remove()
    return out


def test_batch_runs_on_a_real_worker(app, passed, workers):  # noqa: F811
    round_id = _round_of(passed, 4, "工人")
    staff = app.test_client()
    login_staff(staff)
    workers()
    status_url = _start(staff, round_id)
    body = _wait(staff, status_url, lambda b: b["finished"])
    assert body == {**body, "status": "已完成", "total": 4, "done": 4, "failed": 0,
                    "percent": 100, "can_cancel": False, "can_retry": False}
    assert "已发放 4 张" in body["message"]
    count, experts, parts = _certificates(app, round_id)
    assert count == experts == 4
    assert len(parts) == 4 and all(finished for *_, finished in parts)
    # the certificates' QR code names the server the request came from
    page = staff.get(status_url.rsplit("/", 1)[0])
    assert "已完成" in page_text(page)


def test_a_killed_worker_leaves_no_duplicate_and_another_finishes(app, passed, workers):  # noqa: F811
    n = 8
    round_id = _round_of(passed, n, "被杀")
    staff = app.test_client()
    login_staff(staff)
    first = workers("first")
    status_url = _start(staff, round_id)
    body = _wait(staff, status_url, lambda b: b["done"] >= 2)
    first.kill()
    body = staff.get(status_url).get_json()
    assert body["status"] == "进行中" and body["done"] < n, body  # killed mid-batch
    workers("second")  # takes the dead worker's unacknowledged part after VISIBILITY seconds
    body = _wait(staff, status_url, lambda b: b["finished"])
    assert body["status"] == "已完成", body
    assert (body["total"], body["done"], body["failed"]) == (n, n, 0)
    count, experts, parts = _certificates(app, round_id)
    assert count == experts == n  # no expert has two valid certificates
    assert len(parts) == n and all(finished for *_, finished in parts)
    assert sum(done for done, *_ in parts) == n  # each part counted once


def test_broker_down_tells_the_person_and_leaves_nothing_queued(app, passed):  # noqa: F811
    round_id = _round_of(passed, 1, "断开")
    staff = app.test_client()
    login_staff(staff)
    saved = app.config["CELERY_BROKER_URL"]
    app.config["CELERY_BROKER_URL"] = f"redis://127.0.0.1:{_free_port()}/0"  # nobody there
    _reconnect(app)
    try:
        resp = staff.post(f"/certificates/admin/round/{round_id}/issue", follow_redirects=True)
    finally:
        app.config["CELERY_BROKER_URL"] = saved
        _reconnect(app)
    text = page_text(resp)
    assert "任务队列（Redis）暂时无法连接" in text
    assert "失败" in text
    status = staff.get(f"/certificates/admin/batch/{resp.request.path.rsplit('/', 1)[1]}/status")
    assert status.get_json()["status"] == "失败" and status.get_json()["can_retry"]
    # the round is not blocked: a new batch may be started at once
    again = staff.post(f"/certificates/admin/round/{round_id}/issue")
    assert again.status_code == 302 and again.headers["Location"] != resp.request.path


def test_cancel_then_retry_on_the_worker(app, passed, workers):  # noqa: F811
    round_id = _round_of(passed, 3, "取消")
    staff = app.test_client()
    login_staff(staff)
    status_url = _start(staff, round_id)  # no worker yet: it stays 排队中
    assert staff.get(status_url).get_json()["status"] == "排队中", staff.get(status_url).get_json()
    batch_url = status_url.rsplit("/", 1)[0]
    assert staff.post(batch_url + "/cancel").status_code == 302
    body = staff.get(status_url).get_json()
    assert body["status"] == "已取消" and body["can_retry"] and not body["can_cancel"]
    workers()
    time.sleep(2)  # the cancelled run's message reaches the worker and does nothing
    assert staff.get(status_url).get_json()["status"] == "已取消"
    assert _certificates(app, round_id)[0] == 0
    assert staff.post(batch_url + "/retry").status_code == 302
    body = _wait(staff, status_url, lambda b: b["finished"])
    assert (body["status"], body["total"], body["done"]) == ("已完成", 3, 3)
    assert _certificates(app, round_id)[:2] == (3, 3)
    # a finished batch is neither cancelled nor retried (refused in Chinese)
    resp = staff.post(batch_url + "/cancel", headers={"Accept": "application/json"},
                      json={})
    assert resp.status_code == 400 and "已结束" in resp.get_json()["message"]


def test_import_from_the_screen_runs_on_the_worker(app, workers):
    from app.extensions import db
    from app.models import Expert, ImportBatch

    rows = [good_row("队列导入甲"), good_row("队列导入乙")]
    bad = good_row("队列坏")
    bad[2] = "1"
    staff = app.test_client()
    login_staff(staff)
    workers()
    resp = staff.post("/experts/import/", data={
        "file": (io.BytesIO(workbook([*rows, bad])), "队列.xlsx")},
        content_type="multipart/form-data")
    assert resp.status_code == 302 and "/experts/import/batch/" in resp.headers["Location"]
    batch_id = int(resp.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    deadline = time.monotonic() + 120
    while True:
        with app.app_context():
            batch = db.session.get(ImportBatch, batch_id)
            state = (batch.status, batch.done, batch.total, batch.created, batch.failed)
            db.session.remove()
        if state[0] not in ("排队中", "进行中") or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert state == ("已完成", 3, 3, 2, 1)
    text = page_text(staff.get(resp.headers["Location"]))
    assert "新增 2 人" in text and "第4行" in text
    with app.app_context():
        assert db.session.query(Expert).filter(
            Expert.id_number.in_([r[1] for r in rows])).count() == 2
        db.session.remove()


def test_cleanup_job_removes_expired_captchas_and_ends_stale_sessions(app, make_expert):
    from sqlalchemy import select

    from app.extensions import db
    from app.models import LoginCaptcha, UserSession, utcnow
    from app.services import jobs
    from app.services.housekeeping import TASK_CLEANUP

    account = make_expert("清理专家")
    now = utcnow()
    with app.app_context():
        db.session.add_all([
            LoginCaptcha(id="expired-cleanup", answer="1234", expires_at=now - dt.timedelta(minutes=1)),
            LoginCaptcha(id="fresh-cleanup", answer="1234", expires_at=now + dt.timedelta(minutes=5)),
            UserSession(token_hash="idle-cleanup".ljust(64, "0"), user_id=account.user_id,
                        created_at=now - dt.timedelta(hours=1),
                        last_seen_at=now - dt.timedelta(hours=1)),
            UserSession(token_hash="live-cleanup".ljust(64, "0"), user_id=account.user_id,
                        created_at=now, last_seen_at=now)])
        db.session.commit()
        done = jobs.run(TASK_CLEANUP)
        assert done["captchas"] >= 1 and done["sessions"] >= 1
        ids = set(db.session.scalars(select(LoginCaptcha.id)))
        assert "expired-cleanup" not in ids and "fresh-cleanup" in ids
        ends = dict(db.session.query(UserSession.token_hash, UserSession.end_reason).filter(
            UserSession.user_id == account.user_id).all())
        assert ends["idle-cleanup".ljust(64, "0")] == "闲置超时"
        assert ends["live-cleanup".ljust(64, "0")] is None
        db.session.query(LoginCaptcha).filter_by(id="fresh-cleanup").delete()
        db.session.commit()
        db.session.remove()


def test_beat_schedules_only_real_tasks(app):
    from app import tasks
    from app.extensions import celery

    schedule = celery.conf.beat_schedule
    assert schedule, "celery beat has something to run"
    registered = {t.name for t in (tasks.plan_batch, tasks.run_part, tasks.import_experts,
                                   tasks.cleanup, tasks.refresh_statistics)}
    for entry in schedule.values():
        assert entry["task"] in registered
