"""Issue 11, items 8 and 9: hostile input never gives a 5xx.

The walk reads ``app.url_map``, so a new route is fuzzed without touching this file. Every
URL variable is filled from its converter's type with hostile values (integers beyond 64
bits, letters, SQL and HTML fragments, NUL, 10 KB strings); every FAB list gets hostile
``_oc_`` / ``_od_`` / ``page_`` / ``psize_`` / ``_flt_`` parameters; POSTs carry hostile
values for the form's own field names (FAB's add and edit forms, the wizard's fields, and
every name the app's code reads from ``request.form``). It runs as anonymous, as two
experts (an application in progress, an admitted expert) and as a 管理员.

Values are sampled deterministically (a rotation through the value lists, offset by the
rule's position) instead of the full cross product, so a run takes about a minute. With
TESTING, Flask propagates an unhandled exception into the test client: it is caught here
and counted as a 500 together with any 5xx answer.
"""
from __future__ import annotations

import itertools
import re
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest

from tests.conftest import login_expert, login_staff

BIG = ["99999999999999999999", str(2**63), "1" + "0" * 30, "9223372036854775807"]
TEXT = ["abc", "1e9", "-1", "1.5", "id;drop table expert", "' OR '1'='1' --",
        "<script>alert(1)</script>", "\x00", "a\x00b", "A" * 10240, "password", "%", "..",
        "99999999999999999999", ""]
# Values for integer converters (they only match digits) and for everything else.
INT_VALUES = BIG + ["0"]
STRING_VALUES = TEXT + BIG
# JSON bodies (the heartbeat, the API): numbers beyond any column, wrong types, NUL.
JSON_VALUES = [10**30, -1, 1e308, float("1e300"), "abc", None, [], {}, "\x00", True,
               "99999999999999999999", "A" * 10240]
PER_RULE_GETS = 2
# Routes that would end the fuzzing identity's own session.
SESSION_ENDING = {"LoginView.logout"}
APP_DIR = Path(__file__).resolve().parent.parent / "app"


def _names_read_by_the_app(source: str) -> list[str]:
    """Names the app's own code reads from the query string or the form."""
    pattern = re.compile(r"request\.(?:" + source + r")\.(?:get|getlist)\(\s*\"([^\"{}]+)\"")
    names: set[str] = set()
    for path in APP_DIR.rglob("*.py"):
        names.update(pattern.findall(path.read_text(encoding="utf-8")))
    return sorted(names)


def _wizard_fields() -> list[str]:
    from app.services.application import BASIC, SECTIONS

    names = [f"b_{f.name}" for f in BASIC]
    for section in SECTIONS:
        names.append(f"{section.name}-count")
        names += [f"{section.name}-0-{f.name}" for f in section.fields]
    return names


def _pick(values: list[str], seed: int, k: int) -> str:
    return values[(seed * 7 + k * 3) % len(values)]


def _model_views(app):
    from flask_appbuilder.baseviews import BaseCRUDView

    return {type(v).__name__: v for v in app.appbuilder.baseviews if isinstance(v, BaseCRUDView)}


def _list_params(view, seed: int, k: int) -> dict[str, str]:
    """Hostile FAB list parameters for a view and its related views."""
    names = [type(view).__name__] + [type(r).__name__ for r in getattr(view, "_related_views", [])]
    params: dict[str, str] = {}
    for i, name in enumerate(names):
        s = seed + i
        params[f"_oc_{name}"] = _pick(STRING_VALUES + ["password", "id"], s, k)
        params[f"_od_{name}"] = _pick(["asc", "desc", "drop", "<b>"], s, k)
        params[f"page_{name}"] = _pick(STRING_VALUES, s + 1, k)
        params[f"psize_{name}"] = _pick(STRING_VALUES, s + 2, k)
    search = list(getattr(view, "search_columns", None) or [])
    for j, col in enumerate(search[:6]):
        params[f"_flt_{(seed + j + k) % 10}_{col}"] = _pick(STRING_VALUES, seed + j, k)
    return params


def _fill(rule, seed: int, k: int) -> str:
    from werkzeug.routing import IntegerConverter, PathConverter

    url = rule.rule
    for i, (name, conv) in enumerate(rule._converters.items()):
        if isinstance(conv, IntegerConverter):
            value = _pick(INT_VALUES, seed + i, k)
        else:
            value = _pick(STRING_VALUES, seed + i, k) or "x"
            value = quote(value, safe="/" if isinstance(conv, PathConverter) else "")
        url = re.sub(r"<(?:[^>:]+:)?" + re.escape(name) + ">", value, url)
    return url


def _form(view, names: list[str], seed: int) -> dict[str, str]:
    fields = list(names)
    for attr in ("add_form", "edit_form"):
        form_class = getattr(view, attr, None) if view is not None else None
        if form_class is not None:
            fields += [name for name, _ in form_class()._fields.items()]
    data = {name: _pick(STRING_VALUES, seed + i, 0) for i, name in enumerate(fields)}
    data["rowid"] = _pick(STRING_VALUES, seed, 1)
    return data


def _requests(app, who: str):
    """(endpoint, method, url, form) for every rule, deterministically sampled.

    Staff get every route in full (two GETs with different values, a form POST, a JSON
    POST where the route is not a FAB form). An expert's and the anonymous visitor's FAB
    staff routes are refused before any parameter is read, so they get one request per
    rule there; the admitted expert walks the routes outside FAB's staff views only."""
    views = _model_views(app)
    arg_names = _names_read_by_the_app("args|values")
    form_names = sorted(set(_names_read_by_the_app("form|values")) | set(_wizard_fields()))
    json_names = ["lesson_id", "position", "visible", "username", "password", "provider",
                  "refresh"] + form_names[:10]
    rules = sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint))
    for seed, rule in enumerate(rules):
        if rule.endpoint in ("static", "appbuilder.static"):
            continue
        view = views.get(rule.endpoint.split(".")[0])
        crud = view is not None
        if crud and who == "admitted":
            continue
        refused = crud and who != "staff"
        is_list = crud and rule.endpoint.split(".")[1] in ("list", "show", "edit")
        if "GET" in rule.methods:
            for k in range(1 if refused else PER_RULE_GETS):
                query = {name: _pick(STRING_VALUES, seed + i, k) for i, name in enumerate(arg_names)}
                if is_list:
                    query.update(_list_params(view, seed, k))
                yield rule.endpoint, "GET", f"{_fill(rule, seed, k)}?{urlencode(query)}", None
        if "POST" in rule.methods and not (refused and "GET" in rule.methods):
            yield rule.endpoint, "POST", _fill(rule, seed, 2), _form(view, form_names, seed)
            if not crud:
                body = {name: _pick(JSON_VALUES, seed + i, 0) for i, name in enumerate(json_names)}
                yield rule.endpoint, "JSON", _fill(rule, seed, 3), body


def _send(client, method: str, url: str, form):
    if method == "GET":
        return client.get(url)
    if method == "JSON":
        return client.post(url, json=form)
    return client.post(url, data=form)


@pytest.fixture
def identities(app, make_expert):
    from app.extensions import db
    from app.models import Expert, ExpertStatus

    ip = itertools.count(1)

    def client():
        # each identity its own address: hostile logins must not lock out other tests
        c = app.test_client()
        c.environ_base["REMOTE_ADDR"] = f"10.254.11.{next(ip)}"
        return c

    anonymous = client()
    drafting = client()
    login_expert(drafting, make_expert("模糊测试"))
    admitted_account = make_expert("模糊入库", status=ExpertStatus.ADMITTED)
    with app.app_context():
        db.session.get(Expert, admitted_account.expert_id).expert_no = "XJ2099000911"
        db.session.commit()
        db.session.remove()
    admitted = client()
    login_expert(admitted, admitted_account)
    staff = client()
    login_staff(staff, "testadmin")
    return {"anonymous": anonymous, "expert": drafting, "admitted": admitted, "staff": staff}


def test_item9_hostile_parameters_on_every_route_never_give_5xx(app, identities):
    """Walks app.url_map as anonymous, expert and staff; any 5xx or raised error fails."""
    # an unhandled error must reach this test as an exception, not as a handled 500 page
    assert app.testing and app.config.get("PROPAGATE_EXCEPTIONS") in (None, True)
    failures: list[str] = []
    sent = 0
    for who, client in identities.items():
        with app.test_request_context():
            plan = list(_requests(app, who))
        for endpoint, method, url, form in plan:
            if who != "anonymous" and endpoint in SESSION_ENDING:
                continue
            sent += 1
            try:
                resp = _send(client, method, url, form)
            except Exception as exc:  # propagated by Flask in TESTING: a 500
                failures.append(f"{who} {method} {url[:160]} raised {type(exc).__name__}: "
                                f"{str(exc)[:160]}")
                continue
            if resp.status_code >= 500:
                failures.append(f"{who} {method} {url[:160]} -> {resp.status_code}")
    assert sent > 1500, sent
    assert not failures, f"{len(failures)} of {sent}:\n" + "\n".join(failures[:80])
