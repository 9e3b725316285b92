"""``core`` is what every door shares: it must not depend on any feature app (the apps plug into
it through ``core.signals`` and ``core.media.register_media_guard``), and its pure modules must
not need Django at all."""
import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.nodb
CORE = Path(__file__).resolve().parent.parent
PROJECT_APPS = ("accounts", "motifs", "inference", "compat", "cualify", "stylegan2_ada")
PURE = ("limits.py", "imaging.py")


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def sources():
    return [p for p in CORE.rglob("*.py") if "tests" not in p.relative_to(CORE).parts]


def test_core_imports_no_other_project_app():
    offenders = {str(path.relative_to(CORE)): sorted(m for m in imported_modules(path) if m.split(".")[0] in PROJECT_APPS)
                 for path in sources()}
    assert not {k: v for k, v in offenders.items() if v}


def test_the_limits_and_the_intake_rules_need_no_django():
    for name in PURE:
        modules = imported_modules(CORE / name)
        assert not [m for m in modules if m.split(".")[0] in ("django", "torch", "rest_framework")], name
