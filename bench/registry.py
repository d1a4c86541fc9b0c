"""The staff expert list (专家列表) at one million experts — issue #3.

Loads N experts (default 1,000,000) with their account and child rows into SQLite or
PostgreSQL with bulk inserts, then times the staff screens *through the real views*:
the Flask test client of ``app.create_app()``, logged in as a 审核人员, exactly as
tests/conftest.py builds the app (migrations, reference data, roles, staff user).

    .venv/bin/python -m bench.registry --db sqlite                 # load + time
    .venv/bin/python -m bench.registry --db postgresql
    .venv/bin/python -m bench.registry --db sqlite --skip-load     # reuse the loaded file
    .venv/bin/python -m bench.registry --db sqlite --experts 20000 # quick check

Rows per expert: one ab_user account (+ its ab_user_role row, role 专家), the expert
row, on average 1 education, 2 work_experience, 1 avoidance_unit (the employer, as the
app keeps it) and 0.3 qualification rows. Values are valid and varied: GB 11643 ID
numbers (make_id_number), unique phones, Chinese names with realistic duplicates and
Uyghur names with "·", 专家编号 for the 已入库 experts, 14 市州, leaf 专业类别, 职称.

Loading: one transaction. SQLite: the compiled Core ``insert()`` of each table is run
with the DB-API ``executemany`` in large batches (rows are pre-formatted tuples, so
SQLAlchemy's per-row bind processing is skipped). PostgreSQL: psycopg ``COPY ... FROM
STDIN`` (``cursor.copy()``), foreign keys checked as usual, then the id sequences are
moved past the loaded ids and the tables are VACUUM ANALYZEd (what autovacuum would do
after such a load). SQLite gets no ANALYZE: the app never runs one.

Timing: each request is repeated ``--repeat`` times after ``--warmup`` warm-ups; the
median and p95 (nearest rank) are reported. Every response must be 200, show the
searched expert (申请专家编号) and a 记录数目 equal to the count computed in SQL, so a
filter that is silently dropped fails the run. Filter indexes (``_flt_<i>_<col>``) are
looked up in the live view by filter type (eq / sw / rel_o_m), as the app may change
its filter lists. ``--fab-defaults`` undoes, in the benchmark process only, what the
app changes in FAB's list and permission machinery, to time the "before" state.
One more request per query is made with ``before_cursor_execute`` /
``after_cursor_execute`` listeners that record every SQL statement; the statements are
then replayed (execute + fetchall) and the costliest are explained (EXPLAIN QUERY PLAN
on SQLite, EXPLAIN (ANALYZE, BUFFERS) on PostgreSQL).

Results: a table on stdout, bench/results/registry-<db>.json (figures, SQL, plans) and
bench/results/registry-<db>-sql.txt (the same SQL and plans, readable).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import random
import re
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import create_engine, event, insert, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RESULTS_DIR = ROOT / "bench" / "results"
STAFF_USERNAME = "benchreviewer"
STAFF_PASSWORD = "Bench2025pass"
EXPERT_PASSWORD = "Zhuanjia2025"
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/bench"
PAGE_SIZE = 20  # ExpertAdminView.page_size (StaffModelView)
DEEP_PAGE = 24999  # FAB pages are 0-based: index 24999 is the 25,000th page

# ----------------------------------------------------------------------------- data

SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋"
            "蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段"
            "雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")
GIVEN_CHARS = ("建国志强海军新华丽娟红梅文杰庆立伟明晓东玉兰春花秀英德胜永刚卫学勇静敏燕霞"
               "军平辉鹏飞涛超斌浩磊宇杰峰洋芳娜婷慧琳")
GIVEN_PAIRS = ("建国", "志强", "海军", "新华", "丽娟", "红梅", "文杰", "国庆", "立新", "伟明",
               "晓东", "建华", "玉兰", "春花", "秀英", "德胜", "永刚", "卫东", "学军", "建军",
               "建平", "国强", "海燕", "小红", "丽华", "志刚", "建新", "文华", "晓明", "俊杰")
UYGHUR = ("买买提", "艾力", "阿不都", "热合曼", "吐尔逊", "努尔", "古丽", "阿依古丽", "帕提古丽",
          "艾尔肯", "迪力夏提", "麦麦提", "依明", "阿里木", "阿布力孜", "伊力哈木", "托合提",
          "玉素甫", "阿迪力", "克里木", "巴哈尔古丽", "热依拉", "米娜瓦尔", "肉孜")
KAZAKH = ("哈力别克", "叶尔兰", "努尔兰", "阿依达娜", "别克", "加娜尔", "叶尔江", "达吾列提")

PREFECTURE_WEIGHTS = {  # by GB/T 2260 code: 乌鲁木齐 has most experts
    "650100": 26, "650200": 5, "650400": 3, "650500": 4, "652300": 9, "652700": 3,
    "652800": 7, "652900": 7, "653000": 2, "653100": 8, "653200": 4, "654000": 9,
    "654200": 4, "654300": 3,
}
STATUSES = (("已入库", 60), ("草稿", 14), ("待审核", 10), ("已退回", 6), ("暂停", 6), ("清退", 4))
TITLE_WEIGHTS = {"高级工程师": 30, "工程师": 18, "正高级工程师": 8, "教授级高级工程师": 4,
                 "高级经济师": 5, "高级建筑师": 4}
BATCHES = ("2022年第一批", "2023年第一批", "2023年第二批", "2024年第一批", "2024年第二批",
           "2025年第一批")
EMPLOYER_KINDS = ("建筑设计研究院", "市政工程有限公司", "建设工程质量检测中心", "城建投资集团有限公司",
                  "第一建筑工程有限公司", "第三建筑工程有限公司", "水利水电工程有限公司",
                  "工程造价咨询有限公司", "工程监理有限公司", "住房和城乡建设局", "公路工程有限公司",
                  "勘察设计院", "建设工程招标代理有限公司", "城市规划设计研究院")
EMPLOYERS_REGION = ("新疆建工集团", "新疆城建集团", "中建新疆建工集团", "新疆交通建设集团",
                    "新疆水利水电勘测设计研究院", "新疆建筑科学研究院", "新疆兵团勘测设计院",
                    "新疆维吾尔自治区建筑设计研究院", "中铁二十一局集团新疆公司")
SCHOOLS = ("新疆大学", "石河子大学", "新疆农业大学", "西安建筑科技大学", "同济大学", "重庆大学",
           "兰州交通大学", "新疆工程学院", "长安大学", "西南交通大学", "天津大学", "塔里木大学")
MAJORS = ("土木工程", "工程管理", "给排水科学与工程", "建筑学", "道路与桥梁工程", "工程造价",
          "水利水电工程", "建筑环境与能源应用工程", "电气工程及其自动化", "城乡规划")
POSITIONS = ("项目经理", "技术负责人", "总工程师", "造价工程师", "设计负责人", "质量主管", "副总经理",
             "监理工程师", "科长")
QUALIFICATIONS = ("一级注册建造师", "二级注册建造师", "注册造价工程师", "注册监理工程师",
                  "一级注册结构工程师", "注册土木工程师（岩土）", "一级注册建筑师", "注册公用设备工程师")
PHONE_PREFIXES = tuple(str(p) for p in (
    *range(130, 140), 150, 151, 152, 153, 155, 156, 157, 158, 159, 166, 173, 175, 176, 177,
    *range(180, 190), 191, 198, 199))


def _cum(weights) -> list[float]:
    out, total = [], 0.0
    for w in weights:
        total += w
        out.append(total)
    return out


@dataclass
class Reference:
    prefectures: list[tuple[int, str, str]]  # id, code, name
    leaf_specialties: list[int]
    titles: list[tuple[int, str]]
    political: list[int]
    education_levels: list[int]
    degrees: list[int]
    expert_role_id: int


@dataclass
class Generator:
    """Turns expert ordinals into rows; everything random comes from one seeded RNG."""

    ref: Reference
    seed: int
    user_id0: int
    expert_id0: int
    password_hash: str
    rng: random.Random = field(init=False)
    used_ids: set = field(default_factory=set)
    used_phones: set = field(default_factory=set)
    expert_no_seq: int = 0
    with_submitted_at: bool = False
    child_ids: dict = field(default_factory=lambda: {
        "ab_user_role": 0, "education": 0, "work_experience": 0, "avoidance_unit": 0,
        "qualification": 0})

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        # Names: Han names (surname weighted by rank, given name of 1 or 2 characters) and
        # Uyghur/Kazakh names with the middle dot; many duplicates, as in a real registry.
        surname_w = [1 / (rank + 1) ** 0.9 for rank in range(len(SURNAMES))]
        givens = list(dict.fromkeys(
            [*GIVEN_CHARS, *GIVEN_PAIRS, *(a + b for a in GIVEN_CHARS[::3] for b in GIVEN_CHARS[1::2])]))
        names, weights = [], []
        han_share = 0.78
        s_total = sum(surname_w)
        for s, sw in zip(SURNAMES, surname_w):
            for g in givens:
                names.append(s + g)
                weights.append(han_share * sw / s_total / len(givens) * (4 if g in GIVEN_PAIRS else 1))
        minority = [f"{a}·{b}" for a in UYGHUR for b in UYGHUR if a != b]
        minority += [f"{a}·{b}" for a in KAZAKH for b in KAZAKH if a != b]
        for n in minority:
            names.append(n)
            weights.append((1 - han_share) / len(minority))
        self.name_pool, self.name_cum = names, _cum(weights)
        prefs = self.ref.prefectures
        self.pref_cum = _cum(PREFECTURE_WEIGHTS.get(code, 3) for _, code, _ in prefs)
        self.employers = [
            [f"{name.removesuffix('市').removesuffix('地区')}{kind}" for kind in EMPLOYER_KINDS]
            + list(EMPLOYERS_REGION) for _, _, name in prefs]
        self.status_names = [s for s, _ in STATUSES]
        self.status_cum = _cum(w for _, w in STATUSES)
        self.title_ids = [tid for tid, _ in self.ref.titles]
        self.title_cum = _cum(TITLE_WEIGHTS.get(name, 1.5) for _, name in self.ref.titles)
        start = dt.date(1960, 1, 1)
        self.births = [start + dt.timedelta(days=d) for d in range((dt.date(1990, 12, 31) - start).days + 1)]
        self.created0 = dt.datetime(2023, 3, 1, 8, 0, 0)

    def _id_number(self, code4: str, birth: dt.date) -> tuple[str, str]:
        from app.services.validators import make_id_number

        rng = self.rng
        while True:
            seq = rng.randrange(1000)
            number = make_id_number(f"{code4}{rng.randint(1, 30):02d}", birth, seq)
            if number not in self.used_ids:
                self.used_ids.add(number)
                return number, ("男" if seq % 2 else "女")

    def _phone(self) -> str:
        rng = self.rng
        while True:
            phone = f"{rng.choice(PHONE_PREFIXES)}{rng.randrange(10 ** 8):08d}"
            if phone not in self.used_phones:
                self.used_phones.add(phone)
                return phone

    def batch(self, first: int, count: int) -> dict[str, list[tuple]]:
        """Rows of experts ``first .. first+count-1`` (0-based ordinals), per table."""
        rng = self.rng
        ref = self.ref
        names = rng.choices(self.name_pool, cum_weights=self.name_cum, k=count)
        pref_idx = rng.choices(range(len(ref.prefectures)), cum_weights=self.pref_cum, k=count)
        statuses = rng.choices(self.status_names, cum_weights=self.status_cum, k=count)
        titles = rng.choices(self.title_ids, cum_weights=self.title_cum, k=count)
        users, roles, experts, educations, works, avoids, quals = [], [], [], [], [], [], []
        cid = self.child_ids
        leaf, political = ref.leaf_specialties, ref.political
        levels, degrees, role_id = ref.education_levels, ref.degrees, ref.expert_role_id
        for j in range(count):
            i = first + j
            uid, eid = self.user_id0 + i, self.expert_id0 + i
            name = names[j]
            p_id, p_code, p_name = ref.prefectures[pref_idx[j]]
            birth = rng.choice(self.births)
            id_number, gender = self._id_number(p_code[:4], birth)
            phone = self._phone()
            status = statuses[j]
            created = (self.created0 + dt.timedelta(seconds=i * 23 + rng.randrange(20))).isoformat(
                " ", "microseconds")
            username = f"u{i + 1:07d}"
            users.append((uid, name, "", username, self.password_hash, True,
                          f"{username}@expert.invalid", None, 0, 0, created, created, None, None, False,
                          None))
            cid["ab_user_role"] += 1
            roles.append((cid["ab_user_role"], uid, role_id))
            expert_no = None
            if status == "已入库":
                self.expert_no_seq += 1
                expert_no = f"XJ2024{self.expert_no_seq:06d}"
                batch_name = rng.choice(BATCHES[:5])
            else:
                batch_name = rng.choice(BATCHES)
            employer = rng.choice(self.employers[pref_idx[j]])
            r = rng.random()
            row = (
                eid, uid, f"SQ{eid:08d}", expert_no, name, gender, birth.isoformat(), id_number,
                rng.choice(political), p_id, f"{p_name}某某路{rng.randint(1, 999)}号",
                f"{username}@example.com" if r < 0.8 else None, phone,
                f"{rng.choice(PHONE_PREFIXES)}{rng.randrange(10 ** 8):08d}" if r < 0.2 else None,
                r < 0.7, r < 0.35, "续聘" if r < 0.7 else ("新聘" if r < 0.98 else "其他"),
                batch_name, employer, rng.choice(leaf), titles[j], status, 1, created, created)
            if self.with_submitted_at:  # 提交时间, for every expert past 草稿
                row += (None if status == "草稿" else (
                    self.created0 + dt.timedelta(seconds=i * 23 + 86400 * rng.randint(1, 30))
                ).isoformat(" ", "microseconds"),)
            experts.append(row)
            year = birth.year + 18
            n_edu = 1 if r < 0.7 else (0 if r < 0.85 else 2)  # average 1
            for k in range(n_edu):
                cid["education"] += 1
                start = year + 4 * k
                educations.append((cid["education"], eid, rng.choice(levels), rng.choice(degrees),
                                   rng.choice(SCHOOLS), rng.choice(MAJORS), f"{start}-09-01",
                                   f"{start + (4 if k == 0 else 3)}-07-01"))
            work_start = year + 4
            n_work = rng.randint(1, 3)  # average 2
            for k in range(n_work):
                cid["work_experience"] += 1
                last = k == n_work - 1 or work_start > 2020  # the current job: no end date
                end = None if last else min(work_start + rng.randint(3, 12), 2024)
                works.append((cid["work_experience"], eid, f"{work_start}-07-15",
                              None if last else f"{end}-06-30",
                              employer if last else rng.choice(self.employers[pref_idx[j]]),
                              rng.choice(POSITIONS), names[(j + k + 1) % count]))
                if last:
                    break
                work_start = end
            cid["avoidance_unit"] += 1
            avoids.append((cid["avoidance_unit"], eid, employer, None, "本人工作单位", True))
            if rng.random() < 0.3:
                cid["qualification"] += 1
                quals.append((cid["qualification"], eid, rng.choice(QUALIFICATIONS), None, True,
                               f"新{rng.randrange(10 ** 9, 10 ** 10)}",
                               f"{rng.randint(2005, 2023)}-{rng.randint(1, 12):02d}-01"))
        return {"ab_user": users, "ab_user_role": roles, "expert": experts,
                "education": educations, "work_experience": works,
                "avoidance_unit": avoids, "qualification": quals}


COLUMNS = {
    "ab_user": ("id", "first_name", "last_name", "username", "password", "active", "email",
                "last_login", "login_count", "fail_login_count", "created_on", "changed_on",
                "created_by_fk", "changed_by_fk", "must_change_password", "password_changed_at"),
    "ab_user_role": ("id", "user_id", "role_id"),
    "expert": ("id", "user_id", "application_no", "expert_no", "name", "gender", "birth_date",
               "id_number", "political_status_id", "prefecture_id", "address", "email", "phone",
               "backup_phone", "accepts_remote", "emergency_expert", "admission_type",
               "admission_batch", "employer", "main_specialty_id", "title_id", "status", "version",
               "created_on", "changed_on"),
    "education": ("id", "expert_id", "education_level_id", "degree_id", "school", "major",
                  "start_date", "end_date"),
    "work_experience": ("id", "expert_id", "start_date", "end_date", "employer", "position",
                        "referee"),
    "avoidance_unit": ("id", "expert_id", "name", "credit_code", "reason", "is_employer"),
    "qualification": ("id", "expert_id", "name", "title_level_id", "is_registered",
                      "certificate_no", "issue_date"),
}

# ----------------------------------------------------------------------------- database


def database_url(args) -> str:
    from config import normalize_database_url

    if args.db == "sqlite":
        return f"sqlite:///{Path(args.sqlite_path).resolve()}"
    return normalize_database_url(args.pg_url)


def make_app(url: str):
    import atexit
    import shutil

    from app import create_app

    uploads = tempfile.mkdtemp(prefix="bench-uploads-")
    atexit.register(shutil.rmtree, uploads, ignore_errors=True)
    return create_app({
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": url,
        "UPLOAD_FOLDER": uploads,
        "FAB_PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        "WTF_CSRF_ENABLED": False,
        "SERVER_NAME": None,
    })


def bootstrap(app) -> None:
    """Schema, reference data, roles and the staff user, as tests/conftest.py does."""
    from flask_migrate import upgrade

    from app.extensions import db
    from app.services.demo import create_staff_user
    from app.services.reference import load_reference_data
    from app.services.roles import ROLE_REVIEWER, sync_roles

    with app.app_context():
        upgrade()
        load_reference_data(db.session, app.config["REFERENCE_DIR"])
        sync_roles(app.appbuilder)
        create_staff_user(app.appbuilder.sm, STAFF_USERNAME, "基准审核员", "benchreviewer@example.gov.cn",
                          ROLE_REVIEWER, STAFF_PASSWORD)
        db.session.commit()
        db.session.remove()
        db.engine.dispose()


def read_reference(conn) -> Reference:
    q = lambda sql: conn.execute(text(sql)).all()  # noqa: E731
    role = q("SELECT id FROM ab_role WHERE name = '专家'")
    if not role:
        raise SystemExit("role 专家 missing: sync_roles did not run")
    return Reference(
        prefectures=[tuple(r) for r in q("SELECT id, code, name FROM prefecture ORDER BY code")],
        leaf_specialties=[r[0] for r in q(
            "SELECT id FROM specialty WHERE parent_id IS NOT NULL ORDER BY code")],
        titles=[tuple(r) for r in q("SELECT id, name FROM title ORDER BY id")],
        political=[r[0] for r in q("SELECT id FROM political_status ORDER BY id")],
        education_levels=[r[0] for r in q("SELECT id FROM education_level ORDER BY id")],
        degrees=[r[0] for r in q("SELECT id FROM degree ORDER BY id")],
        expert_role_id=role[0][0],
    )


def load_columns(model_tables) -> dict[str, tuple[str, ...]]:
    """COLUMNS, plus the optional columns the current schema has."""
    cols = dict(COLUMNS)
    if "submitted_at" in model_tables["expert"].c:
        cols["expert"] = cols["expert"] + ("submitted_at",)
    return cols


def load(url: str, n: int, batch: int, seed: int) -> dict[str, Any]:
    from operator import itemgetter

    from flask_appbuilder import Model
    from werkzeug.security import generate_password_hash

    import app.models  # noqa: F401  (registers the tables)

    is_pg = make_url(url).get_backend_name() == "postgresql"
    engine = create_engine(url)
    tables = {name: Model.metadata.tables[name] for name in COLUMNS}
    columns = load_columns(Model.metadata.tables)
    counts = dict.fromkeys(COLUMNS, 0)
    reorder: dict[str, Any] = {}
    gen_seconds = 0.0
    t0 = time.perf_counter()
    with engine.begin() as conn:
        ref = read_reference(conn)
        existing = conn.execute(text("SELECT count(*) FROM expert")).scalar()
        if existing:
            raise SystemExit(f"expert table already has {existing} rows: load into a fresh database")
        user_id0 = (conn.execute(text("SELECT max(id) FROM ab_user")).scalar() or 0) + 1
        role_id0 = conn.execute(text("SELECT max(id) FROM ab_user_role")).scalar() or 0
        gen = Generator(ref, seed, user_id0, 1, generate_password_hash(
            EXPERT_PASSWORD, "pbkdf2:sha256:1000"))
        gen.child_ids["ab_user_role"] = role_id0
        gen.with_submitted_at = "submitted_at" in columns["expert"]
        if is_pg:
            raw = conn.connection.driver_connection
        else:
            # connection-level settings for the load only (not kept in the file)
            conn.exec_driver_sql("PRAGMA synchronous = OFF")
            conn.exec_driver_sql("PRAGMA cache_size = -1000000")
            sql = {}
            for name, cols in columns.items():
                compiled = insert(tables[name]).compile(dialect=conn.dialect, column_keys=list(cols))
                order = list(compiled.positiontup)
                assert sorted(order) == sorted(cols), (name, order)
                if order != list(cols):  # the compiled insert lists columns in table order
                    reorder[name] = itemgetter(*(cols.index(c) for c in order))
                sql[name] = str(compiled)
        done = 0
        while done < n:
            size = min(batch, n - done)
            g0 = time.perf_counter()
            rows = gen.batch(done, size)
            gen_seconds += time.perf_counter() - g0
            for name, cols in columns.items():
                data = rows[name]
                if not data:
                    continue
                if name in reorder:
                    data = list(map(reorder[name], data))
                if is_pg:
                    with raw.cursor() as cur, cur.copy(
                            f"COPY {name} ({', '.join(cols)}) FROM STDIN") as copy:
                        for row in data:
                            copy.write_row(row)
                else:
                    conn.exec_driver_sql(sql[name], data)
                counts[name] += len(data)
            done += size
            elapsed = time.perf_counter() - t0
            print(f"\r  loaded {done:>9,} / {n:,} experts  {elapsed:7.1f} s", end="", flush=True)
        print()
        if is_pg:
            for name in COLUMNS:
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                    f"(SELECT max(id) FROM {name}))")
    insert_seconds = time.perf_counter() - t0
    analyze_seconds = 0.0
    if is_pg:
        a0 = time.perf_counter()
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for name in COLUMNS:
                conn.exec_driver_sql(f"VACUUM (ANALYZE) {name}")
        analyze_seconds = time.perf_counter() - a0
    engine.dispose()
    total_rows = sum(counts.values())
    return {
        "experts": n, "rows": counts, "total_rows": total_rows,
        "seconds": round(insert_seconds, 1), "generate_seconds": round(gen_seconds, 1),
        "vacuum_analyze_seconds": round(analyze_seconds, 1),
        "rows_per_second": round(total_rows / insert_seconds),
        "experts_per_second": round(n / insert_seconds),
    }


def check_sample(url: str, size: int = 2000, seed: int = 7) -> dict[str, Any]:
    """Validate a random sample of the loaded experts with the app's own validators."""
    from app.services.validators import (
        ValidationError,
        check_id_agrees,
        validate_date_range,
        validate_email,
        validate_id_number,
        validate_name,
        validate_phone,
    )

    engine = create_engine(url)
    problems: list[str] = []
    with engine.connect() as conn:
        lo, hi = conn.execute(text("SELECT min(id), max(id) FROM expert")).one()
        ids = random.Random(seed).sample(range(lo, hi + 1), min(size, hi - lo + 1))
        id_list = ", ".join(map(str, ids))
        experts = conn.execute(text(
            "SELECT e.id, e.name, e.id_number, e.birth_date, e.gender, e.phone, e.email, "
            "e.expert_no, e.status, u.username, u.first_name, u.email FROM expert e "
            f"JOIN ab_user u ON u.id = e.user_id WHERE e.id IN ({id_list})")).all()
        children = conn.execute(text(
            f"SELECT expert_id, start_date, end_date FROM education WHERE expert_id IN ({id_list}) "
            "UNION ALL SELECT expert_id, start_date, end_date FROM work_experience "
            f"WHERE expert_id IN ({id_list})")).all()
    engine.dispose()

    def as_date(v):
        return dt.date.fromisoformat(str(v)[:10]) if v is not None else None

    for (eid, name, id_number, birth, gender, phone, email, expert_no, status, username,
         first_name, user_email) in experts:
        try:
            assert validate_name(name) == name, "name not normalised"
            assert validate_id_number(id_number) == id_number
            check_id_agrees(id_number, as_date(birth), gender)
            assert validate_phone(phone) == phone
            if email:
                validate_email(email)
            # the account's placeholder address (experts.py): `.invalid` is reserved by RFC 2606
            # precisely so that it is never an address; email-validator rightly refuses it
            assert first_name == name and user_email == f"{username}@expert.invalid"
            assert (expert_no is not None) == (status == "已入库"), "专家编号 vs status"
        except (ValidationError, AssertionError) as exc:
            problems.append(f"expert {eid}: {getattr(exc, 'message', exc)}")
    for eid, start, end in children:
        try:
            validate_date_range(as_date(start), as_date(end))
        except ValidationError as exc:
            problems.append(f"expert {eid}: {exc.message} ({start} .. {end})")
    if problems:
        raise SystemExit("invalid rows in the sample:\n  " + "\n  ".join(problems[:20]))
    return {"experts": len(experts), "child_rows": len(children)}


# ----------------------------------------------------------------------------- timing


@dataclass
class Query:
    key: str
    label: str
    url: str
    expect: list[str]  # strings the page must contain: the searched expert
    count: int | None = None  # the list's 记录数目 must be this (the filter was applied)
    reference: bool = False


def expert_view(app):
    for view in app.appbuilder.baseviews:
        if type(view).__name__ == "ExpertAdminView":
            return view
    raise SystemExit("ExpertAdminView is not registered")


def filter_index(view, column: str, arg_names: tuple[str, ...]) -> tuple[int, str]:
    """The URL index (``_flt_<i>_<column>``) of the column's filter with that arg_name:
    "eq" equal to, "sw" starts with, "rel_o_m" relation equal. Looked up in the live
    view, since the app may change its filter lists."""
    filters = view._filters.get_search_filters().get(column) or []
    for i, flt in enumerate(filters):
        if flt.arg_name in arg_names:
            return i, type(flt).__name__
    raise SystemExit(f"ExpertAdminView has no {arg_names} filter on {column}: "
                     f"{[type(f).__name__ for f in filters]}")


def use_fab_defaults(app) -> list[str]:
    """--fab-defaults: undo, in this process only, what the app changes in FAB's list and
    permission machinery, to time the state before optimisation on the current code and
    data: FAB's filter lists (ILIKE "starts with") on the expert list's non-exact columns,
    plain SQLAInterface (uncounted-cache ``count(*)``), FAB's SearchWidget, FAB's
    permission checks (one EXISTS query per menu item and button) and FAB's
    Filters._get_filters. Anything else the app changes (templates, indexes) stays.
    Returns what was undone, for the record."""
    from flask_appbuilder.models.filters import Filters
    from flask_appbuilder.models.sqla.interface import SQLAInterface
    from flask_appbuilder.widgets import SearchWidget

    changed = []
    view = expert_view(app)
    converter = view.datamodel.filter_converter_class(view.datamodel)
    exact = set(getattr(view, "exact_search_columns", ()) or ())
    for col, filters in list(view._filters._search_filters.items()):
        default = converter.convert(col)
        if col in exact or not default:
            continue
        if [type(f) for f in filters] != [type(f) for f in default]:
            view._filters._search_filters[col] = default
            view._filters._all_filters[col] = default
            changed.append(f"ExpertAdminView filters on {col}: "
                           f"{[type(f).__name__ for f in filters]} -> FAB's")
    for v in app.appbuilder.baseviews:
        dm = getattr(v, "datamodel", None)
        if isinstance(dm, SQLAInterface) and type(dm) is not SQLAInterface:
            changed.append(f"{type(v).__name__}.datamodel {type(dm).__name__} -> SQLAInterface")
            dm.__class__ = SQLAInterface
        widget = getattr(v, "search_widget", None)
        if isinstance(widget, type) and issubclass(widget, SearchWidget) and widget is not SearchWidget:
            changed.append(f"{type(v).__name__}.search_widget {widget.__name__} -> SearchWidget")
            v.search_widget = SearchWidget
    for cls in type(app.appbuilder.sm).__mro__:
        if cls.__module__.startswith("flask_appbuilder"):
            break
        for name in ("has_access", "_has_view_access", "exist_permission_on_roles",
                     "get_user_roles", "get_user_permissions", "get_user_roles_permissions"):
            if name in vars(cls):
                delattr(cls, name)
                changed.append(f"{cls.__name__}.{name} -> FAB's")
    try:
        from app import fab_fixes
    except ImportError:  # pragma: no cover
        fab_fixes = None
    original = getattr(fab_fixes, "_original_get_filters", None)
    if original is not None and Filters._get_filters is not original:
        Filters._get_filters = original
        changed.append("Filters._get_filters -> FAB's")
    return changed


def app_state(app, conn) -> dict[str, Any]:
    """What the timed code looked like: migration head, filters, datamodel, indexes."""
    from sqlalchemy import inspect

    view = expert_view(app)
    filters = {col: [type(f).__name__ for f in fl]
               for col, fl in view._filters.get_search_filters().items()
               if col in ("name", "phone", "id_number", "expert_no", "prefecture",
                          "main_specialty")}
    insp = inspect(conn)
    indexes = sorted(
        f"{ix['name']}({', '.join(str(c) for c in ix['column_names'] if c) or ix.get('expressions')})"
        + (" unique" if ix.get("unique") else "")
        for ix in insp.get_indexes("expert"))
    sm = type(app.appbuilder.sm)
    overrides = sorted(f"{cls.__name__}.{name}" for cls in sm.__mro__
                       if not cls.__module__.startswith(("flask_appbuilder", "builtins"))
                       for name in vars(cls) if "access" in name or "permission" in name)
    return {
        "alembic_version": conn.execute(text("SELECT version_num FROM alembic_version")).scalar(),
        "expert_view_datamodel": type(view.datamodel).__name__,
        "expert_view_search_widget": getattr(view.search_widget, "__name__", str(view.search_widget)),
        "security_manager_permission_overrides": overrides,
        "expert_view_filters": filters,
        "expert_indexes": indexes,
    }


def pick_targets(conn) -> dict[str, Any]:
    one = lambda sql, **kw: conn.execute(text(sql), kw).one()  # noqa: E731
    lo, hi = one("SELECT min(id), max(id) FROM expert")
    # an admitted expert with a three-character Han name, half-way through the table
    row = conn.execute(text(
        "SELECT id, name, phone, id_number, expert_no, application_no, prefecture_id, "
        "main_specialty_id FROM expert WHERE id >= :mid AND status = '已入库' "
        "AND name NOT LIKE '%·%' AND length(name) = 3 ORDER BY id LIMIT 1"), {"mid": (lo + hi) // 2}).one()
    t = dict(row._mapping)
    t["n_experts"] = one("SELECT count(*) FROM expert")[0]
    t["top_application_no"] = one("SELECT application_no FROM expert ORDER BY id DESC LIMIT 1")[0]
    pages = math.ceil(t["n_experts"] / PAGE_SIZE)
    t["deep_page"] = DEEP_PAGE if pages > DEEP_PAGE else pages // 2
    t["deep_application_no"] = one(
        "SELECT application_no FROM expert ORDER BY id DESC LIMIT 1 OFFSET :o",
        o=t["deep_page"] * PAGE_SIZE)[0]
    t["prefix"] = t["name"][:2]
    for key, where, params in (
        ("name", "name = :v", {"v": t["name"]}),
        ("prefix", "name LIKE :v", {"v": t["prefix"] + "%"}),
        ("pref_spec", "prefecture_id = :p AND main_specialty_id = :s",
         {"p": t["prefecture_id"], "s": t["main_specialty_id"]}),
    ):
        top, cnt = conn.execute(text(
            f"SELECT max(id), count(*) FROM expert WHERE {where}"), params).one()
        t[f"{key}_count"] = cnt
        t[f"{key}_top_application_no"] = f"SQ{top:08d}"
    # 审核 → 待审核申请 (issue #4): the queue, and the queue filtered by 市州 + 入库类型
    t["pending_count"] = one("SELECT count(*) FROM expert WHERE status = '待审核'")[0]
    t["pending_filtered_count"] = one(
        "SELECT count(*) FROM expert WHERE status = '待审核' AND prefecture_id = :p "
        "AND admission_type = '续聘'", p=t["prefecture_id"])[0]
    return t


def build_queries(t: dict[str, Any], view) -> tuple[list[Query], dict[str, str]]:
    base = "/expertadminview/list/"

    def q(params):
        return f"{base}?{urlencode(params)}"

    used: dict[str, str] = {}

    def flt(column: str, *arg_names: str) -> str:
        i, cls = filter_index(view, column, arg_names)
        used[f"_flt_{i}_{column}"] = cls
        return f"_flt_{i}_{column}"

    n = t["n_experts"]
    deep_label = (f"page {t['deep_page'] + 1:,} (?page_ExpertAdminView={t['deep_page']})")
    queries = [
        Query("page1", "page 1 (default order id desc)", base, [t["top_application_no"]], n),
        Query("deep_page", deep_label, q({"page_ExpertAdminView": t["deep_page"]}),
              [t["deep_application_no"]], n),
        Query("name_equal", f"姓名 equal to ({t['name_count']:,} matches)",
              q({flt("name", "eq"): t["name"]}), [t["name_top_application_no"], t["name"]],
              t["name_count"]),
        Query("name_prefix", f"姓名 starts with ({t['prefix_count']:,} matches)",
              q({flt("name", "sw"): t["prefix"]}), [t["prefix_top_application_no"]],
              t["prefix_count"]),
        Query("phone", "手机号码 exact", q({flt("phone", "eq"): t["phone"]}),
              [t["application_no"]], 1),
        Query("id_number", "身份证号 exact", q({flt("id_number", "eq"): t["id_number"]}),
              [t["application_no"]], 1),
        Query("expert_no", "专家编号 exact", q({flt("expert_no", "eq"): t["expert_no"]}),
              [t["application_no"]], 1),
        Query("prefecture_specialty", f"市州 + 专业类别 ({t['pref_spec_count']:,} matches)",
              q({flt("prefecture", "rel_o_m"): t["prefecture_id"],
                 flt("main_specialty", "rel_o_m"): t["main_specialty_id"]}),
              [t["pref_spec_top_application_no"]], t["pref_spec_count"]),
        Query("show", "detail /show/<id>", f"/expertadminview/show/{t['id']}",
              [t["application_no"], t["name"]]),
        Query("review_queue", f"审核 queue, page 1 ({t['pending_count']:,} 待审核)",
              "/reviewqueueview/list/", [], t["pending_count"]),
        Query("review_queue_filter",
              f"审核 queue, 市州 + 入库类型 ({t['pending_filtered_count']:,} matches)",
              "/reviewqueueview/list/?" + urlencode({
                  flt("prefecture", "rel_o_m"): t["prefecture_id"],
                  flt("admission_type", "eq"): "续聘"}),
              [], t["pending_filtered_count"]),
        Query("empty_floor", "reference: phone search, no match (auth + template floor)",
              q({flt("phone", "eq"): "10000000000"}), [], 0, reference=True),
    ]
    return queries, used


_COUNT_RE = re.compile(r"<strong>[^<]*</strong>\s*(\d+)\s*</div>")


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    k = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[k - 1]


class SqlRecorder:
    def __init__(self, engine):
        self.engine = engine
        self.statements: list[dict[str, Any]] = []

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        conn.info.setdefault("bench_t0", []).append(time.perf_counter())

    def _after(self, conn, cursor, statement, parameters, context, executemany):
        t0 = conn.info["bench_t0"].pop()
        self.statements.append({"sql": statement, "params": parameters,
                                "ms": (time.perf_counter() - t0) * 1000})

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._before)
        event.listen(self.engine, "after_cursor_execute", self._after)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._before)
        event.remove(self.engine, "after_cursor_execute", self._after)


def _jsonable(params):
    if isinstance(params, dict):
        return {k: _jsonable(v) for k, v in params.items()}
    if isinstance(params, (list, tuple)):
        return [_jsonable(v) for v in params]
    if isinstance(params, (int, float, str, bool)) or params is None:
        return params
    return str(params)


def replay_and_explain(engine, statements: list[dict[str, Any]], is_pg: bool,
                       explain_top: int) -> list[dict[str, Any]]:
    """Group the request's statements by SQL text, replay each group's first instance
    (execute + fetchall, best of 3) and explain the costliest groups."""
    groups: dict[str, dict[str, Any]] = {}
    for st in statements:
        g = groups.setdefault(st["sql"], {"sql": st["sql"], "params": st["params"], "count": 0,
                                          "request_ms": 0.0})
        g["count"] += 1
        g["request_ms"] += st["ms"]
    raw = engine.raw_connection()
    try:
        driver = raw.driver_connection
        for g in groups.values():
            if not g["sql"].lstrip().upper().startswith("SELECT"):
                g["replay_ms"] = None
                continue
            best = float("inf")
            for _ in range(3):
                cur = driver.cursor()
                t0 = time.perf_counter()
                cur.execute(g["sql"], g["params"])
                cur.fetchall()
                best = min(best, (time.perf_counter() - t0) * 1000)
                cur.close()
            g["replay_ms"] = best
            g["replay_total_ms"] = best * g["count"]
        ranked = sorted(groups.values(), key=lambda g: -(g.get("replay_total_ms") or g["request_ms"]))
        for g in ranked[:explain_top]:
            if g.get("replay_ms") is None:
                continue
            if is_pg:
                import psycopg

                cur = psycopg.ClientCursor(driver)
                cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + g["sql"], g["params"])
                g["plan"] = [r[0] for r in cur.fetchall()]
                cur.close()
            else:
                cur = driver.cursor()
                cur.execute("EXPLAIN QUERY PLAN " + g["sql"], g["params"])
                rows = cur.fetchall()
                depth = {0: -1}
                plan = []
                for node_id, parent, _, detail in rows:
                    depth[node_id] = depth.get(parent, -1) + 1
                    plan.append("  " * depth[node_id] + detail)
                g["plan"] = plan
                cur.close()
        driver.rollback()
    finally:
        raw.close()
    out = []
    for g in ranked:
        out.append({
            "sql": g["sql"], "params": _jsonable(g["params"]), "count": g["count"],
            "request_ms": round(g["request_ms"], 3),
            "replay_ms": None if g.get("replay_ms") is None else round(g["replay_ms"], 3),
            "replay_total_ms": None if g.get("replay_ms") is None else round(g["replay_total_ms"], 3),
            **({"plan": g["plan"]} if "plan" in g else {}),
        })
    return out


def run_queries(app, url: str, repeat: int, warmup: int, explain_top: int,
                only: set[str] | None = None) -> tuple[dict, list, dict]:
    from app.extensions import db

    is_pg = make_url(url).get_backend_name() == "postgresql"
    client = app.test_client()
    resp = client.post("/login/?login_kind=staff", data={
        "username": STAFF_USERNAME, "password": STAFF_PASSWORD, "login_kind": "staff"})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
    with app.app_context():
        with db.engine.connect() as conn:
            targets = pick_targets(conn)
        engine = db.engine
    queries, filters_used = build_queries(targets, expert_view(app))
    queries = [q for q in queries if not only or q.key in only]
    results = []
    for q in queries:
        def get(q=q):
            r = client.get(q.url)
            body = r.get_data(as_text=True)
            assert r.status_code == 200, f"{q.key}: HTTP {r.status_code} for {q.url}\n{body[:800]}"
            for needle in q.expect:
                assert needle in body, f"{q.key}: {needle!r} not on the page {q.url}"
            if q.count is not None:
                m = _COUNT_RE.search(body)
                assert m and int(m.group(1)) == q.count, (
                    f"{q.key}: record count {m and m.group(1)} on the page, {q.count} expected "
                    f"(filter not applied?) {q.url}")
            return body

        for _ in range(warmup):
            get()
        samples, cpu = [], []
        for _ in range(repeat):
            c0 = time.process_time()
            t0 = time.perf_counter()
            get()
            samples.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.process_time() - c0) * 1000)
        with app.app_context():
            with SqlRecorder(engine) as rec:
                t0 = time.perf_counter()
                get()
                profiled_ms = (time.perf_counter() - t0) * 1000
            sql = replay_and_explain(engine, rec.statements, is_pg, explain_top)
        s = sorted(samples)
        entry = {
            "key": q.key, "label": q.label, "url": q.url, "reference": q.reference,
            "median_ms": round(statistics.median(s), 2), "p95_ms": round(percentile(s, 95), 2),
            "min_ms": round(s[0], 2), "max_ms": round(s[-1], 2),
            # CPU time of this (client + app) process: the Python part, without waiting
            # for the database server or for other processes on the machine
            "python_cpu_median_ms": round(statistics.median(cpu), 2),
            "samples_ms": [round(x, 2) for x in samples],
            "sql_statements": len(rec.statements),
            "sql_request_ms": round(sum(st["ms"] for st in rec.statements), 2),
            "profiled_request_ms": round(profiled_ms, 2),
            "sql": sql,
        }
        results.append(entry)
        print(f"  {q.key:<22} median {entry['median_ms']:8.1f} ms   p95 {entry['p95_ms']:8.1f} ms"
              f"   {entry['sql_statements']:3d} SQL", flush=True)
    return targets, results, filters_used


# ----------------------------------------------------------------------------- output


def code_stamp() -> tuple[int, float]:
    """Number and newest mtime of the app's code, templates and migrations: others may edit
    them while the benchmark runs, and a run during an edit is marked as such."""
    files = [f for d in ("app", "migrations", "config.py") for f in (
        [ROOT / d] if d.endswith(".py") else (ROOT / d).rglob("*")) if f.is_file()
        and f.suffix in (".py", ".html")]
    return len(files), max((f.stat().st_mtime for f in files), default=0.0)


def machine_info(url: str, app) -> dict[str, Any]:
    from app.extensions import db

    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    cpu = ""
    try:
        m = re.search(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text())
        cpu = m.group(1) if m else ""
    except OSError:
        pass
    with app.app_context():
        with db.engine.connect() as conn:
            if make_url(url).get_backend_name() == "postgresql":
                version = conn.execute(text("SELECT version()")).scalar()
            else:
                version = "SQLite " + conn.execute(text("SELECT sqlite_version()")).scalar()
    import flask_appbuilder
    import sqlalchemy

    return {"nproc": os.cpu_count(), "mem_gib": round(mem_kb / 1024 / 1024, 1), "cpu": cpu,
            "python": platform.python_version(), "database": version,
            "flask_appbuilder": flask_appbuilder.__version__, "sqlalchemy": sqlalchemy.__version__}


def short_sql(sql: str) -> str:
    """One line, the long select lists elided."""
    sql = re.sub(r"\s+", " ", sql).strip()
    return re.sub(r"SELECT (?!count\(\*\) AS count_1 FROM \(SELECT)(.{60,}?) FROM ",
                  "SELECT … FROM ", sql)


def print_costliest(results: list[dict[str, Any]], top: int = 2) -> None:
    """Where each request's database time goes: the costliest statement groups."""
    print("\ncostliest SQL per request (replayed: execute + fetch; xN = times issued):")
    for r in results:
        print(f"  {r['key']}: {r['sql_statements']} statements")
        for g in r["sql"][:top]:
            each = g["replay_ms"] if g["replay_ms"] is not None else g["request_ms"] / g["count"]
            print(f"    x{g['count']:<3} {each:8.2f} ms  {short_sql(g['sql'])[:150]}")
            plan = [ln.strip() for ln in g.get("plan", []) if not ln.strip().startswith(
                ("Buffers", "Planning", "Execution", "Heap Fetches", "Sort Method"))]
            if plan and "ab_permission_view" not in g["sql"]:
                print("                     plan: " + " / ".join(plan[:3])[:150])


def write_sql_report(path: Path, db_name: str, results: list[dict[str, Any]]) -> None:
    lines = [f"# SQL issued per request ({db_name}); groups by SQL text, costliest first", ""]
    for r in results:
        lines.append("=" * 100)
        lines.append(f"{r['key']}: {r['label']}")
        lines.append(f"GET {r['url']}")
        lines.append(f"median {r['median_ms']} ms, p95 {r['p95_ms']} ms; {r['sql_statements']} "
                     f"statements, {r['sql_request_ms']} ms in cursor.execute")
        for g in r["sql"]:
            lines.append("-" * 100)
            lines.append(f"x{g['count']}  request {g['request_ms']} ms  replay(execute+fetch) "
                         f"{g['replay_ms']} ms each")
            lines.append(g["sql"].strip())
            lines.append(f"params: {json.dumps(g['params'], ensure_ascii=False)}")
            for p in g.get("plan", []):
                lines.append("    | " + p)
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument("--experts", type=int, default=1_000_000)
    ap.add_argument("--sqlite-path", default="/tmp/bench_registry.db")
    ap.add_argument("--pg-url", default=DEFAULT_PG_URL,
                    help="dropped and created afresh unless --skip-load")
    ap.add_argument("--skip-load", action="store_true", help="reuse the loaded database")
    ap.add_argument("--batch", type=int, default=25_000, help="experts per insert batch")
    ap.add_argument("--seed", type=int, default=20250523)
    ap.add_argument("--repeat", type=int, default=20, help="timed requests per query (>= 15)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--explain-top", type=int, default=3,
                    help="explain this many costliest statements per request")
    ap.add_argument("--only", help="comma-separated query keys to time (page1, deep_page, "
                    "name_equal, name_prefix, phone, id_number, expert_no, prefecture_specialty, "
                    "show, empty_floor); written to registry-<db>-partial.json")
    ap.add_argument("--fab-defaults", action="store_true",
                    help="undo, in this process, what the app changes in FAB's list and "
                         "permission machinery (filters, count, search widget, permission "
                         "checks) to time the 'before' state on the current code; results go "
                         "to registry-<db>-fab-defaults.json")
    args = ap.parse_args(argv)
    if args.repeat < 15:
        ap.error("--repeat must be at least 15")
    if args.experts > 1_600_000:
        ap.error("专家编号 has 6 digits: at most ~1.6 million experts (60% admitted)")

    url = database_url(args)
    shown_url = make_url(url).render_as_string(hide_password=True)
    print(f"database: {shown_url}")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    tag = f"{args.db}-fab-defaults" if args.fab_defaults else args.db
    if args.only:  # a partial run does not replace the full results
        tag += "-partial"
    out_json = RESULTS_DIR / f"registry-{tag}.json"

    load_info = None
    stamp0 = code_stamp()
    if not args.skip_load:
        from bench import fresh_database

        fresh_database(url)
    app = make_app(url)
    print("schema, reference data, roles, staff user ...", flush=True)
    bootstrap(app)
    if args.skip_load:
        for candidate in (RESULTS_DIR / f"registry-{args.db}.json", out_json):
            if candidate.exists():
                load_info = json.loads(candidate.read_text(encoding="utf-8")).get("load")
                if load_info:
                    load_info = {**load_info, "from_previous_run": True}
                    break
    else:
        print(f"loading {args.experts:,} experts ...", flush=True)
        load_info = load(url, args.experts, args.batch, args.seed)
        print(f"  {load_info['total_rows']:,} rows in {load_info['seconds']} s "
              f"({load_info['rows_per_second']:,} rows/s, {load_info['experts_per_second']:,} "
              f"experts/s; row generation {load_info['generate_seconds']} s"
              + (f"; VACUUM ANALYZE {load_info['vacuum_analyze_seconds']} s" if args.db == "postgresql"
                 else "") + ")")
        if args.db == "sqlite":
            load_info["file_mib"] = round(Path(args.sqlite_path).stat().st_size / 2 ** 20)
        checked = check_sample(url)
        load_info["validated_sample"] = checked
        print(f"  sample of {checked['experts']:,} experts and {checked['child_rows']:,} child rows "
              "valid (app.services.validators)")

    info = machine_info(url, app)
    from app.extensions import db

    changed = use_fab_defaults(app) if args.fab_defaults else []
    with app.app_context(), db.engine.connect() as conn:
        state = app_state(app, conn)
    state["fab_defaults"] = changed
    if args.fab_defaults:
        print("--fab-defaults: " + ("; ".join(changed) or "nothing to change"))
    print(f"timing ({args.warmup} warm-ups + {args.repeat} runs each) ...", flush=True)
    only = set(args.only.split(",")) if args.only else None
    load_before = os.getloadavg()
    stamp_before = code_stamp()
    t_run = time.perf_counter()
    targets, results, filters_used = run_queries(app, url, args.repeat, args.warmup,
                                                 args.explain_top, only)
    state["filters_used"] = filters_used
    info["timing_seconds"] = round(time.perf_counter() - t_run, 1)
    info["loadavg_before"] = [round(x, 2) for x in load_before]
    info["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    state["code_changed_during_run"] = code_stamp() != stamp_before or code_stamp() != stamp0
    state["code_newest_mtime"] = dt.datetime.fromtimestamp(code_stamp()[1]).isoformat(
        timespec="seconds")

    print()
    print(f"{'query':<58} {'median ms':>10} {'p95 ms':>9} {'CPU ms':>7} {'SQL':>5}")
    for r in results:
        flag = "" if r["reference"] or r["median_ms"] <= 25 else "  > 25 ms"
        print(f"{r['label'][:58]:<58} {r['median_ms']:>10.1f} {r['p95_ms']:>9.1f} "
              f"{r['python_cpu_median_ms']:>7.1f} {r['sql_statements']:>5}{flag}")
    print(f"load average before/after timing: {info['loadavg_before']} / {info['loadavg_after']}"
          " (other processes share the machine)")
    print_costliest(results)
    if state["code_changed_during_run"]:
        print("\nWARNING: files under app/ or migrations/ changed during this run: the figures "
              "may mix two versions of the code; run it again.")
    report = {
        "benchmark": "registry", "db": args.db, "url": shown_url,
        "run_at": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": info, "load": load_info, "app_state": state,
        "settings": {"repeat": args.repeat, "warmup": args.warmup, "page_size": PAGE_SIZE,
                     "seed": args.seed},
        "targets": _jsonable(targets), "queries": results,
    }
    out_json.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    sql_txt = RESULTS_DIR / f"registry-{tag}-sql.txt"
    write_sql_report(sql_txt, args.db, results)
    print(f"\nwritten: {out_json.relative_to(ROOT)}, {sql_txt.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
