"""Every import arrow in speechseq/ points down the package layers, and none hides in a function.

Every module under speechseq/ is parsed with ``ast``: ``import x`` and ``from x import y``,
relative ones resolved, at module level and inside functions alike. From that the tests build
the package-level and module-level import graphs and check:

(a) no cycle between packages;
(b) no import from a package to one in a higher layer, or beside it in the same layer;
(c) no cycle between the modules of one package;
(d) no function-local import of a speechseq module, unless a comment containing "deferred"
    on its line (or on the comment lines just above it, or above the run of imports it opens)
    says why, e.g. ``# deferred: the CTC task imports torch, which is slow to import``.
    Function-local imports of third-party libraries are not checked.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import speechseq

PACKAGE_DIR = Path(speechseq.__file__).parent
ROOT = PACKAGE_DIR.parent

# The layers of speechseq, top to bottom (DESIGN.md, "Package layout"). A module may import
# its own package and any package in a LOWER layer: never one in a higher layer, and never
# one beside it in the same layer (tasks never import each other) unless the pair is listed
# in SAME_LAYER_ALLOWED. A "package" is a subpackage (speechseq/data/) or a top-level module
# (speechseq/errors.py); "speechseq" is speechseq/__init__.py itself.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("cli",),  # the Typer commands: parse, call the library, render
    ("std",),  # spoken-term detection; uses the embedder
    ("embed", "asr", "hybrid", "st"),  # the tasks
    ("decode",),  # decoding strategies; decode/run.py loads models through core.loading
    ("core",),  # task contract, encoders, batching, the Trainer, checkpoints, loading
    ("features", "text", "lm", "metrics", "synth"),  # front end, vocabularies, LMs, scores, corpora
    ("data",),  # Kaldi data dirs, audio I/O, signal perturbation
    ("ranges",),  # the ranges and choices config fields declare, checked in one place
    ("errors", "fileio", "parallel", "progress", "speechseq"),  # the bottom
)
SAME_LAYER_ALLOWED: frozenset[tuple[str, str]] = frozenset()  # (importer, imported) packages

LAYER_OF = {pkg: k for k, layer in enumerate(LAYERS, start=1) for pkg in layer}


@dataclass(frozen=True)
class Import:
    """One imported speechseq module, as written at one place of one module."""

    importer: str  # module that imports, e.g. "speechseq.std.plot"
    target: str  # speechseq module imported, e.g. "speechseq.data.kaldi_dir"
    path: str  # the importer's file, relative to the repository root
    lineno: int
    text: str  # the import statement as written
    local: bool  # inside a function (or class) body rather than at module level
    reason: str = ""  # the "deferred" comment that goes with a local import, if any

    @property
    def where(self) -> str:
        return f"{self.path}:{self.lineno}: `{self.text}`"


def package_of(module: str) -> str:
    """``speechseq.data.audio`` -> ``data``; ``speechseq.errors`` -> ``errors``; ``speechseq``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


@cache
def modules() -> dict[str, Path]:
    """Every module of speechseq by dotted name, packages by their ``__init__.py``."""
    out = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _resolve(name: str, known: dict[str, Path]) -> str:
    """The module a dotted name stands for: itself, else its longest known prefix."""
    while name not in known and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def _is_speechseq(name: str) -> bool:
    return name == "speechseq" or name.startswith("speechseq.")


def _reason(lines: list[str], node: ast.stmt, run_start: int) -> str:
    """The comment that says why a local import is deferred: on the import's own lines, or the
    comment lines just above it or above the run of imports it belongs to (1-based lines)."""
    own = lines[node.lineno - 1 : node.end_lineno]
    for line in own:
        if "#" in line and "deferred" in line.split("#", 1)[1]:
            return line.split("#", 1)[1].strip()
    k = run_start - 1
    while k >= 1 and lines[k - 1].strip().startswith("#"):
        if "deferred" in lines[k - 1]:
            return lines[k - 1].strip()
        k -= 1
    return ""


def parse_imports(module: str, source: str, path: str, known: dict[str, Path]) -> list[Import]:
    """Every speechseq module that ``source`` imports, at module level or inside a function."""
    is_package = path.endswith("__init__.py")
    package = module if is_package else module.rsplit(".", 1)[0]
    lines = source.splitlines()
    found: list[Import] = []

    def targets(node: ast.Import | ast.ImportFrom) -> list[str]:
        if isinstance(node, ast.Import):
            return [_resolve(a.name, known) for a in node.names]
        base = node.module or ""
        if node.level:  # relative: "from . import x", "from ..core import y"
            parts = package.split(".")
            parts = parts[: len(parts) - (node.level - 1)]
            base = ".".join([*parts, base] if base else parts)
        # "from pkg import sub" imports the submodule pkg.sub; "from mod import name" imports mod
        return [
            f"{base}.{a.name}" if f"{base}.{a.name}" in known else _resolve(base, known)
            for a in node.names
        ]

    def visit(body: list[ast.stmt], local: bool) -> None:
        run_start = None  # first line of the run of import statements the current one is in
        for node in body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                run_start = node.lineno if run_start is None else run_start
                text = " ".join(s.strip() for s in lines[node.lineno - 1 : node.end_lineno])
                text = text.split("#", 1)[0].strip()
                reason = _reason(lines, node, run_start) if local else ""
                for target in dict.fromkeys(targets(node)):
                    if _is_speechseq(target):
                        found.append(Import(module, target, path, node.lineno, text, local, reason))
                continue
            run_start = None
            inner = isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            for field in ("body", "orelse", "finalbody", "handlers", "cases"):
                block = getattr(node, field, None) or []
                if all(isinstance(child, ast.stmt) for child in block):
                    visit(block, local or inner)
                else:  # except handlers, match cases: each holds a block of statements
                    for child in block:
                        visit(child.body, local or inner)

    visit(ast.parse(source, filename=path).body, local=False)
    return found


@cache
def all_imports() -> tuple[Import, ...]:
    known = modules()
    out = []
    for name, path in known.items():
        rel = str(path.relative_to(ROOT))
        out += parse_imports(name, path.read_text(encoding="utf-8"), rel, known)
    return tuple(out)


# ---- the rules, as functions of a list of imports (so they can be tested on made-up ones) ----


def layer_violations(imports) -> list[str]:
    """(b): imports of a package in a higher layer, or beside the importer in its layer."""
    bad = []
    for imp in imports:
        src, dst = package_of(imp.importer), package_of(imp.target)
        if src == dst:
            continue
        for pkg in (src, dst):
            if pkg not in LAYER_OF:
                bad.append(f"{imp.where}: package '{pkg}' has no layer — add it to LAYERS")
        if src not in LAYER_OF or dst not in LAYER_OF:
            continue
        a, b = LAYER_OF[src], LAYER_OF[dst]
        if a > b:
            bad.append(
                f"{imp.where}: {src} (layer {a}) imports {dst} (layer {b}), a HIGHER layer — "
                f"move the shared code down, or pass it in from above"
            )
        elif a == b and (src, dst) not in SAME_LAYER_ALLOWED:
            bad.append(
                f"{imp.where}: {src} imports {dst}, beside it in layer {a} — "
                f"move the shared code down a layer"
            )
    return bad


def _cycles(edges: dict[str, dict[str, Import]]) -> list[list[str]]:
    """One cycle (a node list, first == last) per strongly connected component of a graph."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def strongconnect(v: str) -> None:  # Tarjan
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, {})):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                components.append(comp)

    nodes = sorted(set(edges) | {w for ws in edges.values() for w in ws})
    for v in nodes:
        if v not in index:
            strongconnect(v)

    cycles = []
    for comp in components:  # shortest way back to the start, inside the component
        start = min(comp)
        prev: dict[str, str] = {}
        frontier = [start]
        while frontier and start not in prev:
            nxt = []
            for v in frontier:
                for w in sorted(edges.get(v, {})):
                    if w in comp and w not in prev:
                        prev[w] = v
                        nxt.append(w)
            frontier = nxt
        path = [start]
        v = prev[start]
        while v != start:
            path.append(v)
            v = prev[v]
        path.append(start)
        cycles.append(path[::-1])
    return sorted(cycles)


def _describe(cycle: list[str], edges: dict[str, dict[str, Import]]) -> str:
    steps = [
        f"    {a} -> {b}  ({edges[a][b].where})" for a, b in zip(cycle[:-1], cycle[1:], strict=True)
    ]
    return " -> ".join(cycle) + "\n" + "\n".join(steps)


def package_cycles(imports) -> list[str]:
    """(a): cycles in the graph of packages, each edge named by one import that makes it."""
    edges: dict[str, dict[str, Import]] = defaultdict(dict)
    for imp in imports:
        src, dst = package_of(imp.importer), package_of(imp.target)
        if src != dst:
            edges[src].setdefault(dst, imp)
    return [_describe(c, edges) for c in _cycles(edges)]


def module_cycles(imports) -> list[str]:
    """(c): cycles between modules of one package, each edge named by one import."""
    edges: dict[str, dict[str, Import]] = defaultdict(dict)
    for imp in imports:
        if imp.importer != imp.target and package_of(imp.importer) == package_of(imp.target):
            edges[imp.importer].setdefault(imp.target, imp)
    return [_describe(c, edges) for c in _cycles(edges)]


def undeclared_local_imports(imports) -> list[str]:
    """(d): function-local imports of speechseq modules without a "deferred" comment."""
    return [
        f"{imp.where}: a function-local import of {imp.target} — move it to the top of the "
        f"module, or, if it only defers a slow import (torch, scipy, matplotlib ...), say so "
        f"in a '# deferred: ...' comment on or above it"
        for imp in imports
        if imp.local and not imp.reason
    ]


# ---- the checks on speechseq itself ----


def _fail(problems: list[str], what: str) -> str:
    return f"{len(problems)} {what}:\n" + "\n".join(problems)


def test_every_package_has_exactly_one_layer():
    found = {package_of(m) for m in modules()}
    listed = [pkg for layer in LAYERS for pkg in layer]
    assert len(listed) == len(set(listed)), f"a package is listed twice in LAYERS: {listed}"
    assert not found - set(listed), (
        f"packages with no layer (add them to LAYERS): {found - set(listed)}"
    )
    assert not set(listed) - found, (
        f"LAYERS names packages that do not exist: {set(listed) - found}"
    )


def test_no_import_points_up_or_sideways():
    problems = layer_violations(all_imports())
    assert not problems, _fail(problems, "imports break the layer order (LAYERS, top to bottom)")


def test_no_cycle_between_packages():
    problems = package_cycles(all_imports())
    assert not problems, _fail(problems, "import cycles between packages")


def test_no_cycle_between_modules_of_a_package():
    problems = module_cycles(all_imports())
    assert not problems, _fail(problems, "import cycles between modules of one package")


def test_function_local_imports_of_speechseq_say_why_they_are_deferred():
    problems = undeclared_local_imports(all_imports())
    assert not problems, _fail(problems, "undeclared function-local imports")


def test_the_parser_sees_module_level_and_function_level_imports():
    """Guards the checks above against passing because the parser saw nothing."""
    imports = all_imports()
    edges = {(package_of(i.importer), package_of(i.target), i.local) for i in imports}
    assert ("std", "embed", False) in edges  # std/qbe.py: from speechseq.embed.inference import
    assert ("cli", "asr", True) in edges  # cli/asr.py: deferred import of the CTC task
    assert ("decode", "core", False) in edges  # decode/run.py: core.loading
    # "from speechseq.data import signal" is an import of the submodule, not of the package
    assert any(i.target == "speechseq.data.signal" and i.local for i in imports)


# ---- the rules catch what they should (made-up modules) ----


def _parse(module: str, source: str, *others: str) -> list[Import]:
    """Imports of a made-up ``module``; ``others``: more made-up modules it may import."""
    known = {**modules(), **{m: Path("x") for m in (module, *others)}}
    path = module.replace(".", "/") + ".py"
    return parse_imports(module, source, path, known)


def test_an_upward_import_is_named_with_its_file_and_line():
    imports = _parse("speechseq.data.fake", "import os\n\nfrom speechseq.core import trainer\n")
    (problem,) = layer_violations(imports)
    assert problem.startswith("speechseq/data/fake.py:3: `from speechseq.core import trainer`")
    assert "data (layer 7) imports core (layer 5), a HIGHER layer" in problem


def test_tasks_must_not_import_each_other():
    (problem,) = layer_violations(_parse("speechseq.asr.fake", "import speechseq.embed.model\n"))
    assert "asr imports embed, beside it in layer 3" in problem


def test_relative_imports_are_resolved():
    imports = _parse("speechseq.text.fake", "from ..lm import ngram\nfrom . import vocab\n")
    assert [i.target for i in imports] == ["speechseq.lm.ngram", "speechseq.text.vocab"]
    assert "text imports lm, beside it in layer 6" in layer_violations(imports)[0]


def test_a_local_import_needs_a_deferred_comment_on_or_above_it():
    source = (
        "def f():\n"
        "    from speechseq.data.audio import read_audio\n"
        "\n"
        "def g():\n"
        "    # deferred: the task imports torch, which is slow to import\n"
        "    from speechseq.asr.ctc import CTCConfig\n"
        "    from speechseq.asr.training import train_ctc\n"
        "    import torch\n"
        "\n"
        "def h():\n"
        "    from speechseq.core import trainer  # deferred, as above\n"
    )
    imports = _parse("speechseq.cli.fake", source)
    assert [i.local for i in imports] == [True, True, True, True]
    (problem,) = undeclared_local_imports(imports)
    assert problem.startswith(
        "speechseq/cli/fake.py:2: `from speechseq.data.audio import read_audio`"
    )


def test_cycles_are_reported_with_the_imports_that_make_them():
    imports = [
        *_parse("speechseq.core.a", "from speechseq.core import b\n", "speechseq.core.b"),
        *_parse(
            "speechseq.core.b",
            "import os\ndef f():\n    import speechseq.core.a\n",
            "speechseq.core.a",
        ),
    ]
    (cycle,) = module_cycles(imports)
    assert cycle.startswith("speechseq.core.a -> speechseq.core.b -> speechseq.core.a")
    assert "speechseq/core/b.py:3: `import speechseq.core.a`" in cycle
    pkg = [
        *_parse("speechseq.lm.x", "import speechseq.text.y\n", "speechseq.text.y"),
        *_parse("speechseq.text.y", "import speechseq.lm.x\n", "speechseq.lm.x"),
    ]
    (cycle,) = package_cycles(pkg)
    assert cycle.startswith("lm -> text -> lm")
