"""The schema, in the order of the manual: the expert's profile in its twelve tabs, then
continuing education (培训考试), certificates (专家证书), changes (个人信息变更), and last the
system's own tables (sessions, login throttle, audit).

Status and choice values are stored as the Chinese labels the manual shows, so generated
staff screens, filters and exports read as the manual does; code names them through the
enums beside each table (one per state machine), never through string literals, and
templates ask the model (``expert.is_returned``) instead of comparing labels. The
transitions of each state machine live in its service (``expert_status``, ``payment``,
``exam``).

This module imports only what sits below it (``app.masking``, SQLAlchemy, FAB's base
model): no service, no session. Loaders live in ``app.services.access``.
"""
from __future__ import annotations

import datetime as dt
import enum
import json

from flask_appbuilder import Model
from flask_appbuilder.security.sqla.models import User
from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import relationship

from app.masking import mask_bank_account, mask_id_number, mask_phone

# The largest value our integer columns hold. They are all INTEGER: 64 bits in SQLite (a
# bigger Python int raises OverflowError in its driver) but 32 bits in PostgreSQL, where
# SQLAlchemy's psycopg dialect casts each parameter to the column's type, so anything above
# 2**31 - 1 fails there (NumericValueOutOfRange). An id or value beyond it is no row.
MAX_DB_INT = 2**31 - 1

# ==========================================================================================
# Time: stored in UTC, shown in 北京时间
# ==========================================================================================

def migration_filter(dialect_name: str):
    """Autogenerate's ``include_object`` for one database: a schema object the models declare
    for another database only (``ddl_if(dialect=...)``) is neither created nor compared here,
    so the drift check and ``flask db migrate`` agree with what the migrations built."""

    def include(obj, name, type_, reflected, compare_to) -> bool:
        only_on = getattr(getattr(obj, "_ddl_if", None), "dialect", None)
        return reflected or only_on is None or only_on == dialect_name

    return include


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


# Times are stored in UTC and shown in 北京时间 (UTC+8), as the manual's screens show them.
BEIJING = dt.timedelta(hours=8)


def beijing_today() -> dt.date:
    return (utcnow() + BEIJING).date()


def age_on(birth_date: dt.date, day: dt.date | None = None) -> int:
    """周岁: full years completed on ``day`` (today in Beijing when not given)."""
    day = day or beijing_today()
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


def local_time(t: dt.datetime | None) -> str:
    return (t + BEIJING).strftime("%Y-%m-%d %H:%M:%S") if t else ""


# ==========================================================================================
# 基础数据: the reference lists the tabs choose from (GB/T codes, staff extend them)
# ==========================================================================================

class Prefecture(Model):
    """市州 (GB/T 2260)."""

    __tablename__ = "prefecture"
    id = Column(Integer, primary_key=True)
    code = Column(String(6), unique=True, nullable=False)
    name = Column(String(40), unique=True, nullable=False)
    kind = Column(String(20))

    def __repr__(self) -> str:
        return self.name


class PoliticalStatus(Model):
    """政治面貌 (GB/T 4762)."""

    __tablename__ = "political_status"
    id = Column(Integer, primary_key=True)
    code = Column(String(4), unique=True, nullable=False)
    name = Column(String(40), unique=True, nullable=False)

    def __repr__(self) -> str:
        return self.name


class EducationLevel(Model):
    """学历 (GB/T 4658)."""

    __tablename__ = "education_level"
    id = Column(Integer, primary_key=True)
    code = Column(String(4), unique=True, nullable=False)
    name = Column(String(40), unique=True, nullable=False)

    def __repr__(self) -> str:
        return self.name


class Degree(Model):
    """学位 (GB/T 6864)."""

    __tablename__ = "degree"
    id = Column(Integer, primary_key=True)
    code = Column(String(4), unique=True, nullable=False)
    name = Column(String(40), unique=True, nullable=False)

    def __repr__(self) -> str:
        return self.name


class TitleLevel(Model):
    """职称级别; ``senior`` marks 副高级 and above."""

    __tablename__ = "title_level"
    id = Column(Integer, primary_key=True)
    code = Column(String(4), unique=True, nullable=False)
    name = Column(String(20), unique=True, nullable=False)
    senior = Column(Boolean, nullable=False, default=False)

    def __repr__(self) -> str:
        return self.name


class Title(Model):
    """职称 as experts write them (高级工程师, ...) and their level."""

    __tablename__ = "title"
    id = Column(Integer, primary_key=True)
    name = Column(String(40), unique=True, nullable=False)
    level_id = Column(Integer, ForeignKey("title_level.id"), nullable=False)
    level = relationship(TitleLevel)

    def __repr__(self) -> str:
        return self.name


class Specialty(Model):
    """从事专业类别: a two-level tree."""

    __tablename__ = "specialty"
    id = Column(Integer, primary_key=True)
    code = Column(String(10), unique=True, nullable=False)
    name = Column(String(60), nullable=False)
    parent_id = Column(Integer, ForeignKey("specialty.id"))
    parent = relationship("Specialty", remote_side=[id], backref="children")

    def __repr__(self) -> str:
        return f"{self.parent.name}/{self.name}" if self.parent_id and self.parent else self.name


# ==========================================================================================
# Accounts and uploaded files
# ==========================================================================================

class AppUser(User):
    """FAB's user plus what the manual's login needs."""

    __tablename__ = "ab_user"
    # Set for accounts created with the default password; cleared by 修改密码.
    must_change_password = Column(Boolean, nullable=False, default=False, server_default="0")
    password_changed_at = Column(DateTime)
    # 个人中心 → 基本资料 (an expert's phone lives on their Expert row: it is also a login)
    phone = Column(String(11))
    avatar_file_id = Column(Integer, ForeignKey("stored_file.id", use_alter=True,
                                                name="fk_ab_user_avatar_file"))


class StoredFile(Model):
    """An uploaded file: kept outside static/, served only through an ownership check."""

    __tablename__ = "stored_file"
    id = Column(Integer, primary_key=True)
    owner_id = Column(Integer, ForeignKey("ab_user.id"), index=True)
    owner = relationship(AppUser, foreign_keys=[owner_id])
    kind = Column(String(30), nullable=False)
    original_name = Column(String(255), nullable=False)
    stored_name = Column(String(80), unique=True, nullable=False)
    size = Column(Integer, nullable=False)
    sha256 = Column(String(64), nullable=False)
    content_type = Column(String(80), nullable=False)
    created_on = Column(DateTime, nullable=False, default=utcnow)

    def __repr__(self) -> str:
        return self.original_name


# ==========================================================================================
# 专家管理系统: the expert's profile, in the manual's twelve tabs
# 基本信息 · 教育经历 · 专业技术 · 职称及资质 · 工作经历 · 评标实践经验 · 业务技术专长 ·
# 回避单位 · 账户信息 · 附件 · 审核详情 · 学习培训情况
# ==========================================================================================

# --- 基本信息 and 专业技术 (one row per expert)

class ExpertStatus(enum.StrEnum):
    DRAFT = "草稿"
    PENDING = "待审核"
    RETURNED = "已退回"
    ADMITTED = "已入库"
    SUSPENDED = "暂停"
    REMOVED = "清退"


class AdmissionType(enum.StrEnum):
    RENEWAL = "续聘"
    NEW = "新聘"
    OTHER = "其他"


GENDERS = ("男", "女")


expert_extra_specialty = Table(
    "expert_extra_specialty",
    Model.metadata,
    Column("expert_id", Integer, ForeignKey("expert.id", ondelete="CASCADE"), primary_key=True),
    Column("specialty_id", Integer, ForeignKey("specialty.id"), primary_key=True),
)


class Expert(Model):
    """基本信息 and 专业技术: one per expert account."""

    __tablename__ = "expert"
    id = Column(Integer, primary_key=True)
    user_id = Column(Integer, ForeignKey("ab_user.id"), unique=True)
    user = relationship(AppUser, foreign_keys=[user_id])
    application_no = Column(String(20), unique=True)  # 申请专家编号, set right after insert
    expert_no = Column(String(20), unique=True)  # 专家编号, given on approval
    name = Column(String(40), nullable=False, index=True)  # 姓名
    gender = Column(String(2))  # 性别
    birth_date = Column(Date)  # 出生年月
    id_number = Column(String(18), unique=True, nullable=False)  # 身份证号
    political_status_id = Column(Integer, ForeignKey("political_status.id"))
    political_status = relationship(PoliticalStatus)
    prefecture_id = Column(Integer, ForeignKey("prefecture.id"), index=True)
    prefecture = relationship(Prefecture, foreign_keys=[prefecture_id])
    address = Column(String(200))  # 详细地址
    email = Column(String(254))  # 本人电子邮箱
    phone = Column(String(11), unique=True)  # 本人手机号码 (also a login)
    backup_phone = Column(String(11))  # 本人备用手机号码
    accepts_remote = Column(Boolean)  # 是否接受远程异地评标
    emergency_expert = Column(Boolean)  # 是否愿意成为应急专家
    admission_type = Column(String(4))  # 入库类型
    admission_batch = Column(String(40), index=True)  # 入库批次
    employer = Column(String(200))  # 工作单位
    main_specialty_id = Column(Integer, ForeignKey("specialty.id"), index=True)
    main_specialty = relationship(Specialty, foreign_keys=[main_specialty_id])
    extra_specialties = relationship(Specialty, secondary=expert_extra_specialty)
    title_id = Column(Integer, ForeignKey("title.id"))
    title = relationship(Title)
    title_cert_file_id = Column(Integer, ForeignKey("stored_file.id"))  # 职称证书文件
    title_cert_file = relationship(StoredFile, foreign_keys=[title_cert_file_id])
    photo_file_id = Column(Integer, ForeignKey("stored_file.id"))  # 一寸免冠照
    photo_file = relationship(StoredFile, foreign_keys=[photo_file_id])
    id_front_file_id = Column(Integer, ForeignKey("stored_file.id"))  # 身份证人像面
    id_front_file = relationship(StoredFile, foreign_keys=[id_front_file_id])
    id_back_file_id = Column(Integer, ForeignKey("stored_file.id"))  # 身份证国徽面
    id_back_file = relationship(StoredFile, foreign_keys=[id_back_file_id])
    signed_form_file_id = Column(Integer, ForeignKey("stored_file.id"))  # 签字盖章的申请表
    signed_form_file = relationship(StoredFile, foreign_keys=[signed_form_file_id])
    # 初次选聘入库: 续聘 keeps the 市州, 工作单位 and 申报专业 of the first appointment.
    first_prefecture_id = Column(Integer, ForeignKey("prefecture.id"))
    first_prefecture = relationship(Prefecture, foreign_keys=[first_prefecture_id])
    first_employer = Column(String(200))
    first_specialty_id = Column(Integer, ForeignKey("specialty.id"))
    first_specialty = relationship(Specialty, foreign_keys=[first_specialty_id])
    submitted_at = Column(DateTime, index=True)  # last 提交审核
    status = Column(String(8), nullable=False, default=ExpertStatus.DRAFT.value, index=True)
    # Bumped on every change by the expert: the review issue's optimistic lock.
    version = Column(Integer, nullable=False, default=1)
    created_on = Column(DateTime, nullable=False, default=utcnow)
    changed_on = Column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)

    educations = relationship("Education", back_populates="expert", cascade="all, delete-orphan",
                              order_by="Education.start_date")
    qualifications = relationship("Qualification", back_populates="expert",
                                  cascade="all, delete-orphan")
    work_experiences = relationship("WorkExperience", back_populates="expert",
                                    cascade="all, delete-orphan",
                                    order_by="WorkExperience.start_date")
    evaluation_experiences = relationship("EvaluationExperience", back_populates="expert",
                                          cascade="all, delete-orphan")
    expertises = relationship("Expertise", back_populates="expert", cascade="all, delete-orphan")
    avoidance_units = relationship("AvoidanceUnit", back_populates="expert",
                                   cascade="all, delete-orphan")
    bank_accounts = relationship("BankAccount", back_populates="expert",
                                 cascade="all, delete-orphan")
    attachments = relationship("Attachment", back_populates="expert", cascade="all, delete-orphan")
    review_records = relationship("ReviewRecord", back_populates="expert",
                                  cascade="all, delete-orphan",
                                  order_by="ReviewRecord.reviewed_at.desc()")
    training_records = relationship("TrainingRecord", back_populates="expert",
                                    cascade="all, delete-orphan")

    __table_args__ = (
        Index("ix_expert_prefecture_specialty", "prefecture_id", "main_specialty_id"),
        # the review queue: 待审核 in order of submission, by 市州 + 入库类型 or by 入库批次;
        # its counts are answered from these indexes alone
        Index("ix_expert_status_submitted", "status", "submitted_at"),
        Index("ix_expert_queue_prefecture", "status", "prefecture_id", "admission_type",
              "submitted_at"),
        Index("ix_expert_queue_batch", "status", "admission_batch", "submitted_at"),
        # 姓名 prefix search: LIKE 'prefix%' walks a btree only with text_pattern_ops under a
        # non-C collation; SQLite's GLOB prefix search uses the plain index on name
        Index("ix_expert_name_pattern", "name",
              postgresql_ops={"name": "text_pattern_ops"}).ddl_if(dialect="postgresql"),
        # 首页 统计分析: the grouped columns, read by an index-only scan (a sixth of the table's
        # pages at 1M experts), the 入库批次 filter a range of it (app/services/statistics.py)
        Index("ix_expert_statistics", "admission_batch", "status", "prefecture_id",
              "main_specialty_id", "title_id", "birth_date").ddl_if(dialect="postgresql"),
    )

    def __repr__(self) -> str:
        return f"{self.name}（{self.application_no}）"

    # Masked forms for lists and exports.
    @property
    def id_number_masked(self) -> str:
        return mask_id_number(self.id_number)

    @property
    def phone_masked(self) -> str:
        return mask_phone(self.phone)

    @property
    def backup_phone_masked(self) -> str:
        return mask_phone(self.backup_phone)

    @property
    def account(self) -> str:
        return self.user.username if self.user else ""

    @property
    def is_admitted(self) -> bool:
        """已入库: 【继续教育】 and 【专家证书】 are open to the expert."""
        return self.status == ExpertStatus.ADMITTED

    @property
    def is_returned(self) -> bool:
        """已退回: the reviewers' opinions are waiting for the expert (the home page says so)."""
        return self.status == ExpertStatus.RETURNED

    def age(self, on: dt.date | None = None) -> int | None:
        return age_on(self.birth_date, on) if self.birth_date else None


# --- 教育经历

class Education(Model):
    """教育经历."""

    __tablename__ = "education"
    id = Column(Integer, primary_key=True)
    expert_id = Column(Integer, ForeignKey("expert.id", ondelete="CASCADE"), nullable=False,
                       index=True)
    expert = relationship(Expert, back_populates="educations")
    education_level_id = Column(Integer, ForeignKey("education_level.id"))
    education_level = relationship(EducationLevel)  # 学历
    degree_id = Column(Integer, ForeignKey("degree.id"))
    degree = relationship(Degree)  # 学位
    school = Column(String(100))  # 毕业院校
    major = Column(String(100))  # 专业名称
    start_date = Column(Date)
    end_date = Column(Date)
    proof_file_id = Column(Integer, ForeignKey("stored_file.id"))  # 学历证明文件
    proof_file = relationship(StoredFile)

    def __repr__(self) -> str:
        return f"{self.school or ''} {self.major or ''}".strip()


# --- 职称及资质

class Qualification(Model):
    """职称及资质: titles and registered qualifications (一级注册建造师, ...)."""

    __tablename__ = "qualification"
    id = Column(Integer, primary_key=True)
    expert_id = Column(Integer, ForeignKey("expert.id", ondelete="CASCADE"), nullable=False,
                       index=True)
    expert = relationship(Expert, back_populates="qualifications")
    name = Column(String(60), nullable=False)  # 职称/资质名称
    title_level_id = Column(Integer, ForeignKey("title_level.id"))
    title_level = relationship(TitleLevel)  # 级别 (for titles)
    is_registered = Column(Boolean, nullable=False, default=False)  # 注册执业资格
    certificate_no = Column(String(60))  # 证书编号
    issue_date = Column(Date)  # 发证日期
    file_id = Column(Integer, ForeignKey("stored_file.id"))
    file = relationship(StoredFile)

    def __repr__(self) -> str:
        return self.name


# --- 工作经历

class WorkExperience(Model):
    """工作经历."""

    __tablename__ = "work_experience"
    id = Column(Integer, primary_key=True)
    expert_id = Column(Integer, ForeignKey("expert.id", ondelete="CASCADE"), nullable=False,
                       index=True)
    expert = relationship(Expert, back_populates="work_experiences")
    start_date = Column(Date)
    end_date = Column(Date)  # empty: 至今
    employer = Column(String(200))
    position = Column(String(60))
    referee = Column(String(40))  # 证明人

    def __repr__(self) -> str:
        return self.employer or ""


# --- 评标实践经验

class EvaluationExperience(Model):
    """评标实践经验."""

    __tablename__ = "evaluation_experience"
    id = Column(Integer, primary_key=True)
    expert_id = Column(Integer, ForeignKey("expert.id", ondelete="CASCADE"), nullable=False,
                       index=True)
    expert = relationship(Expert, back_populates="evaluation_experiences")
    evaluated_on = Column(Date)
    project_name = Column(String(200))
    tenderer = Column(String(200))  # 招标人
    role = Column(String(40))  # 担任角色

    def __repr__(self) -> str:
        return self.project_name or ""


# --- 业务技术专长

class Expertise(Model):
    """业务技术专长."""

    __tablename__ = "expertise"
    id = Column(Integer, primary_key=True)
    expert_id = Column(Integer, ForeignKey("expert.id", ondelete="CASCADE"), nullable=False,
                       index=True)
    expert = relationship(Expert, back_populates="expertises")
    content = Column(Text, nullable=False)

    def __repr__(self) -> str:
        return (self.content or "")[:30]


# --- 回避单位

class AvoidanceUnit(Model):
    """回避单位; the expert's own employer is always one (``is_employer``)."""

    __tablename__ = "avoidance_unit"
    id = Column(Integer, primary_key=True)
    expert_id = Column(Integer, ForeignKey("expert.id", ondelete="CASCADE"), nullable=False,
                       index=True)
    expert = relationship(Expert, back_populates="avoidance_units")
    name = Column(String(200), nullable=False)
    credit_code = Column(String(18))  # 统一社会信用代码
    reason = Column(String(200))
    is_employer = Column(Boolean, nullable=False, default=False)

    def __repr__(self) -> str:
        return self.name


# --- 账户信息

class BankAccount(Model):
    """账户信息."""

    __tablename__ = "bank_account"
    id = Column(Integer, primary_key=True)
    expert_id = Column(Integer, ForeignKey("expert.id", ondelete="CASCADE"), nullable=False,
                       index=True)
    expert = relationship(Expert, back_populates="bank_accounts")
    bank_name = Column(String(100))  # 开户银行
    account_no = Column(String(32), index=True)  # 银行账号 (found by exact value only)
    holder = Column(String(40))  # 户名

    @property
    def account_no_masked(self) -> str:
        return mask_bank_account(self.account_no)

    def __repr__(self) -> str:
        return f"{self.bank_name or ''} {self.account_no_masked}"


# --- 附件

class Attachment(Model):
    """附件."""

    __tablename__ = "attachment"
    id = Column(Integer, primary_key=True)
    expert_id = Column(Integer, ForeignKey("expert.id", ondelete="CASCADE"), nullable=False,
                       index=True)
    expert = relationship(Expert, back_populates="attachments")
    title = Column(String(100), nullable=False)
    file_id = Column(Integer, ForeignKey("stored_file.id"))
    file = relationship(StoredFile)

    def __repr__(self) -> str:
        return self.title


# --- 审核详情

class ReviewRecord(Model):
    """审核详情: who, when, result, opinion."""

    __tablename__ = "review_record"
    id = Column(Integer, primary_key=True)
    expert_id = Column(Integer, ForeignKey("expert.id", ondelete="CASCADE"), nullable=False,
                       index=True)
    expert = relationship(Expert, back_populates="review_records")
    reviewer_id = Column(Integer, ForeignKey("ab_user.id"))
    reviewer = relationship(AppUser)
    reviewed_at = Column(DateTime, nullable=False, default=utcnow)
    action = Column(String(10), nullable=False)  # 提交审核 / 通过 / 退回 / ...
    from_status = Column(String(8))
    to_status = Column(String(8), nullable=False)
    opinion = Column(Text)
    section_opinions = Column(Text)  # JSON: {"教育经历": "请补充学历证明", ...}

    @property
    def section_opinions_dict(self) -> dict[str, str]:
        return json.loads(self.section_opinions) if self.section_opinions else {}

    def __repr__(self) -> str:
        return f"{self.action} {self.reviewed_at:%Y-%m-%d %H:%M}"


# --- 学习培训情况

class TrainingRecord(Model):
    """学习培训情况: one row per continuing-education round the expert took part in."""

    __tablename__ = "training_record"
    id = Column(Integer, primary_key=True)
    expert_id = Column(Integer, ForeignKey("expert.id", ondelete="CASCADE"), nullable=False,
                       index=True)
    expert = relationship(Expert, back_populates="training_records")
    round_name = Column(String(60), nullable=False)  # 培训批次
    course_name = Column(String(100))  # 课程名称
    hours = Column(Integer)  # 学时
    result = Column(String(8))  # 待批阅 / 合格 / 不合格
    completed = Column(Boolean, nullable=False, default=False)  # 培训完毕
    graded_at = Column(DateTime)  # 批阅时间

    def __repr__(self) -> str:
        return self.round_name


# ==========================================================================================
# 专家入库申请 (the wizard's 暂存) and the import of experts already in the library
# ==========================================================================================

class ApplicationDraft(Model):
    """暂存: everything typed in the 专家入库申请 wizard, valid or not, as typed."""

    __tablename__ = "application_draft"
    expert_id = Column(Integer, ForeignKey("expert.id", ondelete="CASCADE"), primary_key=True)
    data = Column(Text, nullable=False)  # JSON
    updated_at = Column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)


class ImportBatch(Model):
    """One import of an expert file: makes re-imports of the same file a no-op."""

    __tablename__ = "import_batch"
    id = Column(Integer, primary_key=True)
    sha256 = Column(String(64), nullable=False, index=True)
    file_name = Column(String(255))
    imported_by_id = Column(Integer, ForeignKey("ab_user.id"))
    imported_by = relationship(AppUser)
    imported_at = Column(DateTime, nullable=False, default=utcnow)
    created = Column(Integer, nullable=False, default=0)
    unchanged = Column(Integer, nullable=False, default=0)
    failed = Column(Integer, nullable=False, default=0)
    # started from the screen, it runs on the Celery worker: its state as the task wrote it
    status = Column(String(4), nullable=False, default=lambda: BatchStatus.DONE.value)
    total = Column(Integer, nullable=False, default=0)
    done = Column(Integer, nullable=False, default=0)  # rows read
    task_id = Column(String(64))  # the run key its task message carries
    stored_name = Column(String(80))  # the uploaded file, kept for the worker
    report = Column(Text)  # JSON: the rows refused, [[row, name, reason], ...]
    message = Column(Text)
    finished_at = Column(DateTime)

    @property
    def is_active(self) -> bool:
        return self.status in (BatchStatus.QUEUED, BatchStatus.RUNNING)


# ==========================================================================================
# 继续教育 → 培训考试: rounds, courses, 我的培训, 缴费, the exam
# ==========================================================================================

# --- 培训批次, 课程, 课程资料, 题库, 试卷规则

class TrainingRound(Model):
    """培训批次, e.g. 2025年第一批: who must attend, when, and what it costs."""

    __tablename__ = "training_round"
    id = Column(Integer, primary_key=True)
    name = Column(String(60), unique=True, nullable=False)
    # who must attend: experts of these 入库批次 (comma-separated; empty = all) in these statuses
    admission_batches = Column(String(200))
    statuses = Column(String(60), nullable=False, default=ExpertStatus.ADMITTED.value)
    enroll_start = Column(DateTime, nullable=False)  # 报名（缴费）开始
    enroll_end = Column(DateTime, nullable=False)
    study_days = Column(Integer, nullable=False, default=30)  # 学习期限（天）
    fee_fen = Column(Integer, nullable=False)  # 培训费（分）
    makeup_fee_fen = Column(Integer, nullable=False, default=0)  # 补学费（分）
    pass_mark = Column(Integer, nullable=False, default=60)
    attempts_allowed = Column(Integer, nullable=False, default=2)
    open_delay_days = Column(Integer, nullable=False, default=2)  # 缴费成功 N 天后开放学习
    active = Column(Boolean, nullable=False, default=True)

    def __repr__(self) -> str:
        return self.name


class Course(Model):
    """课程 of a round."""

    __tablename__ = "course"
    id = Column(Integer, primary_key=True)
    round_id = Column(Integer, ForeignKey("training_round.id", ondelete="CASCADE"), nullable=False,
                      index=True)
    round = relationship(TrainingRound, backref="courses")
    name = Column(String(100), nullable=False)  # 课程名称
    required_minutes = Column(Integer, nullable=False, default=60)
    sort = Column(Integer, nullable=False, default=0)

    def __repr__(self) -> str:
        return self.name


class Lesson(Model):
    """A lesson of a course: a video (mp4) or a document (PDF), served from our own files."""

    __tablename__ = "lesson"
    id = Column(Integer, primary_key=True)
    course_id = Column(Integer, ForeignKey("course.id", ondelete="CASCADE"), nullable=False,
                       index=True)
    course = relationship(Course, backref="lessons")
    title = Column(String(100), nullable=False)
    file_id = Column(Integer, ForeignKey("stored_file.id"))
    file = relationship(StoredFile)
    sort = Column(Integer, nullable=False, default=0)

    def __repr__(self) -> str:
        return self.title


class Question(Model):
    """题库: 单选 / 多选 / 判断 / 简答, tagged by course."""

    __tablename__ = "question"
    id = Column(Integer, primary_key=True)
    course_id = Column(Integer, ForeignKey("course.id", ondelete="CASCADE"), nullable=False,
                       index=True)
    course = relationship(Course, backref="questions")
    kind = Column(String(4), nullable=False)  # 单选 / 多选 / 判断 / 简答
    text = Column(Text, nullable=False)
    options = Column(Text)  # one option per line: "A. …"
    answer = Column(String(200))  # "B", "ACD", "对"/"错", or a reference answer for 简答

    def __repr__(self) -> str:
        return (self.text or "")[:30]


class PaperRule(Model):
    """试卷规则 of a course: how many questions of each kind, their scores, the time limit."""

    __tablename__ = "paper_rule"
    id = Column(Integer, primary_key=True)
    course_id = Column(Integer, ForeignKey("course.id", ondelete="CASCADE"), nullable=False,
                       unique=True)
    course = relationship(Course, backref="paper_rules")
    single_count = Column(Integer, nullable=False, default=0)
    single_score = Column(Integer, nullable=False, default=0)
    multi_count = Column(Integer, nullable=False, default=0)
    multi_score = Column(Integer, nullable=False, default=0)
    judge_count = Column(Integer, nullable=False, default=0)
    judge_score = Column(Integer, nullable=False, default=0)
    short_count = Column(Integer, nullable=False, default=0)
    short_score = Column(Integer, nullable=False, default=0)
    time_limit_minutes = Column(Integer, nullable=False, default=60)


# --- 我的培训: one expert in one course

class ReviewStatus(enum.StrEnum):
    """批阅状态 of an enrolment (its course's result): 待批阅 → 合格 / 不合格, set from its
    exam attempt when grading ends (``exam.record_result``)."""

    PENDING = "待批阅"
    PASSED = "合格"
    FAILED = "不合格"


class Enrollment(Model):
    """A row of 我的培训: one expert in one course (again, as 补学, after 不合格)."""

    __tablename__ = "enrollment"
    id = Column(Integer, primary_key=True)
    expert_id = Column(Integer, ForeignKey("expert.id", ondelete="CASCADE"), nullable=False,
                       index=True)
    expert = relationship(Expert, backref="enrollments")
    course_id = Column(Integer, ForeignKey("course.id", ondelete="CASCADE"), nullable=False)
    course = relationship(Course)
    attempt_no = Column(Integer, nullable=False, default=1)  # 2, 3… are 补学
    paid_at = Column(DateTime)
    study_start = Column(DateTime)  # 学习开始时间 = paid_at + open_delay_days
    study_end = Column(DateTime)  # 学习结束时间
    credited_seconds = Column(Integer, nullable=False, default=0)
    last_beat_at = Column(DateTime)  # the last heartbeat that counted (server time)
    resume_lesson_id = Column(Integer)  # where study resumes
    resume_position = Column(Integer, nullable=False, default=0)  # seconds into the video
    review_status = Column(String(4), nullable=False, default=ReviewStatus.PENDING.value)
    completed = Column(Boolean, nullable=False, default=False)  # 培训完毕
    graded_at = Column(DateTime)  # 批阅时间
    created_at = Column(DateTime, nullable=False, default=utcnow)

    __table_args__ = (UniqueConstraint("expert_id", "course_id", "attempt_no"),)

    @property
    def is_makeup(self) -> bool:  # 是否补学
        return self.attempt_no > 1

    @property
    def is_paid(self) -> bool:
        """The fee of this row (training or 补学) is confirmed: 【缴费】 is no longer offered."""
        return self.paid_at is not None


# --- 缴费

class PaymentStatus(enum.StrEnum):
    """A payment order: 待支付 → 已支付 (``payment.mark_paid``), nothing else."""

    UNPAID = "待支付"
    PAID = "已支付"


class FeeKind(enum.StrEnum):
    """What an order pays for: the round's fee, or the 补学 fee of a make-up row."""

    TRAINING = "培训费"
    MAKEUP = "补学费"


class PaymentOrder(Model):
    """缴费: an order for one enrollment, paid through a provider or confirmed by statement."""

    __tablename__ = "payment_order"
    id = Column(Integer, primary_key=True)
    order_no = Column(String(32), unique=True, nullable=False)
    enrollment_id = Column(Integer, ForeignKey("enrollment.id", ondelete="CASCADE"),
                           nullable=False, index=True)
    enrollment = relationship(Enrollment, backref="orders")
    expert_no = Column(String(20), nullable=False, index=True)
    amount_fen = Column(Integer, nullable=False)
    kind = Column(String(6), nullable=False)  # 培训费 / 补学费
    status = Column(String(4), nullable=False, default=PaymentStatus.UNPAID.value, index=True)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    paid_at = Column(DateTime)
    provider = Column(String(20))  # local / wechat / alipay / statement / manual
    provider_ref = Column(String(64))
    confirmed_by_id = Column(Integer, ForeignKey("ab_user.id"))

    __table_args__ = (UniqueConstraint("provider", "provider_ref"),)

    @property
    def is_paid(self) -> bool:
        return self.status == PaymentStatus.PAID

    def __repr__(self) -> str:
        return self.order_no


# --- 考试

class AttemptStatus(enum.StrEnum):
    """An exam sitting: 进行中 → 待批阅 (``exam.submit``) → 合格 / 不合格 (``exam.finish_if_graded``
    once every answer has points; 简答 are graded by staff)."""

    IN_PROGRESS = "进行中"
    PENDING = "待批阅"
    PASSED = "合格"
    FAILED = "不合格"


class ExamAttempt(Model):
    """One sitting of a course's exam: the drawn paper, timed on the server."""

    __tablename__ = "exam_attempt"
    id = Column(Integer, primary_key=True)
    enrollment_id = Column(Integer, ForeignKey("enrollment.id", ondelete="CASCADE"),
                           nullable=False, index=True)
    enrollment = relationship(Enrollment, backref="attempts")
    question_ids = Column(Text, nullable=False)  # JSON list, in paper order
    started_at = Column(DateTime, nullable=False, default=utcnow)
    deadline = Column(DateTime, nullable=False)
    submitted_at = Column(DateTime)
    status = Column(String(4), nullable=False, default=AttemptStatus.IN_PROGRESS.value)
    score = Column(Integer)
    graded_at = Column(DateTime)

    @property
    def is_running(self) -> bool:
        """进行中: answers are still taken (until the deadline and its grace)."""
        return self.status == AttemptStatus.IN_PROGRESS


class ExamAnswer(Model):
    """An answer, saved as it is given; graded at once (objective) or by staff (简答)."""

    __tablename__ = "exam_answer"
    id = Column(Integer, primary_key=True)
    attempt_id = Column(Integer, ForeignKey("exam_attempt.id", ondelete="CASCADE"), nullable=False)
    attempt = relationship(ExamAttempt, backref="answers")
    question_id = Column(Integer, ForeignKey("question.id"), nullable=False)
    question = relationship(Question)
    answer = Column(Text)
    points = Column(Integer)  # null until graded
    max_points = Column(Integer, nullable=False, default=0)
    graded_by_id = Column(Integer, ForeignKey("ab_user.id"))
    graded_at = Column(DateTime)

    __table_args__ = (UniqueConstraint("attempt_id", "question_id"),)


# ==========================================================================================
# 专家证书: 继续教育合格证书 and 整批发放
# ==========================================================================================

class CertificateStatus(enum.StrEnum):
    VALID = "有效"
    REVOKED = "已撤销"


class Certificate(Model):
    """继续教育合格证书: issued once per expert and round, rendered once and kept.

    What it says is copied in when issued (name, masked ID number, round, hours), so a
    later change of profile does not alter a certificate already handed out."""

    __tablename__ = "certificate"
    id = Column(Integer, primary_key=True)
    number = Column(String(32), unique=True, nullable=False)  # 证书编号 (unguessable)
    expert_id = Column(Integer, ForeignKey("expert.id", ondelete="CASCADE"), nullable=False,
                       index=True)
    expert = relationship(Expert, backref="certificates")
    round_id = Column(Integer, ForeignKey("training_round.id"), nullable=False, index=True)
    round = relationship(TrainingRound)
    enrollment_id = Column(Integer, ForeignKey("enrollment.id"))
    enrollment = relationship(Enrollment)
    holder_name = Column(String(40), nullable=False)
    expert_no = Column(String(20), nullable=False)
    id_number_masked = Column(String(18), nullable=False)
    round_name = Column(String(60), nullable=False)
    hours = Column(Integer, nullable=False, default=0)  # 学时
    issued_on = Column(Date, nullable=False)
    status = Column(String(4), nullable=False, default=CertificateStatus.VALID.value, index=True)
    revoked_at = Column(DateTime)
    revoke_reason = Column(Text)
    revoked_by_id = Column(Integer, ForeignKey("ab_user.id"))
    reissue_of_id = Column(Integer, ForeignKey("certificate.id"))  # 补发: the one it replaces
    pdf_file_id = Column(Integer, ForeignKey("stored_file.id"))
    pdf_file = relationship(StoredFile, foreign_keys=[pdf_file_id])
    png_file_id = Column(Integer, ForeignKey("stored_file.id"))
    png_file = relationship(StoredFile, foreign_keys=[png_file_id])
    created_at = Column(DateTime, nullable=False, default=utcnow)
    created_by_id = Column(Integer, ForeignKey("ab_user.id"))

    __table_args__ = (
        # at most one valid certificate per expert and round, even under concurrent issuing
        Index("uq_certificate_valid", "expert_id", "round_id", unique=True,
              sqlite_where=text("status = '有效'"), postgresql_where=text("status = '有效'")),
    )

    @property
    def is_valid(self) -> bool:
        """有效: downloadable, revocable; 已撤销 is shown but not sent."""
        return self.status == CertificateStatus.VALID.value

    def __repr__(self) -> str:
        return self.number


class BatchStatus(enum.StrEnum):
    """整批发放: 排队中 → 进行中 → 已完成 / 失败 (or 已取消 by staff)."""

    QUEUED = "排队中"
    RUNNING = "进行中"
    DONE = "已完成"
    FAILED = "失败"
    CANCELLED = "已取消"


class CertificateBatch(Model):
    """发放整批证书: one job issuing a whole round, its progress read by the staff page."""

    __tablename__ = "certificate_batch"
    id = Column(Integer, primary_key=True)
    round_id = Column(Integer, ForeignKey("training_round.id", ondelete="CASCADE"),
                      nullable=False, index=True)
    round = relationship(TrainingRound)
    requested_by_id = Column(Integer, ForeignKey("ab_user.id"))
    created_at = Column(DateTime, nullable=False, default=utcnow)
    started_at = Column(DateTime)
    finished_at = Column(DateTime)
    status = Column(String(4), nullable=False, default=BatchStatus.QUEUED.value)
    total = Column(Integer, nullable=False, default=0)
    done = Column(Integer, nullable=False, default=0)
    failed = Column(Integer, nullable=False, default=0)
    message = Column(Text)
    # the run now owed to the batch: its Celery messages carry this key, any other is stale
    task_id = Column(String(64))
    heartbeat_at = Column(DateTime)  # written by the task after each part it finished
    parts = relationship("CertificateBatchPart", back_populates="batch",
                         cascade="all, delete-orphan", passive_deletes=True)

    @property
    def is_active(self) -> bool:
        return self.status in (BatchStatus.QUEUED, BatchStatus.RUNNING)

    @property
    def is_finished(self) -> bool:
        return not self.is_active

    @property
    def can_retry(self) -> bool:
        return self.status in (BatchStatus.FAILED, BatchStatus.CANCELLED)


class CertificateBatchPart(Model):
    """A slice of a batch's experts, one Celery task each: done once (``finished_at``), so
    a redelivered message finds it finished and the batch's counts stay right."""

    __tablename__ = "certificate_batch_part"
    __table_args__ = (UniqueConstraint("batch_id", "seq", name="uq_certificate_batch_part_seq"),)
    id = Column(Integer, primary_key=True)
    batch_id = Column(Integer, ForeignKey("certificate_batch.id", ondelete="CASCADE"),
                      nullable=False, index=True)
    batch = relationship(CertificateBatch, back_populates="parts")
    seq = Column(Integer, nullable=False)
    expert_ids = Column(Text, nullable=False)  # "3,8,21": the experts planned for this part
    done = Column(Integer, nullable=False, default=0)  # issued + skipped
    skipped = Column(Integer, nullable=False, default=0)  # had a valid one by then
    failed = Column(Integer, nullable=False, default=0)
    finished_at = Column(DateTime)


# ==========================================================================================
# 个人信息变更: 异动申请 and 修改记录
# ==========================================================================================

class ChangeStatus(enum.StrEnum):
    PENDING = "待审核"
    APPROVED = "已通过"
    REJECTED = "已驳回"
    WITHDRAWN = "已撤回"
    APPLIED = "已生效"  # a 修改 that needs no review


class TransferRequest(Model):
    """异动申请: a move to another 市州, reviewed; one open request per expert at a time."""

    __tablename__ = "transfer_request"
    id = Column(Integer, primary_key=True)
    expert_id = Column(Integer, ForeignKey("expert.id", ondelete="CASCADE"), nullable=False,
                       index=True)
    expert = relationship(Expert, backref="transfer_requests")
    from_prefecture_id = Column(Integer, ForeignKey("prefecture.id"))
    from_prefecture = relationship(Prefecture, foreign_keys=[from_prefecture_id])
    to_prefecture_id = Column(Integer, ForeignKey("prefecture.id"), nullable=False)
    to_prefecture = relationship(Prefecture, foreign_keys=[to_prefecture_id])
    reason = Column(Text, nullable=False)  # 异动原因
    attachment_file_id = Column(Integer, ForeignKey("stored_file.id"))
    attachment_file = relationship(StoredFile)
    status = Column(String(4), nullable=False, default=ChangeStatus.PENDING.value, index=True)
    submitted_at = Column(DateTime, nullable=False, default=utcnow, index=True)
    reviewer_id = Column(Integer, ForeignKey("ab_user.id"))
    reviewer = relationship(AppUser)
    reviewed_at = Column(DateTime)
    opinion = Column(Text)  # 审核意见

    __table_args__ = (
        Index("uq_transfer_open", "expert_id", unique=True,
              sqlite_where=text("status = '待审核'"), postgresql_where=text("status = '待审核'")),
    )

    def __repr__(self) -> str:
        return f"{self.from_prefecture or ''} → {self.to_prefecture or ''}"


class ProfileChange(Model):
    """修改记录: one changed field of the profile, before and after (masked where the value
    is personal data). A change of 专业 waits for review (``待审核``) before it applies."""

    __tablename__ = "profile_change"
    id = Column(Integer, primary_key=True)
    expert_id = Column(Integer, ForeignKey("expert.id", ondelete="CASCADE"), nullable=False,
                       index=True)
    expert = relationship(Expert, backref="profile_changes")
    section = Column(String(20), nullable=False)  # the tab: 基本信息, 专业技术, 回避单位 ...
    field = Column(String(40), nullable=False)  # the label on screen
    before = Column(Text)
    after = Column(Text)
    requested = Column(Text)  # JSON of what a reviewed change will set on approval
    status = Column(String(4), nullable=False, default=ChangeStatus.APPLIED.value, index=True)
    changed_at = Column(DateTime, nullable=False, default=utcnow, index=True)
    changed_by_id = Column(Integer, ForeignKey("ab_user.id"))
    reviewer_id = Column(Integer, ForeignKey("ab_user.id"))
    reviewer = relationship(AppUser, foreign_keys=[reviewer_id])
    reviewed_at = Column(DateTime)
    opinion = Column(Text)

    def __repr__(self) -> str:
        return f"{self.field}: {self.before or ''} → {self.after or ''}"


# ==========================================================================================
# System tables: signed-in sessions, login throttle and captcha, the audit trail
# ==========================================================================================

class UserSession(Model):
    """A signed-in browser, checked on every request: logout, password change and the
    idle/absolute limits end it here, so a copied cookie is refused afterwards."""

    __tablename__ = "user_session"
    id = Column(Integer, primary_key=True)
    token_hash = Column(String(64), unique=True, nullable=False)
    user_id = Column(Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), nullable=False,
                     index=True)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    last_seen_at = Column(DateTime, nullable=False, default=utcnow)
    ended_at = Column(DateTime)
    end_reason = Column(String(20))
    ip = Column(String(45))
    # "web" (the browser's cookie) or "api" (a JWT refresh token): a web logout also ends
    # the account's API sessions, but not its other browsers.
    kind = Column(String(10), nullable=False, default="web", server_default="web")


class LoginThrottle(Model):
    """Failed logins (when Redis is not configured): per account ("user:<id>", whatever was
    typed for it), per typed name matching no account ("name:<typed>"), per address
    ("ip:<address>", a windowed count that only turns on the captcha)."""

    __tablename__ = "login_throttle"
    key = Column(String(200), primary_key=True)
    failures = Column(Integer, nullable=False, default=0)
    locked_until = Column(DateTime)
    updated_at = Column(DateTime, nullable=False, default=utcnow)


class LoginCaptcha(Model):
    """A captcha's answer, kept here (not in the readable session cookie) when Redis is not
    configured; the cookie holds only the opaque id. Taken (deleted) on first use."""

    __tablename__ = "login_captcha"
    id = Column(String(64), primary_key=True)
    answer = Column(String(8), nullable=False)
    expires_at = Column(DateTime, nullable=False, index=True)


class AuditEvent(Model):
    """审计日志: append-only (the database refuses UPDATE and DELETE, see the migration)."""

    __tablename__ = "audit_event"
    id = Column(Integer, primary_key=True)
    occurred_at = Column(DateTime, nullable=False, default=utcnow, index=True)  # UTC
    actor_id = Column(Integer, index=True)  # no FK: entries outlive accounts
    actor_name = Column(String(128))
    ip = Column(String(45))
    action = Column(String(20), nullable=False, index=True)
    object_type = Column(String(40))
    object_id = Column(String(40))
    detail = Column(Text)
    before = Column(Text)  # JSON
    after = Column(Text)  # JSON

    __table_args__ = (Index("ix_audit_event_object", "object_type", "object_id"),)

    def __repr__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M:%S} {self.action}"


# ==========================================================================================
# 导出任务: an export of a staff list too big for one request, built on the Celery worker
# ==========================================================================================

class ExportStatus(enum.StrEnum):
    """排队中 → 进行中 → 已完成 / 失败."""

    QUEUED = "排队中"
    RUNNING = "进行中"
    DONE = "已完成"
    FAILED = "失败"


class ExportJob(Model):
    """导出 Excel of a list as filtered on screen: which list (``view_name``) and its query
    string are kept, the worker builds the file again from them."""

    __tablename__ = "export_job"
    id = Column(Integer, primary_key=True)
    user_id = Column(Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), nullable=False,
                     index=True)
    user = relationship(AppUser)
    view_name = Column(String(100), nullable=False)  # the list view's class name
    title = Column(String(100), nullable=False)  # the list's title: the file's name
    query_string = Column(Text)  # the list's filter and order, as in its address
    status = Column(String(4), nullable=False, default=ExportStatus.QUEUED.value)
    total = Column(Integer, nullable=False, default=0)
    done = Column(Integer, nullable=False, default=0)  # rows written
    task_id = Column(String(64))  # the run key its task message carries
    stored_name = Column(String(80))  # the file, under UPLOAD_FOLDER/exports
    error = Column(Text)
    created_at = Column(DateTime, nullable=False, default=utcnow, index=True)
    finished_at = Column(DateTime)

    @property
    def is_active(self) -> bool:
        return self.status in (ExportStatus.QUEUED, ExportStatus.RUNNING)

    @property
    def is_done(self) -> bool:
        return self.status == ExportStatus.DONE

    @property
    def is_failed(self) -> bool:
        return self.status == ExportStatus.FAILED


# ==========================================================================================
# 系统设置: values the administrator changes on the screen (app/services/settings.py); a key
# without a row has the environment's value (config.py)
# ==========================================================================================

class SystemSetting(Model):
    __tablename__ = "system_setting"
    key = Column(String(64), primary_key=True)
    value = Column(Text, nullable=False)  # JSON
    changed_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    changed_by = relationship(AppUser, foreign_keys=[changed_by_id])
    changed_at = Column(DateTime, nullable=False, default=utcnow)

    def __repr__(self) -> str:
        return self.key


# ==========================================================================================
# 统计快照: the 首页 charts' grouped counts, computed in the background (celery beat, every
# STATISTICS_REFRESH_SECONDS, or 「刷新统计」) and read by the page in one query; a row with
# no computed_at is a refresh asked for and not done yet (one at a time)
# ==========================================================================================

class StatisticsSnapshot(Model):
    __tablename__ = "statistics_snapshot"
    id = Column(Integer, primary_key=True)
    requested_at = Column(DateTime, nullable=False, default=utcnow)
    requested_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    computed_at = Column(DateTime, index=True)
    milliseconds = Column(Integer)  # how long the counting took
    data = Column(Text)  # JSON: app/services/statistics.py (snapshot_data)

    @property
    def is_computed(self) -> bool:
        return self.computed_at is not None and self.data is not None
