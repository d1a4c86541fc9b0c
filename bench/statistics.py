"""The staff 首页 (统计分析 + 待办) at one million experts on PostgreSQL — issue #13.

Loads the registry with bench/registry.py's loader (1M experts, accounts and child rows) into
its own database, adds training data (three rounds of two courses: ~470,000 enrolments, one
payment order each, certificates for those who passed everything, some short answers waiting
for 批阅, transfers and 专业 changes waiting), then times, in one run and through the real view
(the Flask test client of ``app.create_app()``, signed in as a 审核人员):

* each query of the snapshot's computation (the expert GROUPING SETS scan by 入库批次, the
  round counts by round and 入库批次) and the 待办 statement on its own;
* the refresh job (``statistics.refresh``: count everything, store the snapshot, commit);
* the whole 首页 served from the snapshot, unfiltered, by 入库批次, by round, and an xlsx 导出;
* the baselines: every chart counted afresh in the request (what the page cost before the
  snapshot, without its per-worker cache), the 专家列表 first page and a ``count(*)`` of expert.

    .venv/bin/python -m bench.statistics                        # load + time (about 6 min)
    .venv/bin/python -m bench.statistics --skip-load            # reuse the loaded database
    .venv/bin/python -m bench.statistics --pg-url postgresql://postgres@127.0.0.1:5432/bench_stats

Every page must answer 200 and show the status counts SQL computes. Results: a table on stdout
and bench/results/statistics-postgresql.json.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics as stats
import sys
import time
from pathlib import Path

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/bench_stats"


def add_training(url: str) -> dict:
    """Rounds, enrolments, orders, certificates and queue rows, made in SQL from the experts
    (server-side INSERT ... SELECT: seconds, not minutes). Skipped when already there."""
    engine = create_engine(url)
    t0 = time.perf_counter()
    with engine.begin() as conn:
        if conn.execute(text("SELECT count(*) FROM training_round WHERE name LIKE '基准%'")).scalar():
            return {"skipped": True}
        # 2023: a third of the admitted, 2024: half, 2025: a fifth (open, mostly unpaid)
        plan = [("基准2023年度继续教育", "2023-03-01", 3, 0, 0.95, 0.85),
                ("基准2024年度继续教育", "2024-03-01", 2, 1, 0.90, 0.70),
                ("基准2025年度继续教育", "2025-03-01", 5, 2, 0.40, 0.10)]
        for name, start, mod, rem, paid, passed in plan:
            rid = conn.execute(text(
                "INSERT INTO training_round (name, admission_batches, statuses, enroll_start, "
                "enroll_end, study_days, fee_fen, makeup_fee_fen, pass_mark, attempts_allowed, "
                "open_delay_days, active) VALUES (:n, '', '已入库', :s, CAST(:s AS timestamp) + "
                "interval '300 days', 30, 30000, 10000, 60, 2, 2, true) RETURNING id"),
                {"n": name, "s": start}).scalar()
            courses = [conn.execute(text(
                "INSERT INTO course (round_id, name, required_minutes, sort) "
                "VALUES (:r, :n, 90, :i) RETURNING id"), {"r": rid, "n": f"{name}课程{i}", "i": i}
            ).scalar() for i in (1, 2)]
            for cid in courses:
                # hash the id so paid / passed are spread, not in id order
                conn.execute(text(
                    "INSERT INTO enrollment (expert_id, course_id, attempt_no, paid_at, study_start, "
                    "credited_seconds, resume_position, review_status, completed, created_at) "
                    "SELECT id, :c, 1, "
                    "CASE WHEN h < :paid THEN CAST(:s AS timestamp) + interval '10 days' END, "
                    "CASE WHEN h < :paid THEN CAST(:s AS timestamp) + interval '12 days' END, 0, 0, "
                    "CASE WHEN h < :passed THEN '合格' ELSE '待批阅' END, "
                    "h < :passed, CAST(:s AS timestamp) "
                    "FROM (SELECT id, (hashtext(CAST(id AS text) || CAST(:c AS text)) & 1023) / 1024.0 AS h "
                    "      FROM expert "
                    "      WHERE status = '已入库' AND id % :m = :rem) x"),
                    {"c": cid, "paid": paid, "passed": passed, "s": start, "m": mod, "rem": rem})
            conn.execute(text(
                "INSERT INTO payment_order (order_no, enrollment_id, expert_no, amount_fen, kind, "
                "status, created_at, paid_at, provider, provider_ref) "
                "SELECT 'BENCH' || e.id, e.id, x.expert_no, 30000, '培训费', "
                "CASE WHEN e.paid_at IS NULL THEN '待支付' ELSE '已支付' END, e.created_at, e.paid_at, "
                "CASE WHEN e.paid_at IS NULL THEN NULL ELSE 'wechat' END, "
                "CASE WHEN e.paid_at IS NULL THEN NULL ELSE 'WX' || e.id END "
                "FROM enrollment e JOIN expert x ON x.id = e.expert_id WHERE e.course_id IN (:a, :b)"),
                {"a": courses[0], "b": courses[1]})
            conn.execute(text(
                "INSERT INTO certificate (number, expert_id, round_id, holder_name, expert_no, "
                "id_number_masked, round_name, hours, issued_on, status, created_at) "
                "SELECT 'BC' || :r || '-' || x.id, x.id, :r, x.name, x.expert_no, '650***********0000', "
                ":n, 4, DATE '2025-12-01', '有效', now() FROM expert x "
                "WHERE x.id IN (SELECT expert_id FROM enrollment WHERE course_id IN (:a, :b) "
                "AND review_status = '合格' GROUP BY expert_id HAVING count(*) = 2) "
                "AND x.id % 4 <> 0"), {"r": rid, "n": name, "a": courses[0], "b": courses[1]})
        # the queues: transfers and 专业 changes waiting, short answers to grade
        conn.execute(text(
            "INSERT INTO transfer_request (expert_id, from_prefecture_id, to_prefecture_id, reason, "
            "status, submitted_at) SELECT id, prefecture_id, (SELECT min(id) FROM prefecture), "
            "'工作调动', CASE WHEN id % 5 = 0 THEN '待审核' ELSE '已通过' END, now() "
            "FROM expert WHERE status = '已入库' AND id % 97 = 0"))
        conn.execute(text(
            "INSERT INTO profile_change (expert_id, section, field, before, after, status, changed_at) "
            "SELECT id, '专业技术', '从事专业类别', '甲', '乙', "
            "CASE WHEN id % 3 = 0 THEN '待审核' ELSE '已通过' END, now() "
            "FROM expert WHERE status = '已入库' AND id % 89 = 0"))
        course = conn.execute(text("SELECT min(id) FROM course")).scalar()
        qid = conn.execute(text(
            "INSERT INTO question (course_id, kind, text, answer) VALUES (:c, '简答', '简述评标纪律', '略') "
            "RETURNING id"), {"c": course}).scalar()
        conn.execute(text(
            "INSERT INTO exam_attempt (enrollment_id, question_ids, started_at, deadline, submitted_at, "
            "status) SELECT id, '[' || :q || ']', now(), now(), now(), '待批阅' FROM enrollment "
            "WHERE course_id = :c AND paid_at IS NOT NULL AND id % 211 = 0"), {"q": qid, "c": course})
        conn.execute(text(
            "INSERT INTO exam_answer (attempt_id, question_id, answer, max_points) "
            "SELECT id, :q, '答', 10 FROM exam_attempt WHERE status = '待批阅'"), {"q": qid})
        counts = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in (
            "training_round", "course", "enrollment", "payment_order", "certificate",
            "transfer_request", "profile_change", "exam_attempt", "exam_answer")}
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for t in ("enrollment", "payment_order", "certificate", "transfer_request", "profile_change",
                  "exam_attempt", "exam_answer", "expert"):
            conn.exec_driver_sql(f"VACUUM (ANALYZE) {t}")
    engine.dispose()
    return {"rows": counts, "seconds": round(time.perf_counter() - t0, 1)}


def timed(fn, repeat: int, warmup: int) -> dict:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return {"median_ms": round(stats.median(samples), 1),
            "p95_ms": round(samples[min(len(samples) - 1, round(0.95 * len(samples) + 0.5) - 1)], 1),
            "min_ms": round(samples[0], 1)}


def main(argv: list[str] | None = None) -> int:
    from bench import fresh_database, save_result
    from bench.registry import STAFF_PASSWORD, STAFF_USERNAME, bootstrap, load, make_app
    from config import normalize_database_url

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pg-url", default=DEFAULT_PG_URL)
    ap.add_argument("--experts", type=int, default=1_000_000)
    ap.add_argument("--skip-load", action="store_true")
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=2)
    args = ap.parse_args(argv)
    url = normalize_database_url(args.pg_url)
    result: dict = {"experts": args.experts}
    if not args.skip_load:
        fresh_database(url)
        bootstrap(make_app(url))
        print(f"loading {args.experts:,} experts ...", flush=True)
        result["load"] = load(url, args.experts, 25_000, 20250523)
    app = make_app(url)
    bootstrap(app)  # migrations (the statistics index), roles, the staff user
    print("training data ...", flush=True)
    result["training"] = add_training(url)
    print(f"  {result['training']}", flush=True)

    from app.extensions import db
    from app.models import beijing_today
    from app.services import jobs, todo
    from app.services import statistics as st

    client = app.test_client()
    resp = client.post("/login/?login_kind=staff", data={
        "username": STAFF_USERNAME, "password": STAFF_PASSWORD, "login_kind": "staff"})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:300]
    with app.app_context():
        batch = db.session.execute(text(
            "SELECT admission_batch FROM expert GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")).scalar()
        round_id = db.session.execute(text("SELECT max(id) FROM training_round")).scalar()
        admitted = db.session.execute(text(
            "SELECT count(*) FROM expert WHERE status = '已入库'")).scalar()
        admitted_batch = db.session.execute(text(
            "SELECT count(*) FROM expert WHERE status = '已入库' AND admission_batch = :b"),
            {"b": batch}).scalar()
        result["pg"] = db.session.execute(text("SHOW server_version")).scalar()
        db.session.remove()
    rows: list[tuple[str, dict]] = []

    def page(url: str, expect: int):
        def get():
            r = client.get(url)
            body = r.get_data(as_text=True)
            assert r.status_code == 200, (url, r.status_code, body[:300])
            table = body.split('id="table-status"', 1)[1].split("</table>", 1)[0]
            found = re.search(r"<td>已入库</td><td class=num>(\d+)</td>", table)
            assert found and int(found.group(1)) == expect, (url, found and found.group(1), expect)
        return get

    with app.app_context():
        session = db.session
        today = beijing_today()
        kinds = list(todo.KINDS)
        heavy = max(3, args.repeat // 5)  # seconds each: fewer samples
        for label, fn, n in [
            ("baseline: SELECT count(*) FROM expert",
             lambda: session.execute(text("SELECT count(*) FROM expert")).scalar(), args.repeat),
            ("snapshot: expert GROUPING SETS scan by 入库批次",
             lambda: st.expert_group_counts(session, today), heavy),
            ("snapshot: round counts by (round, 入库批次)", lambda: st.round_snapshot(session), heavy),
            ("待办: one statement of 5 counts", lambda: todo.todo_counts(session, kinds), args.repeat),
            ("baseline: every chart counted afresh in the request (no snapshot)",
             lambda: st.dashboard_charts(session, today, st.Filters()), heavy),
        ]:
            rows.append((label, timed(fn, n, 1 if n == heavy else args.warmup)))
            session.rollback()

        def refresh():
            assert jobs.run(st.TASK_REFRESH) is not None

        rows.append(("refresh job statistics.refresh (count, store, commit)",
                     timed(refresh, heavy, 0)))
        snapshot, _ = st.latest(session)
        result["snapshot_bytes"] = len(snapshot.data.encode())
        result["snapshot_batches"] = len(st.loads(snapshot)["experts"])
        db.session.remove()

    rows.append(("baseline: 专家列表 first page (GET /expertadminview/list/)",
                 timed(lambda: client.get("/expertadminview/list/"), args.repeat, args.warmup)))
    rows.append(("首页 from the snapshot: GET /dashboard/", timed(
        page("/dashboard/", admitted), args.repeat, args.warmup)))
    rows.append(("首页 from the snapshot: ?batch=<largest 入库批次>", timed(
        page(f"/dashboard/?batch={batch}", admitted_batch), args.repeat, args.warmup)))
    rows.append(("首页 from the snapshot: ?round=<2025 round>", timed(
        page(f"/dashboard/?round={round_id}", admitted), args.repeat, args.warmup)))
    rows.append(("导出 one chart (xlsx), from the snapshot", timed(
        lambda: client.get("/dashboard/export/rounds"), args.repeat, args.warmup)))
    rows.append(("any staff page's 待办 badges: GET /reviewqueueview/list/", timed(
        lambda: client.get("/reviewqueueview/list/"), args.repeat, args.warmup)))

    print(f"\n{'what (PostgreSQL ' + result['pg'] + ', 1M experts)':<64} {'median':>8} {'p95':>8}")
    for label, r in rows:
        print(f"{label:<64} {r['median_ms']:>8.1f} {r['p95_ms']:>8.1f}")
    result["timings"] = [{"what": label, **r} for label, r in rows]
    result["loadavg"] = [round(x, 2) for x in os.getloadavg()]
    result["cpu_count"] = os.cpu_count()
    save_result("statistics-postgresql", result)
    print(json.dumps({"loadavg": result["loadavg"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
