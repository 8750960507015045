"""tools/mutants.py makes the one-line mutants it says, and never the cosmetic ones."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parents[1] / "tools" / "mutants.py"
SOURCE = '''
"""Docstring 1 + 1 is never mutated."""
from dataclasses import dataclass, field

@dataclass(frozen=True)
class R:
    x: int = field(default=0, repr=False)

def f(a: int = 1) -> bool:
    if a < 2 and not a:
        raise ValueError(f"bad {a + 1}")
    return min(a, 3) - 1 == a & 4

def g(b):
    return b + 1
'''


@pytest.fixture(scope="module")
def tool():
    spec = importlib.util.spec_from_file_location("mutants_tool", TOOL)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def test_sites_in_walk_order(tool):
    got = [(m.line, m.kind) for m in tool.enumerate_mutants(SOURCE)]
    assert got == [
        (7, "0->1"),  # field(default=0): repr=False is cosmetic, frozen=True a class decorator
        (9, "1->2"),  # a default value
        (10, "And->Or"), (10, "Lt->LtE"), (10, "2->3"), (10, "drop Not"),
        (12, "Eq->NotEq"), (12, "Sub->Add"), (12, "min->max"), (12, "3->4"), (12, "1->2"),
        (12, "BitAnd->BitOr"), (12, "drop right of &"), (12, "drop left of &"), (12, "4->5"),
        (15, "Add->Sub"), (15, "1->2"),
    ]
    assert [m.kind for m in tool.enumerate_mutants(SOURCE, {"g"})] == ["Add->Sub", "1->2"]


def test_each_mutant_changes_one_site(tool):
    ns: dict = {}
    code, m = tool.mutate(SOURCE, 3, None)
    assert m.kind == "Lt->LtE" and m.line == 10
    assert "if a <= 2 and (not a):" in code and code.count("<=") == 1
    code, m = tool.mutate(SOURCE, len(tool.enumerate_mutants(SOURCE)) - 2, None)
    assert m.kind == "Add->Sub"
    exec(compile(code, "<mutant>", "exec"), ns)
    assert ns["g"](5) == 4
    with pytest.raises(IndexError):
        tool.mutate(SOURCE, 99, None)


def test_every_listed_module_has_tests(tool):
    root = TOOL.parents[1]
    for module, tests in tool.TESTS.items():
        assert (root / module).is_file(), module
        assert all((root / t).is_file() for t in tests if t.startswith("tests/")), module
    for module, names in tool.FUNCTIONS.items():
        text = (root / module).read_text()
        assert all(f"def {n}(" in text for n in names), module
