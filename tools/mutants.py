"""One-line mutation testing of the modules whose numbers users publish (``make mutate``).

Each mutant changes one operator, comparison, boolean, condition or number of one module
(parsed with ``ast``), and that module's tests (``TESTS``) run against it with a time limit.
A mutant is *killed* when a test fails or the run times out, *survives* when they pass.
Survivors that cannot change any result are listed with why in ``tools/mutants_equivalent.txt``
and leave the score's denominator.

Why not mutmut or cosmic-ray: mutmut 3 copies ``src/`` to ``mutants/`` and names modules by
path (``models.evaluation``), while this project's package is ``privhealth`` mapped onto
``src/`` (``package-dir``) and installed editable, so the tests never import its copy ("could not
find any test case for any mutant", tried with mutmut 3.8.1). cosmic-ray rewrites the worktree's
files in place (other work on the same checkout sees the mutant) and makes every
operator-to-every-operator mutant, several times more than fit on 2 shared cores. Here each
mutant is written into a private copy of the package (``<tmp>/privhealth``) that goes first on
``PYTHONPATH``, so the checkout is never modified and a run can be stopped at any time.

    .venv/bin/python tools/mutants.py src/models/evaluation.py            # one module
    .venv/bin/python tools/mutants.py src/anon/loss.py --max 60 --seed 1  # a sample of 60
    .venv/bin/python tools/mutants.py src/anon/loss.py --list             # the mutants only
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
EQUIVALENT = REPO / "tools" / "mutants_equivalent.txt"
RESULTS = REPO / "reports" / "mutation"

# module -> the tests that pin its numbers (pytest arguments, run from the repository root)
TESTS: dict[str, list[str]] = {
    "src/anon/privacy.py": ["tests/test_privacy_exact.py", "tests/test_privacy_measure.py", "-k", "not pycanon"],
    "src/anon/diversity.py": ["tests/test_privacy_exact.py", "tests/test_privacy_measure.py", "-k", "not pycanon"],
    "src/anon/criteria.py": ["tests/test_privacy_measure.py", "tests/test_loss.py"],
    "src/anon/loss.py": ["tests/test_loss.py"],
    "src/anon/loss_metrics.py": ["tests/test_metric_objects.py", "tests/test_loss.py"],
    "src/anon/t_distances.py": ["tests/test_metric_objects.py", "tests/test_privacy_exact.py"],
    "src/anon/search.py": ["tests/test_search.py"],
    "src/anon/mondrian.py": ["tests/test_mondrian.py"],
    "src/anon/attacks/linkage.py": ["tests/test_linkage_exact.py", "tests/test_attacks_linkage.py"],
    "src/anon/attacks/risk.py": ["tests/test_attacks_risk.py"],
    "src/anon/attacks/leakage.py": ["tests/test_linkage_exact.py", "tests/test_attacks_linkage.py"],
    "src/models/evaluation.py": ["tests/test_bootstrap_interval.py", "tests/test_models_evaluation.py"],
    "src/experiments/tradeoff.py": ["tests/test_pareto_exact.py", "tests/test_tradeoff.py",
                                    "-k", "pareto or definitions or per_fold or by_hand"],
}
# Only these functions are mutated (the rest of the module is Optuna/MLflow plumbing).
FUNCTIONS: dict[str, set[str]] = {
    "src/experiments/tradeoff.py": {
        "utility_score", "risk_score", "attribute_risk", "combine_risk", "fold_utilities",
        "pareto_front", "lambda_table",
    },
}

BINOPS = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult,
          ast.FloorDiv: ast.Div, ast.Mod: ast.FloorDiv, ast.Pow: ast.Mult,
          ast.BitAnd: ast.BitOr, ast.BitOr: ast.BitAnd}
CMPOPS = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
          ast.NotEq: ast.Eq, ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is}
# keyword arguments that cannot change a result: zip(strict=) only raises on a length mismatch,
# dataclass field(repr=, compare=) only change printing and equality of reports
COSMETIC_KEYWORDS = {"strict", "repr", "compare"}
SWAP_CALLS = {"min": "max", "max": "min", "any": "all", "all": "any"}


@dataclass
class Mutant:
    """One mutation site: where (line, column), what it does, and its index in walk order."""

    index: int
    line: int
    col: int
    kind: str

    @property
    def key(self) -> str:
        return f"{self.line}:{self.col}:{self.kind}"


def _skipped(tree: ast.Module) -> set[int]:
    """Nodes never mutated: docstrings, annotations, f-strings, raise/assert messages, TYPE_CHECKING."""
    out: set[int] = set()

    def drop(n: ast.AST | None) -> None:
        if n is not None:
            out.update(id(x) for x in ast.walk(n))

    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            drop(body[0])
        if isinstance(node, ast.arg | ast.AnnAssign):
            drop(node.annotation)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            drop(node.returns)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            for d in node.decorator_list:
                drop(d)
        if isinstance(node, ast.keyword) and node.arg in COSMETIC_KEYWORDS:
            drop(node.value)
        if isinstance(node, ast.JoinedStr | ast.Raise):
            drop(node)
        if isinstance(node, ast.Assert):
            drop(node.msg)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            drop(node)
    return out


def _in_functions(tree: ast.Module, names: set[str] | None) -> set[int] | None:
    if names is None:
        return None
    keep: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name in names:
            keep.update(id(x) for x in ast.walk(node))
    return keep


def _sites(node: ast.AST) -> Iterator[tuple[str, ast.AST | None]]:
    """(description, replacement node) for each mutant of ``node``; None: replace in place."""
    if isinstance(node, ast.BinOp):
        new = BINOPS.get(type(node.op))
        if new:
            yield f"{type(node.op).__name__}->{new.__name__}", ast.BinOp(node.left, new(), node.right)
        if isinstance(node.op, ast.BitAnd):  # dropping one of two conditions of a mask
            yield "drop right of &", node.left
            yield "drop left of &", node.right
    elif isinstance(node, ast.Compare) and len(node.ops) == 1:
        new = CMPOPS.get(type(node.ops[0]))
        if new:
            yield f"{type(node.ops[0]).__name__}->{new.__name__}", ast.Compare(node.left, [new()], node.comparators)
    elif isinstance(node, ast.BoolOp):
        other = ast.Or if isinstance(node.op, ast.And) else ast.And
        yield f"{type(node.op).__name__}->{other.__name__}", ast.BoolOp(other(), node.values)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not | ast.USub | ast.Invert):
        yield f"drop {type(node.op).__name__}", node.operand
    elif isinstance(node, ast.Constant) and type(node.value) in (int, float, bool):
        v = node.value
        new_v = (not v) if isinstance(v, bool) else v + 1
        yield f"{v!r}->{new_v!r}", ast.Constant(new_v)
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in SWAP_CALLS:
        name = SWAP_CALLS[node.func.id]
        yield f"{node.func.id}->{name}", ast.Call(ast.Name(name, ast.Load()), node.args, node.keywords)
    elif isinstance(node, ast.AugAssign):
        new = BINOPS.get(type(node.op))
        if new and not isinstance(node.op, ast.BitAnd | ast.BitOr):
            yield f"{type(node.op).__name__}= ->{new.__name__}=", ast.AugAssign(node.target, new(), node.value)


class _Apply(ast.NodeTransformer):
    """Visits every mutation site in a fixed order; replaces the ``target``-th (None: lists them)."""

    def __init__(self, allowed: set[int] | None, skipped: set[int], target: int | None) -> None:
        self.allowed, self.skipped, self.target = allowed, skipped, target
        self.found: list[Mutant] = []

    def visit(self, node: ast.AST) -> ast.AST:
        ok = id(node) not in self.skipped and (self.allowed is None or id(node) in self.allowed)
        for kind, repl in (_sites(node) if ok else ()):
            m = Mutant(len(self.found), node.lineno, node.col_offset, kind)
            self.found.append(m)
            if m.index == self.target:
                return ast.copy_location(repl, node)
        return self.generic_visit(node)


def enumerate_mutants(source: str, functions: set[str] | None = None) -> list[Mutant]:
    tree = ast.parse(source)
    a = _Apply(_in_functions(tree, functions), _skipped(tree), None)
    a.visit(tree)
    return a.found


def mutate(source: str, index: int, functions: set[str] | None = None) -> tuple[str, Mutant]:
    tree = ast.parse(source)
    allowed, skipped = _in_functions(tree, functions), _skipped(tree)
    a = _Apply(allowed, skipped, index)
    new = a.visit(tree)
    if len(a.found) <= index:
        raise IndexError(index)
    return ast.unparse(ast.fix_missing_locations(new)), a.found[index]


def _equivalents(module: str) -> dict[str, str]:
    """``module:line:col:kind  # why`` lines of tools/mutants_equivalent.txt for this module."""
    out = {}
    if EQUIVALENT.exists():
        for raw in EQUIVALENT.read_text().splitlines():
            text, _, why = raw.partition("#")
            text = text.strip()
            if text.startswith(module + ":"):
                out[text[len(module) + 1:]] = why.strip()
    return out


def _run_tests(pkg_root: Path, tests: list[str], timeout: float) -> tuple[str, float]:
    env = {**os.environ, "PYTHONPATH": str(pkg_root), "PYTHONDONTWRITEBYTECODE": "1"}
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "--no-header", *tests]
    t0 = time.perf_counter()
    try:
        rc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, timeout=timeout).returncode
    except subprocess.TimeoutExpired:
        return "timeout", time.perf_counter() - t0
    status = {0: "survived", 1: "killed"}.get(rc, f"error rc={rc}")
    return status, time.perf_counter() - t0


def _copy_package(dst: Path) -> Path:
    pkg = dst / "privhealth"
    shutil.copytree(SRC, pkg, ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "PYTHONPATH": str(dst), "PYTHONDONTWRITEBYTECODE": "1"}
    where = subprocess.run([sys.executable, "-c", "import privhealth; print(privhealth.__file__)"],
                           env=env, capture_output=True, text=True, check=True).stdout.strip()
    if not where.startswith(str(dst)):
        raise SystemExit(f"the package copy is not what Python imports ({where}): PYTHONPATH order")
    return pkg


def run_module(module: str, args: argparse.Namespace) -> dict:
    path = REPO / module
    source = path.read_text()
    functions = FUNCTIONS.get(module)
    mutants = enumerate_mutants(source, functions)
    chosen = [m for m in mutants if m.key in args.only] if args.only else mutants
    if args.max and len(mutants) > args.max:
        chosen = sorted(random.Random(args.seed).sample(mutants, args.max), key=lambda m: m.index)
    tests = args.tests or TESTS.get(module)
    if not tests:
        raise SystemExit(f"no tests known for {module}: pass --tests")
    print(f"\n== {module}: {len(mutants)} mutants, running {len(chosen)} against {' '.join(tests)}", flush=True)
    if args.list:
        for m in chosen:
            print(f"  {m.line}:{m.col} {m.kind}")
        return {}
    equiv = _equivalents(module)
    rows = []
    with tempfile.TemporaryDirectory(prefix="mutants-") as tmp:
        pkg = _copy_package(Path(tmp))
        target = pkg / path.relative_to(SRC)
        status, base = _run_tests(Path(tmp), tests, args.baseline_timeout)
        if status != "survived":
            raise SystemExit(f"the unmutated tests do not pass ({status}): fix them first")
        limit = max(args.min_timeout, args.factor * base)
        print(f"   baseline {base:.1f} s; per-mutant limit {limit:.0f} s", flush=True)
        for m in chosen:
            code, _ = mutate(source, m.index, functions)
            target.write_text(code)
            status, secs = _run_tests(Path(tmp), tests, limit)
            if status == "survived" and m.key in equiv:
                status = "equivalent"
            rows.append({**asdict(m), "status": status, "seconds": round(secs, 1),
                         "why": equiv.get(m.key, "")})
            mark = {"killed": ".", "timeout": "T", "survived": "S", "equivalent": "E"}.get(status, "!")
            print(mark, end="", flush=True)
            if status in ("survived",) or status.startswith("error"):
                print(f"\n   {status}: {module}:{m.line}:{m.col}:{m.kind}", flush=True)
            if not args.only:  # recorded after every mutant: an interrupted run keeps what it did
                _summary(module, len(mutants), rows, tests, args, base)
        target.write_text(source)
    summary = _summary(module, len(mutants), rows, tests, args, base, record=not args.only)
    print(f"\n   {module}: {summary['killed'] + summary['timeout']}/{summary['considered']} killed "
          f"({100 * summary['score']:.1f} %), {summary['equivalent']} equivalent, {summary['errors']} errors",
          flush=True)
    return summary


def _summary(module: str, n_mutants: int, rows: list[dict], tests: list[str], args: argparse.Namespace,
             base: float, record: bool = True) -> dict:
    counts = {s: sum(r["status"] == s for r in rows) for s in ("killed", "timeout", "survived", "equivalent")}
    errors = sum(r["status"].startswith("error") for r in rows)
    considered = counts["killed"] + counts["timeout"] + counts["survived"]
    score = (counts["killed"] + counts["timeout"]) / considered if considered else float("nan")
    summary = {"module": module, "mutants": n_mutants, "run": len(rows), **counts, "errors": errors,
               "considered": considered, "score": round(score, 3), "tests": tests, "seed": args.seed,
               "max": args.max, "planned": args.max or n_mutants, "baseline_s": round(base, 1), "results": rows}
    if record:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / (module.replace("/", "_") + ".json")).write_text(json.dumps(summary, indent=1))
    return summary


def summarize(modules: list[str]) -> int:
    """Print the per-module table and survivors of the recorded runs."""
    rows = []
    for f in sorted(RESULTS.glob("*.json")):
        d = json.loads(f.read_text())
        if modules and d["module"] not in modules:
            continue
        equiv = _equivalents(d["module"])
        for r in d["results"]:
            key = f"{r['line']}:{r['col']}:{r['kind']}"
            if r["status"] == "survived" and key in equiv:
                r["status"], r["why"] = "equivalent", equiv[key]
        n = {s: sum(r["status"] == s for r in d["results"]) for s in ("killed", "timeout", "survived", "equivalent")}
        considered = n["killed"] + n["timeout"] + n["survived"]
        score = (n["killed"] + n["timeout"]) / considered if considered else float("nan")
        rows.append((d, n, score))
    print("| module | mutants | run/planned (seed) | killed (timeouts) | survived | equivalent | score |")
    print("|---|---|---|---|---|---|---|")
    for d, n, score in rows:
        print(f"| {d['module']} | {d['mutants']} | {d['run']}/{d.get('planned', d['run'])} ({d['seed']}) | {n['killed'] + n['timeout']} "
              f"({n['timeout']}) | {n['survived']} | {n['equivalent']} | {100 * score:.1f} % |")
    for d, _, _ in rows:
        for r in d["results"]:
            if r["status"] in ("survived", "equivalent"):
                print(f"- {d['module']}:{r['line']}:{r['col']} {r['kind']}: {r['status']} {r.get('why', '')}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("modules", nargs="*", help=f"default: all of {', '.join(TESTS)}")
    ap.add_argument("--tests", nargs="+", help="pytest arguments instead of the module's own tests")
    ap.add_argument("--max", type=int, default=0, help="run a random sample of at most this many")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--factor", type=float, default=3.0, help="per-mutant limit = factor × baseline")
    ap.add_argument("--min-timeout", type=float, default=20.0)
    ap.add_argument("--baseline-timeout", type=float, default=600.0)
    ap.add_argument("--only", nargs="+", metavar="LINE:COL:KIND", help="just these mutants (e.g. a survivor)")
    ap.add_argument("--list", action="store_true", help="print the mutants, run nothing")
    ap.add_argument("--summary", action="store_true",
                    help="the table of the last recorded runs (reports/mutation/*.json), equivalents re-read")
    args = ap.parse_args(argv)
    if args.summary:
        return summarize(args.modules)
    modules = args.modules or list(TESTS)
    unknown = [m for m in modules if not (REPO / m).is_file()]
    if unknown:
        raise SystemExit(f"no such module file: {unknown}")
    table = [run_module(m, args) for m in modules]
    table = [t for t in table if t]
    if table:
        print("\n| module | mutants | run | killed | survived | equivalent | score |")
        print("|---|---|---|---|---|---|---|")
        for t in table:
            print(f"| {t['module']} | {t['mutants']} | {t['run']} | {t['killed'] + t['timeout']} | "
                  f"{t['survived']} | {t['equivalent']} | {100 * t['score']:.1f} % |")
    return 1 if any(t["survived"] for t in table) else 0


if __name__ == "__main__":
    raise SystemExit(main())
