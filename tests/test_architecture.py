"""The structure's rules, checked on every run (issue 12): the import contracts of
``.importlinter`` (one direction, views independent), no function-local import without a
reason, one place that commits, refusals through the one ``DomainError`` hierarchy, status
words from the enums only."""
from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app"
# Where a commit is the job's or the request's one commit (see app/services/unit_of_work.py).
COMMIT_OWNERS = {"app/services/unit_of_work.py"}
STATUS_WORDS = ("草稿", "待审核", "已退回", "已入库", "待批阅", "待支付", "已支付", "进行中", "排队中",
                "已完成", "已撤销", "已通过", "已驳回", "合格", "不合格")


def _modules() -> list[Path]:
    return sorted(APP.rglob("*.py"))


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def test_import_contracts_hold():
    """lint-imports (import-linter) over .importlinter: layers and independent views."""
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert exe, "import-linter is in requirements-dev.txt"
    run = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "BROKEN" not in run.stdout


def import_cycles(package: str = "app") -> list[list[str]]:
    """Strongly connected groups of modules in the import graph (grimp, import-linter's own
    graph builder): each is an import cycle. Tarjan's algorithm, iterative."""
    import grimp  # the graph builder import-linter runs on (a dev dependency)

    graph = grimp.build_graph(package)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        cycles.append(sorted(group))
    return cycles


def test_no_import_cycles():
    """`python -m tests.test_architecture` prints the same check from the command line."""
    assert import_cycles() == []


def _local_imports(path: Path) -> list[tuple[int, str]]:
    """Imports inside a function, with no comment saying why on the line or the one above."""
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import | ast.ImportFrom) and in_function:
                here = lines[child.lineno - 1]
                above = lines[child.lineno - 2] if child.lineno > 1 else ""
                if "#" not in here and not above.strip().startswith("#"):
                    found.append((child.lineno, here.strip()))
            visit(child, in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef))

    visit(ast.parse(source), False)
    return found


def test_no_function_local_imports_without_a_reason():
    offenders = [f"{_rel(p)}:{n}: {text}" for p in _modules() for n, text in _local_imports(p)]
    assert not offenders, "\n".join(offenders)


# The job runners: a job commits per item (progress others read) through the unit of work.
JOB_RUNNERS = {"app/services/certificate/batch.py", "app/services/housekeeping.py",
               "app/services/importer.py", "app/services/jobs.py",
               "app/services/export_jobs.py", "app/services/statistics.py"}


def _calls(path: Path, names: set[str]) -> list[tuple[int, str]]:
    """(line, receiver) of every ``<receiver>.commit()``-like call."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr in names:
            receiver = node.func.value
            found.append((node.lineno, receiver.id if isinstance(receiver, ast.Name) else ""))
    return found


def test_one_place_commits():
    """Views and services never commit or roll back a session themselves: services flush;
    the request's end (app/errors.py) and the job runners commit through
    app/services/unit_of_work.py, the runners once per item of the job."""
    offenders = []
    for path in _modules():
        rel = _rel(path)
        if rel in COMMIT_OWNERS or not rel.startswith(("app/views/", "app/services/")):
            continue
        for line, receiver in _calls(path, {"commit", "rollback"}):
            if receiver == "unit_of_work" and rel in JOB_RUNNERS:
                continue
            offenders.append(f"{rel}:{line}")
    assert not offenders, "commit()/rollback() outside the unit of work:\n" + "\n".join(offenders)


def test_refusals_are_domain_errors():
    """Every exception class of the app's rules derives from DomainError (or is a
    configuration error that stops the start); no view reads ``.message`` by guesswork."""
    from app.services.errors import DomainError

    offenders = []
    for path in _modules():
        text = path.read_text(encoding="utf-8")
        if 'getattr(exc, "message"' in text:
            offenders.append(f"{_rel(path)}: getattr(exc, \"message\", ...)")
    import importlib

    for path in (APP / "services").rglob("*.py"):
        module = importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts)
                                         .removesuffix(".__init__"))
        for name, obj in vars(module).items():
            if (isinstance(obj, type) and issubclass(obj, Exception) and obj.__module__ == module.__name__
                    and not issubclass(obj, DomainError) and not name.endswith("ConfigError")):
                offenders.append(f"{module.__name__}.{name} is not a DomainError")
    assert not offenders, "\n".join(offenders)


TEMPLATE_COMPARISON = re.compile(r"""status\s*(==|!=|in)\s*['"(\[]""")


def test_templates_ask_the_model_about_status():
    offenders = []
    for path in (APP / "templates").rglob("*.html"):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if TEMPLATE_COMPARISON.search(line) and any(w in line for w in STATUS_WORDS):
                offenders.append(f"{_rel(path)}:{n}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


@pytest.mark.parametrize("area", ["views", "services"])
def test_no_status_literals_in_code(area):
    """Status values come from the enums in app/models.py, not from string literals."""
    offenders = []
    for path in (APP / area).rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare):
                for side in [node.left, *node.comparators]:
                    if isinstance(side, ast.Constant) and side.value in STATUS_WORDS:
                        offenders.append(f"{_rel(path)}:{node.lineno}: {side.value!r}")
            if isinstance(node, ast.keyword) and node.arg in ("status", "review_status") \
                    and isinstance(node.value, ast.Constant) and node.value.value in STATUS_WORDS:
                offenders.append(f"{_rel(path)}:{node.lineno}: {node.arg}={node.value.value!r}")
    assert not offenders, "\n".join(offenders)


if __name__ == "__main__":  # the command the closing note shows: prints every import cycle
    found = import_cycles()
    print(f"import cycles in app/: {len(found)}")
    for group in found:
        print("  " + " -> ".join(group))
    raise SystemExit(1 if found else 0)
