"""Import cycles between privhealth modules (every import, TYPE_CHECKING and function-local ones included).

Usage: python tools/import_cycles.py [REPO] [DEPTH]; DEPTH 3 collapses to modules/packages such as
privhealth.anon.attacks. Prints each cycle and the count (issue 17).
"""
import ast
import pathlib
import sys

import networkx as nx

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".") / "src"
g = nx.DiGraph()
mods = {}
for p in root.rglob("*.py"):
    rel = p.relative_to(root).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    mods["privhealth" + "".join("." + x for x in parts)] = p
for m, p in mods.items():
    g.add_node(m)
    for node in ast.walk(ast.parse(p.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("privhealth"):
            subs = [f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in mods]
            targets = subs or [node.module]
        elif isinstance(node, ast.Import):
            targets = [a.name for a in node.names if a.name.startswith("privhealth")]
        else:
            continue
        for t in targets:
            if t in mods and t != m:
                g.add_edge(m, t)
level = int(sys.argv[2]) if len(sys.argv) > 2 else 0
if level:  # collapse to packages/modules at this depth
    h = nx.DiGraph()
    for a, b in g.edges:
        a2, b2 = ".".join(a.split(".")[:level]), ".".join(b.split(".")[:level])
        if a2 != b2:
            h.add_edge(a2, b2)
    g = h
cyc = list(nx.simple_cycles(g))
for c in sorted(cyc, key=len)[:40]:
    print(" -> ".join([*c, c[0]]))
print(len(cyc), "cycles")
