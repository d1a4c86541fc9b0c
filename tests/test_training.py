"""我的培训 and 缴费 through the screens (issue #5, in progress)."""
import datetime as dt
import io
import json
import re

import pytest
from PIL import Image

from app.models import ExpertStatus
from tests.conftest import login_expert, login_staff, open_round_for, page_text
from tests.test_payment import statement

COLUMNS = ["序号", "课程名称", "学习开始时间", "学习结束时间", "学习进度", "批阅状态", "是否补学", "培训完毕",
           "批阅时间", "操作"]


@pytest.fixture
def trainee(app, make_expert):
    account = make_expert("培训者", status=ExpertStatus.ADMITTED)
    account.expert_no = open_round_for(
        app, account, name=f"2025年第一批-{account.expert_id}",
        batch=f"培训批{account.expert_id}", no_prefix="XJ2098",
        course_names=[f"系统使用教学课程{i:02d}" if i else "会员知识课程" for i in range(12)])
    return account


def enrollment_ids(html):
    return [int(x) for x in re.findall(r'data-enrollment="(\d+)"', html)]


def test_my_training_has_the_manual_columns_search_and_pages(app, trainee):
    client = app.test_client()
    login_expert(client, trainee)
    html = client.get("/training/").get_data(True)
    headers = re.findall(r"<th>([^<]+)</th>", html.split('id="training-table"')[1])[:10]
    assert headers == COLUMNS
    text = page_text(client.get("/training/"))
    assert "共 12 条" in text and "10 条/页" in text and "前往" in text
    assert "查询" in text and "重置" in text
    assert len(enrollment_ids(html)) == 10
    assert len(enrollment_ids(client.get("/training/?page=2").get_data(True))) == 2
    assert len(enrollment_ids(client.get("/training/?size=20").get_data(True))) == 12
    found = client.get("/training/?name=会员").get_data(True)
    assert len(enrollment_ids(found)) == 1 and "共 1 条" in page_text(client.get("/training/?name=会员"))
    assert "待批阅" in text and "缴费" in text


def test_pay_qr_callback_and_two_day_opening(app, trainee):
    from pyzbar.pyzbar import decode

    from app.extensions import db
    from app.models import Enrollment
    from app.services.payment import LocalHmacProvider

    client = app.test_client()
    login_expert(client, trainee)
    enrollment = enrollment_ids(client.get("/training/?name=会员").get_data(True))[0]
    page = client.get(f"/training/{enrollment}/pay")
    html = page.get_data(True)
    assert trainee.expert_no in page_text(page) and "300.00" in page_text(page)
    assert "扫码并输入自己的专家编号进行缴费" in page_text(page)
    order_no = re.search(r'id="order-no">([^<]+)<', html).group(1)
    png = __import__("base64").b64decode(re.search(r'data:image/png;base64,([^"]+)"', html).group(1))
    url = decode(Image.open(io.BytesIO(png)))[0].data.decode()
    assert url.endswith(f"/payments/local/{order_no}")
    assert client.get(url.replace("http://localhost", "")).status_code == 200

    # the provider's signed notification, twice: one credit
    provider = LocalHmacProvider(app.config["PAYMENT_LOCAL_SECRET"].encode(), "http://x",
                                 production=False)
    body = json.dumps({"order_no": order_no, "amount_fen": 30000, "transaction_id": "WX-1"}).encode()
    ts = str(int(dt.datetime.now(dt.UTC).timestamp()))
    headers = {provider.SIGNATURE: provider.sign(body, ts), provider.TIMESTAMP: ts}
    anon = app.test_client()
    first = anon.post("/payments/notify/local", data=body, headers=headers)
    again = anon.post("/payments/notify/local", data=body, headers=headers)
    assert first.json == {"code": "SUCCESS", "credited": True}
    assert again.json == {"code": "SUCCESS", "credited": False}
    forged = anon.post("/payments/notify/local", data=body.replace(b"30000", b"1"), headers=headers)
    assert forged.status_code == 400

    # not yet: the exact opening time is shown
    resp = client.get(f"/training/{enrollment}/study", follow_redirects=True)
    assert "2 天后即可进入培训，开放时间" in page_text(resp)
    # two days later (the payment moved back in time)
    with app.app_context():
        e = db.session.get(Enrollment, enrollment)
        shift = dt.timedelta(days=2, minutes=1)
        e.paid_at, e.study_start, e.study_end = e.paid_at - shift, e.study_start - shift, e.study_end - shift
        db.session.commit()
        db.session.remove()
    assert client.get(f"/training/{enrollment}/study").status_code == 200


def test_another_experts_enrollment_is_not_reachable(app, trainee, make_expert):
    other = make_expert("别人培训", status=ExpertStatus.ADMITTED)
    owner = app.test_client()
    login_expert(owner, trainee)
    enrollment = enrollment_ids(owner.get("/training/").get_data(True))[0]
    client = app.test_client()
    login_expert(client, other)
    assert client.get(f"/training/{enrollment}/pay").status_code == 404
    assert client.get(f"/training/{enrollment}/study").status_code == 404


def test_staff_statement_import_screen(app, trainee):
    expert = app.test_client()
    login_expert(expert, trainee)
    enrollment = enrollment_ids(expert.get("/training/?name=会员").get_data(True))[0]
    pay = expert.get(f"/training/{enrollment}/pay").get_data(True)
    order_no = re.search(r'id="order-no">([^<]+)<', pay).group(1)
    staff = app.test_client()
    login_staff(staff)
    content = statement([(trainee.expert_no, "300", f"BANK-{order_no}", ""), ("XJ0", "1", "Z", "")])
    resp = staff.post("/payments/reconcile/", data={
        "what": "statement", "s-file": (io.BytesIO(content), "对账单.xlsx")},
        content_type="multipart/form-data")
    text = page_text(resp)
    assert f"已匹配：订单 {order_no}" in text and "未匹配" in text
    resp = staff.post("/payments/reconcile/", data={"what": "manual", "m-order_no": "NOPE",
                                                    "m-reference": "X"})
    assert "订单不存在" in page_text(resp)
    assert "已支付" in page_text(staff.get(f"/paymentorderadminview/list/?_flt_0_order_no={order_no}"))
    assert expert.get("/payments/reconcile/").status_code == 403
