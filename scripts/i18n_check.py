"""Checks that the translation catalogs are complete.

* en: every Chinese string the app shows must have an English translation in
  translations/en/LC_MESSAGES/messages.po. The strings are collected without importing
  the app: every string constant containing Chinese characters in app/views/*.py and
  app/security.py (labels, titles, menu names, LOGIN_KINDS ...; docstrings and f-strings
  excluded), the Chinese strings that app/services/*.py and app/models.py hand to
  ``_`` / ``gettext`` / ``lazy_gettext`` (statuses, audit actions, rule texts: they reach
  the screen), and every Chinese string literal inside the Jinja tags of app/templates
  (``_('...')`` calls, labels passed to macros such as ``row('姓名', ...)``, tab lists;
  literals joined with ``~`` are not messages and are skipped).
* zh: every msgid of the installed Flask-AppBuilder (its python files and templates)
  must have a Chinese translation in translations/zh/LC_MESSAGES/messages.po.

Prints what is missing and exits 1; prints nothing and exits 0 when complete.

    python scripts/i18n_check.py            # check both catalogs
    python scripts/i18n_check.py --list     # print the app's Chinese msgids
"""
from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "translations"
PYTHON_SOURCES = [*sorted((ROOT / "app" / "views").glob("*.py")), ROOT / "app" / "security.py"]
TEMPLATES = ROOT / "app" / "templates"
# Modules below the views: only the strings they mark for translation are messages (the
# rest are data, log lines or audit details).
MARKED_SOURCES = [*sorted((ROOT / "app" / "services").rglob("*.py")), ROOT / "app" / "models.py"]
MARKERS = {"N_", "_", "gettext", "lazy_gettext", "ngettext", "lazy_ngettext", "_l"}
FAB_KEYWORDS = {"_": None, "__": None, "gettext": None, "lazy_gettext": None,
                "ngettext": (1, 2), "lazy_ngettext": (1, 2)}

CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def has_cjk(text: str) -> bool:
    return bool(CJK.search(text))


def _docstring_nodes(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if (body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                    and isinstance(body[0].value.value, str)):
                ids.add(id(body[0].value))
    return ids


def python_messages(path: Path) -> Iterator[tuple[str, str]]:
    """(msgid, location) for each Chinese string constant of a python file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    skip = _docstring_nodes(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):  # f-strings: the pieces are not messages
            skip.update(id(v) for v in node.values)
    for node in ast.walk(tree):
        if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                and id(node) not in skip and has_cjk(node.value)):
            yield node.value, f"{path.relative_to(ROOT)}:{node.lineno}"


def marked_messages(path: Path) -> Iterator[tuple[str, str]]:
    """(msgid, location) for each Chinese string a call such as lazy_gettext('...') marks."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
        if name not in MARKERS:
            continue
        for arg in node.args[:2]:
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and has_cjk(arg.value):
                yield arg.value, f"{path.relative_to(ROOT)}:{node.lineno}"


def enum_messages(path: Path) -> Iterator[tuple[str, str]]:
    """(msgid, location) for each Chinese value of a ``StrEnum`` class or of the audit
    ``Action`` table: statuses and actions are stored in Chinese and translated where
    they are shown (app/views/base.py status_text, the templates' ``_(x.status)``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if not isinstance(node, ast.ClassDef):
            continue
        bases = {getattr(b, "attr", None) or getattr(b, "id", None) for b in node.bases}
        if "StrEnum" not in bases and node.name != "Action":
            continue
        for item in node.body:
            if (isinstance(item, ast.Assign) and isinstance(item.value, ast.Constant)
                    and isinstance(item.value.value, str) and has_cjk(item.value.value)):
                yield item.value.value, f"{path.relative_to(ROOT)}:{item.lineno}"


def template_messages(path: Path) -> Iterator[tuple[str, str]]:
    """(msgid, location) for each Chinese string literal inside the template's Jinja tags."""
    from jinja2 import Environment

    env = Environment(extensions=["jinja2.ext.i18n"])
    tokens = list(env.lexer.tokenize(path.read_text(encoding="utf-8"), name=str(path)))
    for i, token in enumerate(tokens):
        if token.type != "string" or not has_cjk(token.value):
            continue
        before = tokens[i - 1].type if i else None
        after = tokens[i + 1].type if i + 1 < len(tokens) else None
        if "tilde" in (before, after):  # 'x' ~ value: concatenated text, not a message
            continue
        yield token.value, f"{path.relative_to(ROOT)}:{token.lineno}"


def app_messages() -> dict[str, list[str]]:
    """Every Chinese msgid the app needs translated, with where it is used."""
    found: dict[str, list[str]] = {}
    sources: list[Iterable[tuple[str, str]]] = [python_messages(p) for p in PYTHON_SOURCES]
    sources += [marked_messages(p) for p in MARKED_SOURCES]
    sources += [enum_messages(p) for p in MARKED_SOURCES]
    sources += [template_messages(p) for p in sorted(TEMPLATES.rglob("*.html"))]
    for source in sources:
        for msgid, where in source:
            found.setdefault(msgid, []).append(where)
    return found


def fab_messages() -> dict[str, list[str]]:
    """Every msgid of the installed Flask-AppBuilder (python files and templates)."""
    import flask_appbuilder
    from babel.messages.extract import extract_from_dir

    package = Path(flask_appbuilder.__file__).parent
    method_map = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
    found: dict[str, list[str]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
            str(package), method_map, keywords=FAB_KEYWORDS):
        msgid = message[0] if isinstance(message, tuple) else message
        if msgid:
            found.setdefault(msgid, []).append(f"flask_appbuilder/{filename}:{lineno}")
    return found


def translated(locale: str) -> set[str]:
    """msgids with a non-empty, non-fuzzy translation in our catalog for ``locale``."""
    from babel.messages.pofile import read_po

    po = TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po"
    if not po.exists():
        return set()
    with po.open("rb") as f:
        catalog = read_po(f)
    done = set()
    for message in catalog:
        if not message.id or message.fuzzy:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if all(strings):
            done.add(message.id[0] if isinstance(message.id, tuple) else message.id)
    return done


def missing(locale: str, needed: dict[str, list[str]]) -> list[tuple[str, list[str]]]:
    done = translated(locale)
    return [(msgid, where) for msgid, where in needed.items() if msgid not in done]


def main(argv: list[str]) -> int:
    if "--list" in argv:
        for msgid in app_messages():
            print(msgid)
        return 0
    problems = 0
    for locale, needed in (("en", app_messages()), ("zh", fab_messages())):
        for msgid, where in missing(locale, needed):
            problems += 1
            print(f"[{locale}] missing: {msgid!r}  ({', '.join(where[:3])})")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
