"""Every staff list: the always-visible filter row (查询 / 重置) submits FAB's own filter args,
paging says 共 N 条 with a page size and 前往, and what staff read is in 北京时间, 元, 是 / 否
and words (issue 13, "Lists" and "Chinese, complete")."""
from __future__ import annotations

import datetime as dt
import html as html_lib
import itertools
import re

import pytest

from app.views import _filters
from app.views.base import StaffModelView
from tests.conftest import login_expert, login_staff, page_text

_serial = itertools.count(1)


@pytest.fixture(autouse=True)
def _fresh_options():
    """The row's select options are kept a minute; rows of a rolled-back test must not stay."""
    _filters.forget_options()
    yield
    _filters.forget_options()


@pytest.fixture
def admin(app):
    client = app.test_client()
    login_staff(client, "testadmin")
    return client


def staff_list_views(app) -> list[StaffModelView]:
    return [v for v in app.appbuilder.baseviews
            if isinstance(v, StaffModelView) and "can_list" in (v.base_permissions or ["can_list"])]


def list_url(view) -> str:
    return f"/{type(view).__name__.lower()}/list/"


def row_form(html: str) -> str:
    match = re.search(r'<form class="el-filter-row".*?</form>', html, re.S)
    assert match, "no filter row"
    return match.group(0)


def total(html: str) -> int:
    match = re.search(r'el-pagination__total">共 (\d+) 条<', html)
    assert match, "no 共 N 条"
    return int(match.group(1))


def shown_ids(html: str, view_name: str) -> set[int]:
    return {int(pk) for pk in re.findall(rf'/{view_name.lower()}/show/(\d+)', html)}


def field_names(form_html: str) -> list[str]:
    return re.findall(r'<(?:input|select)[^>]*\bname="(_flt_[^"]+)"', form_html)


# --- every list ------------------------------------------------------------------------------

def test_every_staff_list_has_its_filter_row_reset_and_total(app, admin):
    views = staff_list_views(app)
    assert len(views) >= 15  # 专家列表 … 审计日志 and the 基础数据 lists
    for view in views:
        name = type(view).__name__
        resp = admin.get(list_url(view))
        assert resp.status_code == 200, name
        html = resp.get_data(as_text=True)
        form = row_form(html)
        names = field_names(form)
        # one input per field (two for a 起始日期 – 截止日期 pair), each a FAB filter arg of a
        # column the row names
        assert len(view._filter_row_fields) >= 1, name
        expected = [arg for f in view._filter_row_fields for arg in f.args]
        assert names == expected, name
        for f in view._filter_row_fields:
            assert f'>{html_lib.escape(str(f.label))}</label>' in form, (name, f.column)
        assert "查询" in form and "重置" in form
        reset = re.search(r'class="btn btn-default btn-sm el-filter-reset" href="([^"]+)"', form)
        assert reset and reset.group(1) == list_url(view) and "_flt_" not in reset.group(1)
        # the list's own count: with no filter, every row the view's base filters allow
        with app.app_context():
            count = view.datamodel.query_count(
                view.datamodel.session.query(view.datamodel.obj), view._base_filters)
        assert total(html) == count, name


def test_every_filter_of_every_row_is_accepted_by_fab(app, admin):
    """Each input's arg is a filter FAB applies (a wrong index would be ignored or fail)."""
    for view in staff_list_views(app):
        for f in view._filter_row_fields:
            for arg in f.args:
                index, column = re.match(r"_flt_(\d)_(.*)", arg).groups()
                assert column in view._filters.get_search_filters(), (type(view).__name__, arg)
                flt = view._filters._all_filters[column][int(index)]
                assert flt is view._filters.get_search_filters()[column][int(index)]
                with app.test_request_context():
                    options = (f.choices() if f.choices else None) or [("1", "")]
                value = {"select": options[0][0], "dates": "2026-01-01"}.get(f.kind, "甲")
                resp = admin.get(f"{list_url(view)}?{arg}={value}")
                assert resp.status_code == 200, (type(view).__name__, arg)


def test_empty_inputs_sent_without_the_script_are_no_filter(admin):
    resp = admin.get("/expertadminview/list/?_flt_0_name=&_flt_3_status=&psize_ExpertAdminView=10")
    assert resp.status_code == 302
    assert resp.headers["Location"].endswith("/expertadminview/list/?psize_ExpertAdminView=10")


def test_the_lists_need_a_staff_login(app, make_expert):
    anonymous = app.test_client()
    resp = anonymous.get("/expertadminview/list/?_flt_0_name=张")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    expert = app.test_client()
    login_expert(expert, make_expert("无权列表"))
    for url in ("/expertadminview/list/?_flt_0_name=张", "/auditeventview/list/",
                "/paymentorderadminview/list/?goto_PaymentOrderAdminView=2"):
        resp = expert.get(url)
        assert resp.status_code in (302, 403), url
        if resp.status_code == 302:
            assert "/list/" not in resp.headers["Location"]
    reviewer = app.test_client()
    login_staff(reviewer)  # 审核人员: the expert list, not the audit log
    assert reviewer.get("/expertadminview/list/?_flt_0_name=张").status_code == 200
    assert reviewer.get("/auditeventview/list/?_flt_3_actor_name=x").status_code in (302, 403)


# --- 专家列表 -----------------------------------------------------------------------------------

def _experts(app, make_expert):
    from app.models import ExpertStatus

    made = []
    for i in range(6):
        prefecture = "喀什地区" if i % 2 else "哈密市"
        status = ExpertStatus.ADMITTED if i < 4 else ExpertStatus.PENDING
        made.append(make_expert(f"筛选{next(_serial)}号", prefecture=prefecture, status=status))
    return made


def _sql_count(app, **where) -> int:
    from app.extensions import db
    from app.models import Expert, Prefecture

    with app.app_context():
        query = db.session.query(Expert)
        if "prefecture" in where:
            query = query.join(Expert.prefecture).filter(Prefecture.name == where["prefecture"])
        if "status" in where:
            query = query.filter(Expert.status == where["status"])
        if "name_prefix" in where:
            query = query.filter(Expert.name.like(where["name_prefix"] + "%"))
        count = query.count()
        db.session.remove()
    return count


def _prefecture_id(app, name: str) -> int:
    from app.extensions import db
    from app.models import Prefecture

    with app.app_context():
        pk = db.session.query(Prefecture.id).filter_by(name=name).scalar()
        db.session.remove()
    return pk


def test_expert_row_fields_and_selects(admin):
    form = row_form(admin.get("/expertadminview/list/").get_data(as_text=True))
    for label in ("姓名", "身份证号", "本人手机号码", "所在市州", "从事专业类别", "状态", "入库批次"):
        assert f">{label}</label>" in form, label
    prefecture = re.search(r'<select[^>]*name="_flt_0_prefecture".*?</select>', form, re.S).group(0)
    first = re.search(r"<option[^>]*>([^<]*)</option>", prefecture).group(1)
    assert first == "全部" and ">喀什地区<" in prefecture
    status = re.search(r'<select[^>]*name="_flt_3_status".*?</select>', form, re.S).group(0)
    assert re.findall(r"<option[^>]*>([^<]*)</option>", status) == [
        "全部", "草稿", "待审核", "已退回", "已入库", "暂停", "清退"]


def test_expert_filter_by_prefecture_and_status_matches_sql(app, admin, make_expert):
    from app.models import ExpertStatus

    made = _experts(app, make_expert)
    kashgar = _prefecture_id(app, "喀什地区")
    admitted = ExpertStatus.ADMITTED.value
    url = (f"/expertadminview/list/?_flt_0_prefecture={kashgar}&_flt_3_status={admitted}"
           "&psize_ExpertAdminView=100")
    html = admin.get(url).get_data(as_text=True)
    expected = _sql_count(app, prefecture="喀什地区", status=admitted)
    assert total(html) == expected
    ids = shown_ids(html, "ExpertAdminView")
    assert len(ids) == expected
    ours = {a.expert_id for i, a in enumerate(made) if i % 2 and i < 4}
    assert ours <= ids and not ({a.expert_id for a in made} - ours) & ids
    # the values stay chosen after 查询
    form = row_form(html)
    assert re.search(rf'<option value="{kashgar}" selected>喀什地区<', form)
    assert re.search(rf'<option value="{admitted}" selected>{admitted}<', form)
    # FAB's own search widget sees the same filters
    assert '"prefecture"' in html and "_flt_" in url


def test_expert_filter_by_name_prefix_and_exact_id_number(app, admin, make_expert):
    made = _experts(app, make_expert)
    first = made[0]
    html = admin.get(f"/expertadminview/list/?_flt_0_name={first.name}").get_data(as_text=True)
    assert first.expert_id in shown_ids(html, "ExpertAdminView")
    assert total(html) == _sql_count(app, name_prefix=first.name)
    html = admin.get(f"/expertadminview/list/?_flt_0_id_number={first.id_number}").get_data(
        as_text=True)
    assert total(html) == 1 and shown_ids(html, "ExpertAdminView") == {first.expert_id}
    # exact only: part of a number finds nobody
    html = admin.get(f"/expertadminview/list/?_flt_0_id_number={first.id_number[:10]}").get_data(
        as_text=True)
    assert total(html) == 0


def test_page_size_and_goto(app, admin, make_expert):
    for _ in range(12):
        make_expert(f"分页{next(_serial)}号")
    count = _sql_count(app)
    html = admin.get("/expertadminview/list/?psize_ExpertAdminView=10").get_data(as_text=True)
    assert total(html) == count
    assert len(shown_ids(html, "ExpertAdminView")) == 10
    assert re.search(r'<option value="10" selected>10 条/页</option>', html)
    for size in (20, 50, 100):
        assert f">{size} 条/页<" in html
    pages = -(-count // 10)
    assert f'name="goto_ExpertAdminView" min="1" max="{pages}" value="1"' in html
    # 前往 2 页 (counted from 1) is FAB's page 1 (from 0), the page size kept
    resp = admin.get("/expertadminview/list/?psize_ExpertAdminView=10&goto_ExpertAdminView=2")
    assert resp.status_code == 302
    second_url = resp.headers["Location"]
    assert "page_ExpertAdminView=1" in second_url and "psize_ExpertAdminView=10" in second_url
    second = admin.get(second_url).get_data(as_text=True)
    assert 'value="2">' in second and '<li class="active"><span>2</span></li>' in second
    first_ids, second_ids = shown_ids(html, "ExpertAdminView"), shown_ids(second, "ExpertAdminView")
    assert len(second_ids) == min(10, count - 10) and not first_ids & second_ids
    # a page number that is not one goes to page one; past the end is FAB's empty page
    assert admin.get("/expertadminview/list/?goto_ExpertAdminView=x").status_code == 302
    assert admin.get("/expertadminview/list/?goto_ExpertAdminView=-4").status_code == 302
    assert admin.get("/expertadminview/list/?page_ExpertAdminView=99999").status_code == 200


def test_paging_links_keep_the_filter(app, admin, make_expert):
    for _ in range(12):
        make_expert(f"链接{next(_serial)}号", prefecture="哈密市")
    hami = _prefecture_id(app, "哈密市")
    html = admin.get(f"/expertadminview/list/?_flt_0_prefecture={hami}&psize_ExpertAdminView=10"
                     ).get_data(as_text=True)
    links = re.findall(r'href="([^"]*page_ExpertAdminView=1[^"]*)"', html)
    assert links and all(f"_flt_0_prefecture={hami}" in html_lib.unescape(u) for u in links)
    jump = re.search(r'<form class="el-pagination__jump".*?</form>', html, re.S).group(0)
    assert f'name="_flt_0_prefecture" value="{hami}"' in jump


# --- other lists ------------------------------------------------------------------------------

def _order(app, make_expert, **fields):
    from app.extensions import db
    from app.models import Course, Enrollment, Expert, ExpertStatus, PaymentOrder, TrainingRound

    account = make_expert(f"订单{next(_serial)}", status=ExpertStatus.ADMITTED)
    with app.app_context():
        expert = db.session.get(Expert, account.expert_id)
        rnd = TrainingRound(name=f"筛选批次{next(_serial)}", active=False,
                            enroll_start=dt.datetime(2026, 1, 1), enroll_end=dt.datetime(2026, 2, 1),
                            fee_fen=30000)
        enrollment = Enrollment(expert=expert, course=Course(round=rnd, name="筛选课程"))
        order = PaymentOrder(enrollment=enrollment, **{
            "order_no": f"F13{next(_serial):010d}", "expert_no": f"XJF{account.expert_id:07d}",
            "amount_fen": 12000, "kind": "培训费", **fields})
        db.session.add(order)
        db.session.commit()
        order_no = order.order_no
        db.session.remove()
    return order_no


def test_payment_orders_filter_and_formats(app, admin, make_expert):
    from app.models import PaymentStatus

    paid = _order(app, make_expert, status=PaymentStatus.PAID.value, provider="manual",
                  provider_ref="凭证1", created_at=dt.datetime(2026, 12, 3, 1, 5, 1, 123456),
                  paid_at=dt.datetime(2026, 12, 3, 2, 0, 0, 999))
    unpaid = _order(app, make_expert, status=PaymentStatus.UNPAID.value,
                    created_at=dt.datetime(2026, 12, 4, 1, 0, 0))
    form = row_form(admin.get("/paymentorderadminview/list/").get_data(as_text=True))
    for label in ("订单号", "专家编号", "状态", "确认方式"):
        assert f">{label}</label>" in form
    assert ">人工确认</option>" in form
    html = admin.get("/paymentorderadminview/list/?_flt_3_provider=manual&_flt_3_status="
                     f"{PaymentStatus.PAID.value}&_flt_0_order_no={paid}").get_data(as_text=True)
    assert total(html) == 1
    text = page_text(admin.get(f"/paymentorderadminview/list/?_flt_0_order_no={paid}"))
    assert "金额（元）" in text and "120.00" in text and "12000" not in text
    assert "人工确认" in text and "manual" not in text
    assert "2026-12-03 09:05:01" in text and "123456" not in text and "+00:00" not in text
    # 下单时间 from / to, days in 北京时间: 2026-12-03 09:05 and 2026-12-04 09:00
    base = "/paymentorderadminview/list/?_flt_0_expert_no="
    for order_no, day, found in ((paid, "2026-12-03", True), (unpaid, "2026-12-03", False),
                                 (unpaid, "2026-12-04", True)):
        expert_no = re.search(r"XJF\d+", page_text(admin.get(
            f"/paymentorderadminview/list/?_flt_0_order_no={order_no}"))).group(0)
        html = admin.get(f"{base}{expert_no}&_flt_2_created_at={day}&_flt_3_created_at={day}"
                         ).get_data(as_text=True)
        assert total(html) == (1 if found else 0), (order_no, day)
    show = page_text(admin.get(f"/paymentorderadminview/list/?_flt_0_order_no={paid}"))
    assert "2026-12-03 10:00:00" in show  # 支付时间, microseconds dropped


def test_payment_order_show_page_formats(app, admin, make_expert):
    from app.extensions import db
    from app.models import PaymentOrder, PaymentStatus

    order_no = _order(app, make_expert, status=PaymentStatus.PAID.value, provider="statement",
                      paid_at=dt.datetime(2026, 12, 3, 2, 0, 0, 999))
    with app.app_context():
        pk = db.session.query(PaymentOrder.id).filter_by(order_no=order_no).scalar()
        db.session.remove()
    text = page_text(admin.get(f"/paymentorderadminview/show/{pk}"))
    assert "120.00" in text and "银行对账确认" in text and "2026-12-03 10:00:00" in text
    assert "statement" not in text and ".000999" not in text


def test_audit_log_filter_by_time_actor_and_action(app, make_expert):
    from app.extensions import db
    from app.models import AuditEvent
    from app.services.audit import Action

    with app.app_context():
        for day, actor in ((1, "筛选甲"), (2, "筛选甲"), (3, "筛选乙")):
            db.session.add(AuditEvent(occurred_at=dt.datetime(2026, 11, day, 20, 0, 0, 5),
                                      actor_name=actor, action=Action.EXPORT, object_type="专家"))
        db.session.commit()
        db.session.remove()
    auditor = app.test_client()
    login_staff(auditor, "testadmin")
    form = row_form(auditor.get("/auditeventview/list/").get_data(as_text=True))
    for label in ("时间（北京时间）", "操作人", "操作"):
        assert f">{label}</label>" in form
    assert f">{Action.EXPORT}</option>" in form
    # 20:00 UTC is 04:00 北京时间 the next day
    url = (f"/auditeventview/list/?_flt_3_actor_name=筛选甲&_flt_3_action={Action.EXPORT}"
           "&_flt_2_occurred_at=2026-11-03&_flt_3_occurred_at=2026-11-03")
    html = auditor.get(url).get_data(as_text=True)
    assert total(html) == 1
    text = page_text(auditor.get(url))
    assert "2026-11-03 04:00:00" in text and "+00:00" not in text
    html = auditor.get("/auditeventview/list/?_flt_3_actor_name=筛选甲").get_data(as_text=True)
    assert total(html) == 2


def test_booleans_are_yes_no_and_fees_yuan_on_rounds(app, admin):
    from app.extensions import db
    from app.models import TrainingRound

    name = f"是否批次{next(_serial)}"
    with app.app_context():
        db.session.add(TrainingRound(name=name, active=False, fee_fen=30050,
                                     enroll_start=dt.datetime(2026, 1, 1),
                                     enroll_end=dt.datetime(2026, 2, 1, 0, 0, 0, 7)))
        db.session.commit()
        pk = db.session.query(TrainingRound.id).filter_by(name=name).scalar()
        db.session.remove()
    html = admin.get(f"/trainingroundadminview/list/?_flt_2_name={name}&_flt_2_active=0"
                     ).get_data(as_text=True)
    assert total(html) == 1
    text = page_text(admin.get(f"/trainingroundadminview/list/?_flt_2_name={name}"))
    assert "培训费（元）" in text and "300.50" in text and "否" in text
    assert "False" not in text and "True" not in text
    assert total(admin.get(f"/trainingroundadminview/list/?_flt_2_name={name}&_flt_2_active=1"
                           ).get_data(as_text=True)) == 0
    show = page_text(admin.get(f"/trainingroundadminview/show/{pk}"))
    assert "300.50" in show and "否" in show and "2026-02-01 08:00:00" in show
    assert "False" not in show and ".000007" not in show
    edit = admin.get(f"/trainingroundadminview/edit/{pk}").get_data(as_text=True)
    assert re.search(r'name="fee_fen"[^>]*value="300.50"', edit)


def test_round_fee_typed_in_yuan_is_kept_in_fen_and_refused_with_three_decimals(app, admin):
    from app.extensions import db
    from app.models import TrainingRound

    name = f"元批次{next(_serial)}"
    form = {"name": name, "admission_batches": f"无人批次{name}", "statuses": "已入库",
            "enroll_start": "2026-12-01T09:00", "enroll_end": "2026-12-31T18:30:15",
            "study_days": "30", "fee_fen": "300.001", "makeup_fee_fen": "100", "pass_mark": "60",
            "attempts_allowed": "2", "open_delay_days": "2", "active": "y"}
    resp = admin.post("/trainingroundadminview/add", data=form)
    assert resp.status_code == 200 and "金额最多两位小数" in page_text(resp)
    assert 'value="300.001"' in resp.get_data(as_text=True)  # kept as typed
    resp = admin.post("/trainingroundadminview/add", data={**form, "fee_fen": "288.5"})
    assert resp.status_code == 302
    with app.app_context():
        rnd = db.session.query(TrainingRound).filter_by(name=name).one()
        assert (rnd.fee_fen, rnd.makeup_fee_fen) == (28850, 10000)
        db.session.remove()


def test_stored_files_show_kinds_and_types_in_words(app, admin, make_expert):
    from app.extensions import db
    from app.models import StoredFile

    account = make_expert("文件类型")
    with app.app_context():
        for n, (kind, mime) in enumerate((("photo", "image/jpeg"), ("lesson", "application/pdf"))):
            db.session.add(StoredFile(owner_id=account.user_id, kind=kind,
                                      original_name=f"类型{account.expert_id}-{n}",
                                      stored_name=f"words-{account.expert_id}-{n}", size=1,
                                      sha256="0" * 64, content_type=mime))
        db.session.commit()
        db.session.remove()
    form = row_form(admin.get("/storedfileadminview/list/").get_data(as_text=True))
    assert ">PDF 文档</option>" in form and ">一寸免冠照</option>" in form
    url = f"/storedfileadminview/list/?_flt_2_original_name=类型{account.expert_id}-"
    text = page_text(admin.get(url))
    assert "JPEG 图片" in text and "PDF 文档" in text and "一寸免冠照" in text and "课程资料" in text
    assert "image/jpeg" not in text and "application/pdf" not in text
    html = admin.get(url + "&_flt_3_content_type=application/pdf").get_data(as_text=True)
    assert total(html) == 1


def test_reference_list_filter_row(app, admin):
    html = admin.get("/prefectureadminview/list/?_flt_2_name=喀什").get_data(as_text=True)
    assert total(html) == 1 and "喀什地区" in page_text(admin.get(
        "/prefectureadminview/list/?_flt_2_name=喀什"))
    form = row_form(html)
    assert 'name="_flt_2_name" value="喀什"' in form


def test_english_list_chrome(app, admin):
    admin.get("/lang/en")
    html = admin.get("/expertadminview/list/").get_data(as_text=True)
    admin.get("/lang/zh")
    form = row_form(html)
    assert "Search</button>" in form and "Reset</a>" in form and ">All</option>" in form
    assert re.search(r"Total \d+", html) and "/ page" in html and "Go to" in html


def test_breadcrumbs_on_list_show_and_edit(app, admin):
    from app.extensions import db
    from app.models import Prefecture

    html = admin.get("/prefectureadminview/list/").get_data(as_text=True)
    crumbs = re.search(r'<ol class="breadcrumb el-breadcrumb">.*?</ol>', html, re.S).group(0)
    assert [t.strip() for t in re.findall(r">([^<>]*)<", crumbs) if t.strip()] == ["首页", "基础数据", "市州"]
    with app.app_context():
        pk = db.session.query(Prefecture.id).filter_by(name="哈密市").scalar()
        db.session.remove()
    for page in ("show", "edit"):
        html = admin.get(f"/prefectureadminview/{page}/{pk}").get_data(as_text=True)
        crumbs = re.search(r'<ol class="breadcrumb el-breadcrumb">.*?</ol>', html, re.S).group(0)
        assert 'href="/prefectureadminview/list/"' in crumbs and "基础数据" in crumbs, page
