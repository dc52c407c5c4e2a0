"""House rules that a reviewer would otherwise have to remember."""

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
APPS = [p for p in ROOT.iterdir() if (p / "apps.py").exists()]


def python_files(name):
    for app in APPS:
        for path in [app / f"{name}.py", *(app / name).glob("*.py")]:
            if path.exists():
                yield path


def test_views_and_apis_never_query_models_directly():
    """Views call selectors (which take the actor and start from
    ``visible_to``), so a view cannot forget the tenant scope."""
    offenders = []
    for path in [*python_files("views"), *python_files("apis"), *python_files("api")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr == "objects":
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


def test_no_float_near_money():
    offenders = []
    for path in ROOT.glob("*/**/*.py"):
        if ".venv" in path.parts or "tests" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "float":
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
            if isinstance(node, ast.Attribute) and node.attr == "FloatField":
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []
