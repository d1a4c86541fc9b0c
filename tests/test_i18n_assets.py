"""Chinese by default, English selectable; no page loads anything from outside the server."""
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import login_expert, login_staff, page_text

ROOT = Path(__file__).resolve().parent.parent
EXTERNAL = re.compile(r"""(?:src|href|action)\s*=\s*["']?\s*(?:https?:)?//""", re.I)
CSS_EXTERNAL = re.compile(r"""url\(\s*["']?\s*(?:https?:)?//|@import\s+["']?(?:https?:)?//""", re.I)


def test_catalogs_cover_every_label():
    result = subprocess.run([sys.executable, "scripts/i18n_check.py"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_chinese_by_default_and_english_on_request(app, make_expert):
    client = app.test_client()
    login_staff(client)
    text = page_text(client.get("/expertadminview/list/"))
    assert "专家列表" in text and "共 " in text and " 条" in text
    client.get("/lang/en")
    text = page_text(client.get("/expertadminview/list/"))
    assert "Experts" in text and "ID card number" in text
    client.get("/lang/zh")
    assert "专家列表" in page_text(client.get("/expertadminview/list/"))

    expert = app.test_client()
    login_expert(expert, make_expert("英文页"))
    expert.get("/lang/en")
    text = page_text(expert.get("/expert/"))
    assert "Basic information" in text or "Basic Information" in text


def _pages(app, make_expert):
    staff = app.test_client()
    login_staff(staff, "testadmin")
    account = make_expert("资源检查")
    expert = app.test_client()
    login_expert(expert, account)
    anonymous = app.test_client()
    yield anonymous, "/login/"
    yield anonymous, "/login/?login_kind=staff"
    yield expert, "/expert/"
    yield expert, "/account/password"
    for url in ("/expertadminview/list/", f"/expertadminview/show/{account.expert_id}",
                "/expertadminview/add", f"/expertadminview/edit/{account.expert_id}",
                "/experts/import/", "/prefectureadminview/list/", "/users/list/",
                "/roles/list/", "/educationadminview/add"):
        yield staff, url


def test_no_page_loads_anything_from_outside(app, make_expert):
    for client, url in _pages(app, make_expert):
        resp = client.get(url)
        assert resp.status_code == 200, url
        html = resp.get_data(True)
        assert not EXTERNAL.search(html), (url, EXTERNAL.search(html).group(0))
        assert not CSS_EXTERNAL.search(html), url
        for asset in re.findall(r"""(?:src|href)=["'](/static/[^"']+\.(?:css|js))""", html):
            body = client.get(asset).get_data(True)
            assert not CSS_EXTERNAL.search(body), asset
