"""Failed-login counting, per person and per address.

* Per person: a password check is only made after an attempt has been *reserved* in one
  atomic step; the reservation that takes the last of ``max_failures`` slots locks the
  account for ``lock_minutes``, so N parallel attempts never make more than
  ``max_failures`` checks. A correct password releases the reservation (the count starts
  afresh). The person is the resolved account (``user:<id>``), whatever was typed for it
  (account, phone, e-mail); names that match no account are counted under their own key
  (``name:<typed>``), which a real account is never looked up under.
* Per address: failures are only counted, in a window of ``lock_minutes``. Past
  ``captcha_per_ip`` (high: an office NAT or a reverse proxy puts a whole province behind
  one address) the login form of that address asks for the captcha; correct logins from
  it are never refused.

State is shared between workers: in Redis when REDIS_URL is configured, otherwise in the
database (table login_throttle).
"""
from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import and_, case, delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.masking import mask_name, mask_phone
from app.models import AppUser, Expert, LoginCaptcha, LoginThrottle
from app.services.validators import looks_like_phone


@dataclass(frozen=True)
class Policy:
    max_failures: int = 5
    lock_minutes: int = 15
    captcha_after: int = 3
    captcha_per_ip: int = 100

    @property
    def window(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.lock_minutes)


@dataclass(frozen=True)
class Counter:
    failures: int = 0
    locked_until: dt.datetime | None = None
    updated_at: dt.datetime | None = None

    def locked(self, now: dt.datetime) -> bool:
        return self.locked_until is not None and self.locked_until > now


@dataclass(frozen=True)
class Reservation:
    """The outcome of ``reserve``: may the password be checked, and the count with it."""

    key: str
    allowed: bool
    counter: Counter

    def locks(self, limit: int) -> bool:
        """This attempt took the last slot: if it fails, it is the one that locked."""
        return self.allowed and self.counter.failures == limit


class ThrottleStore(Protocol):
    def get(self, key: str) -> Counter: ...

    def reserve(self, key: str, now: dt.datetime, limit: int, lock: dt.timedelta) -> Counter:
        """Atomically count one more attempt (afresh once a lock or the quiet window has
        run out); the attempt that reaches ``limit`` sets ``locked_until``."""
        ...

    def hit(self, key: str, now: dt.datetime, window: dt.timedelta) -> int:
        """Atomically count one more event in a window that starts with its first event."""
        ...

    def reset(self, key: str) -> None: ...

    def locked(self, now: dt.datetime, prefix: str) -> Iterator[tuple[str, Counter]]:
        """Keys starting with ``prefix`` that are locked at ``now``."""
        ...


class DatabaseThrottleStore:
    """Counters in the login_throttle table: each operation is one atomic statement
    (an insert that ignores an existing row, then an UPDATE ... RETURNING) and flushes, as
    every service does: the login's request commits it. Until then the counter's row stays
    locked, so a parallel attempt on the same person waits, then counts on from this one:
    never more password checks than the limit."""

    def __init__(self, session: Session):
        self.session = session

    def get(self, key: str) -> Counter:
        row = self.session.execute(
            select(LoginThrottle.failures, LoginThrottle.locked_until, LoginThrottle.updated_at)
            .where(LoginThrottle.key == key)).first()
        return Counter(*row) if row else Counter()

    def _ensure_row(self, key: str, now: dt.datetime) -> None:
        dialect = self.session.get_bind().dialect.name
        if dialect == "postgresql":
            insert = postgresql_insert
        elif dialect == "sqlite":
            insert = sqlite_insert
        else:  # pragma: no cover - the project runs on PostgreSQL and SQLite only
            raise RuntimeError(f"login_throttle: unsupported database {dialect}")
        self.session.execute(
            insert(LoginThrottle).values(key=key, failures=0, updated_at=now)
            .on_conflict_do_nothing(index_elements=["key"]))

    def reserve(self, key: str, now: dt.datetime, limit: int, lock: dt.timedelta) -> Counter:
        t = LoginThrottle
        self._ensure_row(key, now)
        active = and_(t.locked_until.is_not(None), t.locked_until > now)
        stale = or_(and_(t.locked_until.is_not(None), t.locked_until <= now),
                    and_(t.locked_until.is_(None), t.updated_at <= now - lock))
        failures = case((stale, 1), else_=t.failures + 1)
        until = case((active, t.locked_until),
                     (failures >= limit, now + lock), else_=None)
        row = self.session.execute(
            update(t).where(t.key == key)
            .values(failures=failures, locked_until=until, updated_at=now)
            .returning(t.failures, t.locked_until, t.updated_at)
        ).one()
        return Counter(*row)

    def hit(self, key: str, now: dt.datetime, window: dt.timedelta) -> int:
        t = LoginThrottle
        self._ensure_row(key, now)
        stale = t.updated_at <= now - window
        failures = self.session.execute(
            update(t).where(t.key == key)
            .values(failures=case((stale, 1), else_=t.failures + 1),
                    updated_at=case((stale, now), else_=t.updated_at))
            .returning(t.failures)
        ).scalar_one()
        return failures

    def reset(self, key: str) -> None:
        self.session.execute(delete(LoginThrottle).where(LoginThrottle.key == key))

    def locked(self, now: dt.datetime, prefix: str) -> Iterator[tuple[str, Counter]]:
        t = LoginThrottle
        rows = self.session.execute(
            select(t.key, t.failures, t.locked_until, t.updated_at)
            .where(t.key.startswith(prefix, autoescape=True), t.locked_until > now)
            .order_by(t.locked_until.desc())).all()
        for key, *counter in rows:
            yield key, Counter(*counter)


# Redis: one hash per key; both scripts run atomically inside Redis. Times are epoch
# seconds passed in by the app (its clock decides, as with the database store).
_RESERVE = """
local k = KEYS[1]
local now, limit, lock = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local until_ = tonumber(redis.call('HGET', k, 'locked_until') or '0')
local seen = tonumber(redis.call('HGET', k, 'updated_at') or '0')
if (until_ > 0 and until_ <= now) or (until_ == 0 and seen > 0 and seen <= now - lock) then
  redis.call('DEL', k)
  until_ = 0
end
local n = redis.call('HINCRBY', k, 'failures', 1)
if until_ == 0 and n >= limit then
  until_ = now + lock
  redis.call('HSET', k, 'locked_until', tostring(until_))
end
redis.call('HSET', k, 'updated_at', tostring(now))
redis.call('EXPIRE', k, math.ceil(lock) * 2)
return {n, tostring(until_)}
"""
_HIT = """
local k = KEYS[1]
local n = redis.call('INCR', k)
if n == 1 then redis.call('EXPIRE', k, tonumber(ARGV[1])) end
return n
"""


def _epoch(value: dt.datetime) -> float:
    return value.replace(tzinfo=dt.UTC).timestamp()


def _from_epoch(value: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(value, dt.UTC).replace(tzinfo=None)


class RedisThrottleStore:
    """Counters in Redis, shared by every worker; each operation is one atomic script."""

    def __init__(self, client, prefix: str = "login:"):
        self.client = client
        self.prefix = prefix
        self._reserve = client.register_script(_RESERVE)
        self._hit = client.register_script(_HIT)

    def _counter(self, data: dict) -> Counter:
        if not data:
            return Counter()
        until = float(data.get(b"locked_until") or 0)
        seen = float(data.get(b"updated_at") or 0)
        return Counter(int(data.get(b"failures", 0)), _from_epoch(until) if until else None,
                       _from_epoch(seen) if seen else None)

    def get(self, key: str) -> Counter:
        if key.startswith("ip:"):
            value = self.client.get(self.prefix + key)
            return Counter(int(value or 0))
        return self._counter(self.client.hgetall(self.prefix + key))

    def reserve(self, key: str, now: dt.datetime, limit: int, lock: dt.timedelta) -> Counter:
        failures, until = self._reserve(
            keys=[self.prefix + key], args=[_epoch(now), limit, lock.total_seconds()])
        until = float(until)
        return Counter(int(failures), _from_epoch(until) if until else None, now)

    def hit(self, key: str, now: dt.datetime, window: dt.timedelta) -> int:
        return int(self._hit(keys=[self.prefix + key],
                             args=[max(1, int(window.total_seconds()))]))

    def reset(self, key: str) -> None:
        self.client.delete(self.prefix + key)

    def locked(self, now: dt.datetime, prefix: str) -> Iterator[tuple[str, Counter]]:
        found = []
        for name in self.client.scan_iter(match=self.prefix + prefix + "*", count=500):
            counter = self._counter(self.client.hgetall(name))
            if counter.locked(now):
                found.append((name.decode()[len(self.prefix):], counter))
        found.sort(key=lambda item: item[1].locked_until, reverse=True)
        yield from found


USER_PREFIX = "user:"


def account_key(subject: int | str | None) -> str:
    """The counter of a person: an account id (``user:<id>``, whatever was typed for it),
    or, for a typed name that matches no account, that name."""
    if isinstance(subject, int):
        return f"{USER_PREFIX}{subject}"
    return "name:" + (subject or "").strip().lower()[:150]


def user_id_of(key: str) -> int | None:
    return int(key[len(USER_PREFIX):]) if key.startswith(USER_PREFIX) else None


def ip_key(ip: str | None) -> str:
    return "ip:" + (ip or "unknown")


def is_locked(store: ThrottleStore, subject: int | str | None, now: dt.datetime) -> bool:
    return store.get(account_key(subject)).locked(now)


def needs_captcha(store: ThrottleStore, subject: int | str | None, ip: str | None,
                  policy: Policy) -> bool:
    if store.get(ip_key(ip)).failures >= policy.captcha_per_ip:
        return True
    return subject is not None and subject != "" and \
        store.get(account_key(subject)).failures >= policy.captcha_after


def reserve(store: ThrottleStore, subject: int | str | None, now: dt.datetime,
            policy: Policy) -> Reservation:
    """Take one attempt before any password is checked; refused once the slots are gone."""
    key = account_key(subject)
    counter = store.reserve(key, now, policy.max_failures, policy.window)
    return Reservation(key, counter.failures <= policy.max_failures, counter)


def register_failure(store: ThrottleStore, subject: int | str | None, ip: str | None,
                     now: dt.datetime, policy: Policy,
                     reservation: Reservation | None = None) -> bool:
    """Count a failure (its reservation, when the attempt was reserved); True when this
    failure locked the account."""
    if reservation is None:
        reservation = reserve(store, subject, now, policy)
    store.hit(ip_key(ip), now, policy.window)
    return reservation.locks(policy.max_failures)


def register_success(store: ThrottleStore, subject: int | str | None) -> None:
    """A correct password: the person's reservation and failures are cleared. The address
    keeps its count (others behind it may be guessing)."""
    store.reset(account_key(subject))


def unlock(store: ThrottleStore, user_id: int) -> None:
    store.reset(account_key(user_id))


def locked_accounts(store: ThrottleStore, now: dt.datetime) -> list[tuple[int, Counter]]:
    """Accounts locked at ``now``, most recently locked first."""
    return [(user_id_of(key), counter) for key, counter in store.locked(now, USER_PREFIX)]


# ---------------------------------------------------------------- captcha answers

CAPTCHA_TTL = dt.timedelta(minutes=5)


class CaptchaStore(Protocol):
    def put(self, answer: str, now: dt.datetime, ttl: dt.timedelta) -> str:
        """Keep ``answer``; returns the opaque id the browser may hold."""
        ...

    def take(self, captcha_id: str, now: dt.datetime) -> str | None:
        """The answer, once: it is gone after this call (and after its expiry)."""
        ...


def _captcha_id() -> str:
    return secrets.token_urlsafe(32)


class DatabaseCaptchaStore:
    """Answers in the login_captcha table; taking one deletes it in the same statement."""

    def __init__(self, session: Session):
        self.session = session

    def put(self, answer: str, now: dt.datetime, ttl: dt.timedelta) -> str:
        captcha_id = _captcha_id()
        # expired answers of images never submitted go here, on the next image
        self.session.execute(delete(LoginCaptcha).where(LoginCaptcha.expires_at <= now))
        self.session.add(LoginCaptcha(id=captcha_id, answer=answer, expires_at=now + ttl))
        self.session.flush()  # the image's request commits
        return captcha_id

    def take(self, captcha_id: str, now: dt.datetime) -> str | None:
        row = self.session.execute(
            delete(LoginCaptcha).where(LoginCaptcha.id == captcha_id)
            .returning(LoginCaptcha.answer, LoginCaptcha.expires_at)).first()
        self.session.flush()  # used up: the login's request commits, whatever its answer
        if row is None or row.expires_at <= now:
            return None
        return row.answer


class RedisCaptchaStore:
    """Answers in Redis with their expiry; GETDEL makes each one single-use."""

    def __init__(self, client, prefix: str = "login:"):
        self.client = client
        self.prefix = prefix + "captcha:"

    def put(self, answer: str, now: dt.datetime, ttl: dt.timedelta) -> str:
        captcha_id = _captcha_id()
        self.client.set(self.prefix + captcha_id, answer, ex=max(1, int(ttl.total_seconds())))
        return captcha_id

    def take(self, captcha_id: str, now: dt.datetime) -> str | None:
        value = self.client.getdel(self.prefix + captcha_id)
        return value.decode() if value is not None else None


# ---------------------------------------------------------------- 锁定账号 (staff screen)


@dataclass(frozen=True)
class LockedAccount:
    user_id: int
    name: str  # masked where it is a person's name
    account: str
    locked_at: dt.datetime
    locked_until: dt.datetime
    failures: int


def locked_account_rows(session: Session, store: ThrottleStore, now: dt.datetime,
                        policy: Policy) -> list[LockedAccount]:
    """The accounts locked at ``now``, with the expert's name (masked) or the staff name."""
    locked = locked_accounts(store, now)
    ids = [user_id for user_id, _ in locked]
    users = {u.id: u for u in session.execute(
        select(AppUser).where(AppUser.id.in_(ids))).scalars()} if ids else {}
    names = dict(session.execute(
        select(Expert.user_id, Expert.name).where(Expert.user_id.in_(ids))).all()) if ids else {}
    rows = []
    for user_id, counter in locked:
        user = users.get(user_id)
        if user is None:
            continue
        name = names.get(user_id) or f"{user.last_name or ''}{user.first_name or ''}".strip()
        account = mask_phone(user.username) if looks_like_phone(user.username) else user.username
        rows.append(LockedAccount(user_id, mask_name(name), account,
                                  counter.locked_until - policy.window, counter.locked_until,
                                  counter.failures))
    return rows
