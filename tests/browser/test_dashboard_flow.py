"""首页 统计分析 in a browser: an expert sends an 异动申请 through the screens; a reviewer signs
in and lands on the 首页, the ECharts bar charts draw (canvas, no console error), 查询 by
入库批次 after 「刷新统计」 (the charts are a snapshot), 「查看表格」 shows the numbers the
database counts, the 异动审核 badge and card show
the waiting requests and the card opens the list of exactly those."""
import re
import uuid

import pytest
from playwright.sync_api import expect
from sqlalchemy import text

from app.models import ChangeStatus, ExpertStatus
from app.services.statistics import years_before
from tests.browser.conftest import shot
from tests.browser.test_application_flow import staff_login
from tests.browser.test_changes_flow import expert_login
from tests.test_changes import make_admitted, pass_training
from tests.test_statistics import _new_expert
from tests.test_uploads import pdf

pytestmark = pytest.mark.browser


@pytest.fixture
def fresh_counts(app):
    """「刷新统计」 counts right after its request (no Celery worker in the tests)."""
    saved = app.config.get("STATISTICS_REFRESH_INLINE")
    app.config["STATISTICS_REFRESH_INLINE"] = True
    yield
    app.config["STATISTICS_REFRESH_INLINE"] = saved


def background(app, batch: str) -> None:
    """Bulk experts of one 入库批次 (what an import would have made): database only."""
    from app.extensions import db
    from app.models import beijing_today

    today = beijing_today()
    people = [("乌鲁木齐市", ExpertStatus.ADMITTED, 35), ("乌鲁木齐市", ExpertStatus.ADMITTED, 52),
              ("克拉玛依市", ExpertStatus.PENDING, 44), ("喀什地区", ExpertStatus.RETURNED, 61),
              ("喀什地区", ExpertStatus.DRAFT, 48), ("哈密市", ExpertStatus.ADMITTED, 71)]
    with app.app_context():
        for i, (pref, status, age) in enumerate(people):
            _new_expert(db.session, f"首页专家{i}", batch, pref, status, "A0101", "工程师",
                        years_before(today, age))
        db.session.commit()
        db.session.remove()


def sql_status_counts(app, batch: str) -> dict[str, int]:
    from app.extensions import db

    with app.app_context():
        rows = dict(db.session.execute(text(
            "SELECT status, count(*) FROM expert WHERE admission_batch = :b GROUP BY status"),
            {"b": batch}).all())
        db.session.remove()
    return rows


def pending_transfers(app) -> int:
    from app.extensions import db

    with app.app_context():
        n = db.session.execute(text("SELECT count(*) FROM transfer_request WHERE status = :s"),
                               {"s": ChangeStatus.PENDING.value}).scalar()
        db.session.remove()
    return n


def test_dashboard_charts_table_and_badges(browser, live_server, app, make_expert, tmp_path,
                                           fresh_counts):
    batch = f"首页{uuid.uuid4().hex[:6]}批"
    background(app, batch)

    # an expert asks to move to another 市州, through the screens
    admitted = make_admitted(app, make_expert, name="首页异动专家")
    pass_training(app, admitted.expert_id)
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = ctx.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    expert_login(page, live_server, admitted.username, admitted.password)
    expect(page.locator(".todo-badge")).to_have_count(0)  # no badges for experts
    page.click("#btn-transfer")
    proof = tmp_path / "调动证明.pdf"
    proof.write_bytes(pdf())
    page.select_option("#to_prefecture", label="哈密市")
    page.fill("#reason", "调往哈密工作")
    page.set_input_files("#attachment", str(proof))
    page.click("#btn-submit-transfer")
    expect(page.locator("body")).to_contain_text("异动申请已提交")
    page.click("#user-menu")
    page.click("button:has-text('退出登录')")

    # the reviewer lands on the 首页
    staff_login(page, live_server)
    page.wait_for_url("**/dashboard/")
    for key in ("prefecture", "status", "specialty", "title", "age", "funnel", "rounds"):
        expect(page.locator(f"#chart-{key} canvas")).to_have_count(1)

    # the charts are a snapshot: 「刷新统计」 recounts what was entered since
    before = page.locator("#counted-at").inner_text()
    page.wait_for_timeout(1100)  # the time shown is to the second
    page.click("#btn-refresh")
    page.wait_for_url("**/dashboard/")
    expect(page.locator("body")).to_contain_text("已开始刷新统计")
    expect(page.locator("#counted-at")).not_to_have_text(before)
    expect(page.locator("#refreshing")).to_have_count(0)
    shot(page, "issue13-dashboard-refreshed")

    # 查询 by 入库批次, then 「查看表格」: the numbers SQL counts
    page.select_option("#f-batch", batch)
    page.click("#btn-query")
    page.wait_for_url(re.compile(r".*/dashboard/\?batch=.*"))
    expect(page.locator("#chart-status canvas")).to_have_count(1)
    table = page.locator("#table-status")
    expect(table).to_be_hidden()
    page.click("#toggle-status")
    expect(table).to_be_visible()
    expect(page.locator("#toggle-status")).to_have_text("查看图表")
    shown = {}
    for row in table.locator("tbody tr").all():
        cells = row.locator("td").all_inner_texts()
        shown[cells[0]] = int(cells[1])
    expected = sql_status_counts(app, batch)
    assert {k: v for k, v in shown.items() if v} == expected
    assert expected == {"已入库": 3, "待审核": 1, "已退回": 1, "草稿": 1}
    page.click("#toggle-age")
    expect(page.locator("#table-age")).to_contain_text("70岁及以上")
    shot(page, "issue13-dashboard")

    # the 待办 badge of 异动审核 (and of its category 专家库), and its card's filtered list
    waiting = pending_transfers(app)
    assert waiting >= 1
    expect(page.locator("#todo-transfers .todo-count")).to_have_text(str(waiting))
    page.click("a.dropdown-toggle:has-text('专家库')")
    expect(page.locator(".todo-badge[data-menu='异动审核']")).to_have_text(str(waiting))
    expect(page.locator(".todo-badge[data-menu='专家库']")).to_be_visible()
    shot(page, "issue13-dashboard-badges")
    page.click("#dashboard h3")  # the menu closes
    page.click("#todo-transfers")
    page.wait_for_url("**/transferrequestadminview/list/**")
    expect(page.locator("body")).to_contain_text("首页异动专家")
    body = page.locator("body").inner_text()
    listed = re.search(r"(?:记录数目\s*:\s*|共\s*)(\d+)", body)
    assert listed and int(listed.group(1)) == waiting
    shot(page, "issue13-dashboard-transfer-list")
    ctx.close()
    assert not errors, errors
