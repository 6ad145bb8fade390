"""A readable grammar format -> G (an acceptor of word ids), for ``speechseq mkgraph --grammar``.

One rule per line, ``<name> = expansion``; ``#`` starts a comment. The sentence is rule
``<main>`` (else the first rule). An expansion is built of:

- words (``one``), rule references (``<digit>``, defined anywhere in the file, not recursive);
- sequences (``a b c``) and alternatives (``a | b``), grouping with ``( ... )``;
- optional items ``[ ... ]`` or ``x?``; repetition ``x*`` (zero or more), ``x+`` (one or more),
  ``x{4}`` (exactly 4), ``x{2,4}`` (2 to 4).

Example, exactly four digits::

    <digit> = zero | one | two | three | four | five | six | seven | eight | nine | oh
    <main> = <digit>{4}

Every path has cost 0 (a uniform grammar); a line that does not parse is an error naming
``file:line``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import kaldifst

from speechseq.errors import SpeechseqError
from speechseq.hybrid.lang import Lang

_TOKEN = re.compile(r"\s*(<[^<>\s]+>|\{\d+(?:,\d+)?\}|[()\[\]|*+?]|[^\s()\[\]|*+?{}<>]+)")
MAX_REPEAT = 50  # x{m,n} with n above this is refused (the graph grows with n)


@dataclass
class Node:
    kind: str  # word | ref | seq | alt | repeat
    value: object = (
        None  # word / rule name, children, or (child, lo, hi) for repeat (hi None: unbounded)
    )
    line: int = 0


class _Parser:
    def __init__(self, text: str, where: str, line: int):
        self.where, self.line = where, line
        self.toks: list[str] = []
        pos = 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            m = _TOKEN.match(text, pos)
            if not m:
                self.fail(f"cannot read '{text[pos:].strip()[:20]}'")
            self.toks.append(m.group(1))
            pos = m.end()
        self.i = 0

    def fail(self, what: str):
        raise SpeechseqError(
            f"{self.where}:{self.line}: {what} — a rule is '<name> = words, <rules>, ( | ), [ ], * + ? {{n}} {{m,n}}' "
            f"(see speechseq mkgraph --help)"
        )

    def peek(self) -> str | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> str:
        t = self.peek()
        self.i += 1
        return t

    def parse(self) -> Node:
        node = self.alt()
        if self.peek() is not None:
            self.fail(f"unexpected '{self.peek()}'")
        return node

    def alt(self) -> Node:
        items = [self.seq()]
        while self.peek() == "|":
            self.take()
            items.append(self.seq())
        return items[0] if len(items) == 1 else Node("alt", items, self.line)

    def seq(self) -> Node:
        items = []
        while self.peek() not in (None, "|", ")", "]"):
            items.append(self.postfix())
        if not items:
            self.fail("an empty alternative")
        return items[0] if len(items) == 1 else Node("seq", items, self.line)

    def postfix(self) -> Node:
        node = self.atom()
        while self.peek() is not None and (self.peek() in "*+?" or self.peek().startswith("{")):
            t = self.take()
            if t == "*":
                node = Node("repeat", (node, 0, None), self.line)
            elif t == "+":
                node = Node("repeat", (node, 1, None), self.line)
            elif t == "?":
                node = Node("repeat", (node, 0, 1), self.line)
            else:
                nums = [int(x) for x in t[1:-1].split(",")]
                lo, hi = nums[0], nums[-1]
                if hi < lo or hi < 1 or hi > MAX_REPEAT:
                    self.fail(f"repetition {t}: needs 0 <= m <= n, 1 <= n <= {MAX_REPEAT}")
                node = Node("repeat", (node, lo, hi), self.line)
        return node

    def atom(self) -> Node:
        t = self.take()
        if t is None:
            self.fail("the rule ends too early")
        if t == "(":
            node = self.alt()
            if self.take() != ")":
                self.fail("missing ')'")
            return node
        if t == "[":
            node = self.alt()
            if self.take() != "]":
                self.fail("missing ']'")
            return Node("repeat", (node, 0, 1), self.line)
        if t.startswith("<"):
            return Node("ref", t, self.line)
        if t in (")", "]", "|", "*", "+", "?") or t.startswith("{"):
            self.fail(f"unexpected '{t}'")
        return Node("word", t, self.line)


def parse_grammar(path: Path) -> tuple[str, dict[str, Node]]:
    """``(top rule name, {name: expansion})``; a bad line is an error naming ``file:line``."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise SpeechseqError(f"{path}: grammar file not found — check the path") from None
    rules: dict[str, Node] = {}
    order: list[str] = []
    for n, raw in enumerate(lines, start=1):
        text = raw.split("#", 1)[0].strip()
        if not text:
            continue
        m = re.fullmatch(r"(<[^<>\s]+>)\s*=\s*(.*)", text)
        if not m:
            raise SpeechseqError(
                f"{path}:{n}: a rule is '<name> = expansion', got '{text[:40]}' — "
                f"name the rule in angle brackets, then '='"
            )
        name = m.group(1)
        if name in rules:
            raise SpeechseqError(f"{path}:{n}: rule {name} is defined twice — keep one")
        rules[name] = _Parser(m.group(2), str(path), n).parse()
        order.append(name)
    if not rules:
        raise SpeechseqError(f"{path}: the grammar has no rules — add e.g. '<main> = yes | no'")
    return ("<main>" if "<main>" in rules else order[0]), rules


def grammar_fst(path: Path, lang: Lang) -> kaldifst.StdVectorFst:
    """G of the grammar in ``path`` over ``lang``'s words (epsilons removed, determinized, minimized)."""
    top, rules = parse_grammar(path)
    fst = kaldifst.StdVectorFst()

    def build(node: Node, stack: tuple[str, ...]) -> tuple[int, int]:
        s, e = fst.add_state(), fst.add_state()
        if node.kind == "word":
            w = lang.words.get(node.value)
            if w is None or node.value.startswith(("#", "<")):
                raise SpeechseqError(
                    f"{path}:{node.line}: word '{node.value}' is not in {lang.path}/words.txt — "
                    f"add it to the lexicon and rerun prepare-lang, or fix the spelling"
                )
            fst.add_arc(s, kaldifst.StdArc(w, w, 0.0, e))
        elif node.kind == "ref":
            if node.value not in rules:
                raise SpeechseqError(
                    f"{path}:{node.line}: rule {node.value} is not defined — define it or fix the name"
                )
            if node.value in stack:
                raise SpeechseqError(
                    f"{path}:{node.line}: rule {node.value} refers to itself — use * or + for repetition"
                )
            a, b = build(rules[node.value], stack + (node.value,))
            _eps(fst, s, a)
            _eps(fst, b, e)
        elif node.kind == "seq":
            cur = s
            for child in node.value:
                a, b = build(child, stack)
                _eps(fst, cur, a)
                cur = b
            _eps(fst, cur, e)
        elif node.kind == "alt":
            for child in node.value:
                a, b = build(child, stack)
                _eps(fst, s, a)
                _eps(fst, b, e)
        else:  # repeat
            child, lo, hi = node.value
            cur = s
            for k in range(hi if hi is not None else max(lo, 1)):
                a, b = build(child, stack)
                _eps(fst, cur, a)
                if k >= lo:
                    _eps(fst, cur, e)
                cur = b
            if hi is None:
                _eps(fst, cur, a)  # loop back over the last copy
            _eps(fst, cur, e)
        return s, e

    start, end = build(rules[top], (top,))
    fst.start = start
    fst.set_final(end, 0.0)
    kaldifst.rmepsilon(fst)
    det = kaldifst.determinize(fst)
    kaldifst.minimize(det)
    kaldifst.arcsort(det, sort_type="ilabel")
    return det


def _eps(fst: kaldifst.StdVectorFst, a: int, b: int) -> None:
    fst.add_arc(a, kaldifst.StdArc(0, 0, 0.0, b))
