"""Failed-login counting: 5 consecutive failures lock an account (and an IP) for 15
minutes on every login path; after 3 a captcha is asked on the web form.

State is shared between workers: in Redis when REDIS_URL is configured, otherwise in
the database (table login_throttle).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import LoginThrottle


@dataclass(frozen=True)
class Policy:
    max_failures: int = 5
    max_failures_per_ip: int = 5
    lock_minutes: int = 15
    captcha_after: int = 3


@dataclass(frozen=True)
class Counter:
    failures: int = 0
    locked_until: dt.datetime | None = None

    def locked(self, now: dt.datetime) -> bool:
        return self.locked_until is not None and self.locked_until > now


class ThrottleStore(Protocol):
    def get(self, key: str) -> Counter: ...
    def fail(self, key: str, now: dt.datetime, limit: int, lock: dt.timedelta) -> Counter: ...
    def reset(self, key: str) -> None: ...


class DatabaseThrottleStore:
    """Counters in the login_throttle table; each change commits at once."""

    def __init__(self, session: Session):
        self.session = session

    def get(self, key: str) -> Counter:
        row = self.session.get(LoginThrottle, key)
        return Counter(row.failures, row.locked_until) if row else Counter()

    def fail(self, key: str, now: dt.datetime, limit: int, lock: dt.timedelta) -> Counter:
        row = self.session.execute(
            select(LoginThrottle).where(LoginThrottle.key == key).with_for_update()
        ).scalar_one_or_none()
        if row is None:
            row = LoginThrottle(key=key, failures=0)
            self.session.add(row)
        if row.locked_until is not None and row.locked_until <= now:
            row.failures, row.locked_until = 0, None  # the lock has run out: count afresh
        row.failures += 1
        row.updated_at = now
        if row.failures >= limit and not (row.locked_until and row.locked_until > now):
            row.locked_until = now + lock
        self.session.commit()
        return Counter(row.failures, row.locked_until)

    def reset(self, key: str) -> None:
        row = self.session.get(LoginThrottle, key)
        if row is not None:
            self.session.delete(row)
            self.session.commit()


class RedisThrottleStore:
    """Counters in Redis: a hash per key that expires with its lock."""

    def __init__(self, client, prefix: str = "login:"):
        self.client = client
        self.prefix = prefix

    def get(self, key: str) -> Counter:
        data = self.client.hgetall(self.prefix + key)
        if not data:
            return Counter()
        until = data.get(b"locked_until")
        return Counter(int(data.get(b"failures", 0)),
                       dt.datetime.fromisoformat(until.decode()) if until else None)

    def fail(self, key: str, now: dt.datetime, limit: int, lock: dt.timedelta) -> Counter:
        name = self.prefix + key
        current = self.get(key)
        if current.locked_until is not None and current.locked_until <= now:
            self.client.delete(name)
        failures = int(self.client.hincrby(name, "failures", 1))
        self.client.expire(name, int(lock.total_seconds()) * 4)
        until = self.get(key).locked_until
        if failures >= limit and not (until and until > now):
            until = now + lock
            self.client.hset(name, "locked_until", until.isoformat())
        return Counter(failures, until)

    def reset(self, key: str) -> None:
        self.client.delete(self.prefix + key)


def account_key(account: str) -> str:
    return "account:" + (account or "").strip().lower()[:150]


def ip_key(ip: str | None) -> str:
    return "ip:" + (ip or "unknown")


def is_locked(store: ThrottleStore, account: str, ip: str | None, now: dt.datetime) -> bool:
    return store.get(account_key(account)).locked(now) or store.get(ip_key(ip)).locked(now)


def needs_captcha(store: ThrottleStore, account: str | None, ip: str | None,
                  policy: Policy) -> bool:
    counts = [store.get(ip_key(ip)).failures]
    if account:
        counts.append(store.get(account_key(account)).failures)
    return max(counts) >= policy.captcha_after


def register_failure(store: ThrottleStore, account: str, ip: str | None, now: dt.datetime,
                     policy: Policy) -> bool:
    """Count a failure; True when this failure locked the account or the IP."""
    lock = dt.timedelta(minutes=policy.lock_minutes)
    was_locked = is_locked(store, account, ip, now)
    store.fail(account_key(account), now, policy.max_failures, lock)
    store.fail(ip_key(ip), now, policy.max_failures_per_ip, lock)
    return not was_locked and is_locked(store, account, ip, now)


def register_success(store: ThrottleStore, account: str, ip: str | None) -> None:
    store.reset(account_key(account))
    store.reset(ip_key(ip))
