"""Configuration. Every setting can be overridden from the environment."""
import os
import secrets
from pathlib import Path

from flask_appbuilder.const import AUTH_DB

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = Path(os.environ.get("INSTANCE_DIR", BASE_DIR / "instance"))


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _instance_secret(env_name: str, file_name: str) -> str:
    """The setting from the environment, else a random value made once per instance and
    kept in instance/<file_name> (mode 600, never in git). The file is written aside and
    linked into place, so two workers starting at once agree on one value and nobody reads
    it half written or before its mode is set."""
    if os.environ.get(env_name):
        return os.environ[env_name]
    path = INSTANCE_DIR / file_name
    if not path.exists():
        INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
        draft = INSTANCE_DIR / f".{file_name}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
            try:
                os.link(draft, path)
            except FileExistsError:
                pass  # another process was first: use its value
        finally:
            draft.unlink(missing_ok=True)
    return path.read_text().strip()


def _secret_key() -> str:
    """SECRET_KEY from the environment, else a random key kept in instance/ (never in git)."""
    return _instance_secret("SECRET_KEY", "secret_key")


def normalize_database_url(url: str) -> str:
    """psycopg 3 is the driver we ship; accept the common short forms."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def _database_url() -> str:
    return normalize_database_url(
        os.environ.get("DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'app.db'}"))


SECRET_KEY = _secret_key()
# PRODUCTION refuses to start on the key made in instance/ (see app/services/production.py).
SECRET_KEY_FROM_ENVIRONMENT = bool(os.environ.get("SECRET_KEY"))
SQLALCHEMY_DATABASE_URI = _database_url()
SQLALCHEMY_TRACK_MODIFICATIONS = False
UPLOAD_FOLDER = os.environ.get("UPLOAD_FOLDER", str(INSTANCE_DIR / "uploads"))
MAX_CONTENT_LENGTH = int(os.environ.get("MAX_CONTENT_LENGTH", 20 * 1024 * 1024))

APP_NAME = "新疆维吾尔自治区房屋建筑和市政基础设施项目评标专家管理系统"
APP_ICON = None
APP_THEME = ""

# Authentication: database accounts, our own security manager (phone login,
# forced password change, Chinese accounts without e-mail).
AUTH_TYPE = AUTH_DB
AUTH_ROLE_ADMIN = "管理员"
AUTH_ROLE_PUBLIC = "未登录访客"  # FAB's "Public" (renamed by sync_roles); it holds no permission
AUTH_USER_REGISTRATION = False
FAB_SECURITY_MANAGER_CLASS = "app.security.ExpertSecurityManager"
FAB_PASSWORD_HASH_METHOD = os.environ.get("PASSWORD_HASH_METHOD", "scrypt")
# Schema comes from migrations, permissions from `flask init`, never at start-up
# (several workers would race on the permission tables).
FAB_CREATE_DB = False
FAB_UPDATE_PERMS = _env_bool("FAB_UPDATE_PERMS", False)
FAB_ADD_SECURITY_API = False
FAB_API_SWAGGER_UI = False

# Chinese first, English second (translations/ at the top of the project).
BABEL_DEFAULT_LOCALE = "zh"
BABEL_DEFAULT_FOLDER = str(BASE_DIR / "translations")
BABEL_TRANSLATION_DIRECTORIES = str(BASE_DIR / "translations")
LANGUAGES = {
    "zh": {"flag": "cn", "name": "中文"},
    "en": {"flag": "gb", "name": "English"},
}

WTF_CSRF_ENABLED = _env_bool("WTF_CSRF_ENABLED", True)
WTF_CSRF_TIME_LIMIT = None  # tied to the session instead; long forms must not expire
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# Cookies only over HTTPS in production (PRODUCTION is read below, with the payment settings).
SESSION_COOKIE_SECURE = _env_bool("SESSION_COOKIE_SECURE", _env_bool("PRODUCTION", False))
REMEMBER_COOKIE_SECURE = _env_bool("REMEMBER_COOKIE_SECURE", _env_bool("PRODUCTION", False))
REMEMBER_COOKIE_HTTPONLY = True

# The rows of the expert list are paged; staff can pick 10/20/50/100.
FAB_API_MAX_PAGE_SIZE = 100
EXPORT_MAX_ROWS = int(os.environ.get("EXPORT_MAX_ROWS", 200_000))

# Reference lists shipped beside the project (../shared/reference) or copied into data/.
REFERENCE_DIR = os.environ.get("REFERENCE_DIR", str(BASE_DIR / "data" / "reference"))

FAB_INDEX_VIEW = "app.views.home.HomeIndexView"
FAB_BASE_TEMPLATE = "layout.html"

# Login protection. Per person (account, phone or e-mail alike): LOGIN_MAX_FAILURES wrong
# passwords lock the account for LOGIN_LOCK_MINUTES; the web form asks for a captcha after
# LOGIN_CAPTCHA_AFTER. Per address only a captcha, never a lock: LOGIN_CAPTCHA_PER_IP
# failures in LOGIN_LOCK_MINUTES (an office NAT or the reverse proxy is one address).
REDIS_URL = os.environ.get("REDIS_URL")  # shared counters and captchas; else the database
LOGIN_REDIS_PREFIX = os.environ.get("LOGIN_REDIS_PREFIX", "login:")
LOGIN_MAX_FAILURES = int(os.environ.get("LOGIN_MAX_FAILURES", 5))
LOGIN_LOCK_MINUTES = int(os.environ.get("LOGIN_LOCK_MINUTES", 15))
LOGIN_CAPTCHA_AFTER = int(os.environ.get("LOGIN_CAPTCHA_AFTER", 3))
LOGIN_CAPTCHA_PER_IP = int(os.environ.get("LOGIN_CAPTCHA_PER_IP", 100))
# FAB's JWT login (/api/v1/security/login, /refresh): no API of ours uses it; 404 while off.
LOGIN_API_ENABLED = _env_bool("LOGIN_API_ENABLED", False)
SESSION_IDLE_MINUTES = int(os.environ.get("SESSION_IDLE_MINUTES", 30))
SESSION_ABSOLUTE_HOURS = int(os.environ.get("SESSION_ABSOLUTE_HOURS", 12))
# Behind a reverse proxy, the number of proxies whose X-Forwarded-For is trusted.
PROXY_COUNT = int(os.environ.get("PROXY_COUNT", 0))

# Upload limits (bytes): photos and ID card sides; certificates, signed forms, attachments.
UPLOAD_MAX_IMAGE_BYTES = int(os.environ.get("UPLOAD_MAX_IMAGE_BYTES", 2 * 1024 * 1024))
UPLOAD_MAX_DOCUMENT_BYTES = int(os.environ.get("UPLOAD_MAX_DOCUMENT_BYTES", 10 * 1024 * 1024))

# Admission rules shown to reviewers as flags (not silent blocks).
ADMISSION_MAX_AGE = int(os.environ.get("ADMISSION_MAX_AGE", 70))
ADMISSION_MIN_WORK_YEARS = int(os.environ.get("ADMISSION_MIN_WORK_YEARS", 8))
# The address printed in QR codes (e.g. https://expert.example.gov.cn); else the request's.
PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL")

# PRODUCTION: the app refuses to start on a development default (the local payment
# provider, a SECRET_KEY not given in the environment, cookies sent over plain HTTP, CSRF
# off) and always sends HSTS. See README, "Production settings".
PRODUCTION = _env_bool("PRODUCTION", False)
# 缴费: the payment provider. "local" is a signed stand-in for development and tests and is
# refused when PRODUCTION is set; a WeChat Pay v3 / Alipay adapter plugs in by name. Its
# signing secret is made per instance: a public constant let anyone sign "paid".
PAYMENT_PROVIDER = os.environ.get("PAYMENT_PROVIDER", "local")
PAYMENT_LOCAL_SECRET = _instance_secret("PAYMENT_LOCAL_SECRET", "payment_local_secret")

# 专家证书 (继续教育合格证书): the issuer printed on it and its seal (JPEG, PNG or SVG; the
# default is drawn by scripts/make_certificate_assets.py); minutes of required study per 学时.
CERTIFICATE_ISSUER = os.environ.get("CERTIFICATE_ISSUER", "新疆维吾尔自治区住房和城乡建设厅")
CERTIFICATE_SEAL_IMAGE = os.environ.get("CERTIFICATE_SEAL_IMAGE",
                                        str(BASE_DIR / "data" / "certificate" / "seal.jpg"))
CERTIFICATE_MINUTES_PER_HOUR = int(os.environ.get("CERTIFICATE_MINUTES_PER_HOUR", 45))
# 培训批次: the default of 缴费后开放（天） on a new round (T+2: study opens 2 days after payment).
ROUND_OPEN_DELAY_DAYS = int(os.environ.get("ROUND_OPEN_DELAY_DAYS", 2))
# 整批发放 runs on the Celery worker (a task per part of CERTIFICATE_BATCH_PART experts, so
# the worker's processes share a batch and a killed worker loses one part, redone by
# another); INLINE runs it right after the request's commit (tests). PROCESSES: the
# command line's render processes (`flask certificate-batch --processes`).
CERTIFICATE_BATCH_INLINE = _env_bool("CERTIFICATE_BATCH_INLINE", False)
CERTIFICATE_BATCH_PART = int(os.environ.get("CERTIFICATE_BATCH_PART", 50))
# 导入专家 from the screen runs on the Celery worker; INLINE runs it right after the
# request's commit (tests). `flask import-experts` always runs it in the command.
EXPERT_IMPORT_INLINE = _env_bool("EXPERT_IMPORT_INLINE", False)
CERTIFICATE_BATCH_PROCESSES = int(os.environ.get("CERTIFICATE_BATCH_PROCESSES", os.cpu_count() or 1))


# Background jobs (Celery): broker and result backend on Redis (CELERY_BROKER_URL, else
# REDIS_URL). Tasks acknowledge after they ran (acks_late) and a task whose worker died is
# given to another worker once the broker's visibility timeout passes: every task's hard
# time limit stays below it, so a task still running is never handed out twice.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or REDIS_URL or "redis://127.0.0.1:6379/0"
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND") or CELERY_BROKER_URL
CELERY_VISIBILITY_TIMEOUT = int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", 900))
# how often a worker looks for messages a dead worker left unacknowledged (seconds)
CELERY_RESTORE_EVERY = int(os.environ.get("CELERY_RESTORE_EVERY", 30))
CELERY_TASK_SOFT_TIME_LIMIT = int(os.environ.get("CELERY_TASK_SOFT_TIME_LIMIT", 300))
CELERY_TASK_TIME_LIMIT = int(os.environ.get("CELERY_TASK_TIME_LIMIT", 360))
# seconds between runs of the periodic clean-up (celery beat)
CELERY_CLEANUP_EVERY = int(os.environ.get("CELERY_CLEANUP_EVERY", 3600))

# 导出 Excel of a staff list: up to EXPORT_SYNC_MAX_ROWS rows are sent at once; a bigger
# export is an 导出任务 built on the Celery worker (INLINE: right after the request's commit,
# for tests), its progress committed every EXPORT_PROGRESS_EVERY rows; its file is kept
# EXPORT_KEEP_DAYS days (the periodic clean-up removes it).
EXPORT_SYNC_MAX_ROWS = int(os.environ.get("EXPORT_SYNC_MAX_ROWS", 3000))
EXPORT_JOB_INLINE = _env_bool("EXPORT_JOB_INLINE", False)
EXPORT_PROGRESS_EVERY = int(os.environ.get("EXPORT_PROGRESS_EVERY", 500))
EXPORT_KEEP_DAYS = int(os.environ.get("EXPORT_KEEP_DAYS", 7))
# 首页 统计分析: the page shows a shared snapshot of the counts, recounted by the Celery task
# statistics.refresh every STATISTICS_REFRESH_SECONDS (celery beat) or on 「刷新统计」 (one
# queued at a time; one not done after STATISTICS_REFRESH_TIMEOUT seconds was lost and no
# longer blocks a new one). INLINE: 「刷新统计」 counts right after the request's commit (tests).
STATISTICS_REFRESH_SECONDS = int(os.environ.get("STATISTICS_REFRESH_SECONDS", 300))
STATISTICS_REFRESH_TIMEOUT = int(os.environ.get("STATISTICS_REFRESH_TIMEOUT", 300))
STATISTICS_REFRESH_INLINE = _env_bool("STATISTICS_REFRESH_INLINE", False)
