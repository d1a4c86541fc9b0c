"""Item 18 of issue 11: production settings. The local payment stand-in's secret is made
per instance (a notification signed with the old public constant marked another expert's
order 已支付); with PRODUCTION set the app refuses to start on a development default, and
otherwise answers with Secure cookies and HSTS."""
from __future__ import annotations

import datetime as dt
import importlib
import os
import stat

import pytest

from app.services.payment import LocalHmacProvider
from tests.test_payment import notify, order_state, paid_setup  # noqa: F401  (fixture)

OLD_CONSTANT = b"local-dev-secret"
PRODUCTION_ENV = {
    "PRODUCTION": "1",
    "SECRET_KEY": "item18-" + "k" * 57,
    "PAYMENT_PROVIDER": "wechatpay",
}
# What each default is called in the refusal.
DEFAULTS = [
    ("PAYMENT_PROVIDER", None, "PAYMENT_PROVIDER=local：本地模拟支付仅用于开发和测试"),
    ("SECRET_KEY", None, "SECRET_KEY：未在环境变量中设置"),
    ("SESSION_COOKIE_SECURE", "0", "SESSION_COOKIE_SECURE：未开启"),
    ("REMEMBER_COOKIE_SECURE", "0", "REMEMBER_COOKIE_SECURE：未开启"),
    ("WTF_CSRF_ENABLED", "0", "WTF_CSRF_ENABLED：已关闭"),
]


def _reload_config():
    import config

    return importlib.reload(config)


@pytest.fixture
def environment(monkeypatch, tmp_path):
    """Set environment variables as an operator would, with config.py read again; the
    instance folder is the test's own. Afterwards config.py is read again as it was."""
    monkeypatch.setenv("INSTANCE_DIR", str(tmp_path / "instance"))
    for name in ("PRODUCTION", "SECRET_KEY", "PAYMENT_PROVIDER", "PAYMENT_LOCAL_SECRET",
                 "SESSION_COOKIE_SECURE", "REMEMBER_COOKIE_SECURE", "WTF_CSRF_ENABLED"):
        monkeypatch.delenv(name, raising=False)

    def apply(values: dict[str, str | None]):
        for name, value in values.items():
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        return _reload_config()

    yield apply
    monkeypatch.undo()
    _reload_config()


def _production_app(app, tmp_path):
    """create_app as `make run` would, on the test database (already migrated)."""
    from app import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                       "UPLOAD_FOLDER": str(tmp_path / "uploads")})


# ------------------------------------------------------------------ the payment secret

def test_item18_payment_secret_is_made_per_instance_and_kept_mode_600(environment, tmp_path):
    cfg = environment({})
    secret = cfg.PAYMENT_LOCAL_SECRET
    kept = tmp_path / "instance" / "payment_local_secret"
    assert secret != OLD_CONSTANT.decode() and len(secret) == 64
    assert kept.read_text().strip() == secret
    assert stat.S_IMODE(os.stat(kept).st_mode) == 0o600
    assert environment({}).PAYMENT_LOCAL_SECRET == secret  # the same instance: the same value
    assert not [p for p in kept.parent.iterdir() if p.name.startswith(".")]  # no drafts left
    assert environment({"INSTANCE_DIR": str(tmp_path / "other")}).PAYMENT_LOCAL_SECRET != secret
    assert environment({"PAYMENT_LOCAL_SECRET": "tests-own"}).PAYMENT_LOCAL_SECRET == "tests-own"


def test_item18_notification_signed_with_the_old_constant_is_refused(app, paid_setup):  # noqa: F811
    assert app.config["PAYMENT_PROVIDER"] == "local" and not app.config["PRODUCTION"]
    forger = LocalHmacProvider(OLD_CONSTANT, "http://x", production=False)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    headers, body = notify(forger, paid_setup["order_no"], paid_setup["amount"], "FORGED", now)
    resp = app.test_client().post("/payments/notify/local", data=body, headers=headers)
    assert resp.status_code == 400 and resp.json["message"] == "签名不正确"
    assert order_state(app, paid_setup["order_no"])[0] == "待支付"

    # the instance's own secret still works (the stand-in is usable in development)
    own = LocalHmacProvider(app.config["PAYMENT_LOCAL_SECRET"].encode(), "http://x",
                            production=False)
    headers, body = notify(own, paid_setup["order_no"], paid_setup["amount"], "OWN", now)
    resp = app.test_client().post("/payments/notify/local", data=body, headers=headers)
    assert resp.json == {"code": "SUCCESS", "credited": True}


# ------------------------------------------------------------------ PRODUCTION start-up

@pytest.mark.parametrize(("name", "value", "message"), DEFAULTS, ids=[d[0] for d in DEFAULTS])
def test_item18_production_refuses_each_development_default(app, environment, tmp_path,
                                                            name, value, message):
    from app.services.production import ProductionConfigError

    environment({**PRODUCTION_ENV, name: value})
    with pytest.raises(ProductionConfigError) as refused:
        _production_app(app, tmp_path)
    text = str(refused.value)
    assert text.startswith("PRODUCTION 已设置，但以下配置仍是开发默认值，系统拒绝启动")
    assert refused.value.problems == [p for p in refused.value.problems if message in p]
    assert len(refused.value.problems) == 1 and message in text


def test_item18_production_lists_every_default_at_once(app, environment, tmp_path):
    from app.services.production import ProductionConfigError

    environment({"PRODUCTION": "1", "SESSION_COOKIE_SECURE": "0", "REMEMBER_COOKIE_SECURE": "0",
                 "WTF_CSRF_ENABLED": "0"})
    with pytest.raises(ProductionConfigError) as refused:
        _production_app(app, tmp_path)
    for _, _, message in DEFAULTS:
        assert message in str(refused.value)


def test_item18_production_starts_with_everything_set_and_sends_secure_cookies_and_hsts(
        app, environment, tmp_path):
    cfg = environment(PRODUCTION_ENV)
    assert cfg.SESSION_COOKIE_SECURE and cfg.REMEMBER_COOKIE_SECURE  # PRODUCTION's defaults
    prod = _production_app(app, tmp_path)
    assert prod.config["SECRET_KEY"] == PRODUCTION_ENV["SECRET_KEY"]
    resp = prod.test_client().get("/login/")  # plain HTTP: behind a proxy that ends TLS
    assert resp.status_code == 200
    assert resp.headers["Strict-Transport-Security"].startswith("max-age=")
    cookies = resp.headers.getlist("Set-Cookie")
    assert cookies and all("Secure" in c and "HttpOnly" in c for c in cookies), cookies
    # the local stand-in's pages are gone
    assert prod.test_client().get("/payments/local/PX1").status_code == 404


def test_item18_development_app_sends_hsts_only_over_https(app):
    assert "Strict-Transport-Security" not in app.test_client().get("/login/").headers
    secure = app.test_client().get("/login/", base_url="https://localhost")
    assert "Strict-Transport-Security" in secure.headers
