"""Browser tests: Playwright driving Debian's chromium against the app served in a thread."""
from __future__ import annotations

import shutil
import threading

import pytest
from werkzeug.serving import make_server

from tests.conftest import ARTIFACTS

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Offline machine: no background traffic, no sandbox as root.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def pytest_collection_modifyitems(config, items):
    """Every browser test commits for real: the live server answers from its own thread and
    connections, which must see the rows the test made (tests/conftest.py db_transaction)."""
    for item in items:
        if item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.commits)


@pytest.fixture(scope="session")
def live_server(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture(scope="session")
def playwright_driver():
    """One Playwright per session: a second sync_playwright() in the same thread fails while
    the first is running (its event loop is the thread's)."""
    from playwright.sync_api import expect

    # a busy 2-core machine can take seconds to answer: expect() retries up to this long
    expect.set_options(timeout=15_000)
    if not shutil.which("chromium"):
        pytest.skip("chromium 未安装：root 运行 'apt-get install chromium'（make test 会自动安装）")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser(playwright_driver):
    browser = playwright_driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


def _open(browser, **options):
    """A page that records console errors: a CSP violation or a script error fails the test."""
    context = browser.new_context(locale="zh-CN", **options)
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return context, page, errors


@pytest.fixture
def page(browser):
    context, page, errors = _open(browser, viewport={"width": 1280, "height": 900})
    yield page
    context.close()
    assert not errors, errors


@pytest.fixture
def phone_page(browser):
    context, page, errors = _open(browser, viewport={"width": 360, "height": 740},
                                  is_mobile=True, has_touch=True, device_scale_factor=2)
    yield page
    context.close()
    assert not errors, errors


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
