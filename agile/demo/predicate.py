"""A small, safe language for ground-truth predicates over scene attributes.

Parsed by hand (no ``eval``) into a tree that is evaluated column-wise over a
whole ``SceneTable`` at once, so labelling 200,000 scenes takes milliseconds.

    expr  := term ("or" term)*          term := factor ("and" factor)*
    factor:= "not" factor | "(" expr ")" | test
    test  := NUMERIC op NUMBER | FIELD op VALUE | FIELD ["not"] "in" "[" VALUE ("," VALUE)* "]"
           | ("any" | "all" | "none") "(" objexpr ")"
    NUMERIC := "count" | "count" "(" objexpr ")" | "distinct" "(" OBJFIELD ")"

Scene fields: ``background``, ``bg_color``; ``count`` is the number of
objects. Inside ``any/all/none/count(...)`` the fields are the object's
``shape``, ``color``, ``size``, ``pattern`` and its centre ``x``, ``y`` (0..1),
combined with the same and/or/not. ``all`` over a scene's objects is true
only if the scene has objects. Names are checked against the vocabulary, so a
typo is an error naming its position, not a silently empty concept.

Examples: ``count == 1 and any(shape == star) and background == white``;
``all(color in [red, orange, yellow, pink])``; ``count(shape == circle) >= 2``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from agile.demo.attributes import BACKGROUND_COLORS, BACKGROUNDS, COLOR_NAMES, PATTERNS, SHAPES, SIZES
from agile.demo.table import SceneTable
from agile.errors import AgileError

SCENE_FIELDS = {"background": BACKGROUNDS, "bg_color": ("",) + BACKGROUND_COLORS}
OBJECT_FIELDS = {"shape": SHAPES, "color": COLOR_NAMES, "size": SIZES, "pattern": PATTERNS}
OBJECT_NUMERIC = ("x", "y")
OPS = ("==", "!=", "<=", ">=", "<", ">")
_TOKEN = re.compile(r"\s*(?:(?P<num>\d+(?:\.\d+)?)|(?P<name>[A-Za-z_][A-Za-z_0-9]*)|(?P<op>==|!=|<=|>=|<|>)|(?P<punct>[()\[\],]))")


class PredicateError(AgileError):
    """A predicate does not parse or names an unknown field or value."""


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    pos: int


def tokenize(source: str) -> list[Token]:
    tokens, pos = [], 0
    while pos < len(source):
        if source[pos:].strip() == "":
            break
        m = _TOKEN.match(source, pos)
        if m is None:
            raise PredicateError(f"unexpected character at position {pos}: {source[pos:pos + 10]!r} in {source!r}")
        kind = m.lastgroup
        tokens.append(Token(kind, m.group(kind), m.start(kind)))
        pos = m.end()
    return tokens


# --- the tree: each node evaluates to a boolean (or numeric) array over scenes or objects ---

@dataclass(frozen=True)
class Compare:  # field op literal, on scenes or objects
    field: str
    op: str
    value: object


@dataclass(frozen=True)
class Member:
    field: str
    values: tuple[str, ...]
    negate: bool


@dataclass(frozen=True)
class BoolOp:
    op: str  # "and" | "or"
    items: tuple


@dataclass(frozen=True)
class Not:
    item: object


@dataclass(frozen=True)
class Quantifier:  # any / all / none over a scene's objects
    kind: str
    item: object


@dataclass(frozen=True)
class NumericTest:  # count / count(objexpr) / distinct(field), compared to a number
    kind: str
    arg: object
    op: str
    value: float


class _Parser:
    def __init__(self, source: str):
        self.source, self.tokens, self.i = source, tokenize(source), 0

    def error(self, message: str) -> PredicateError:
        pos = self.tokens[self.i].pos if self.i < len(self.tokens) else len(self.source)
        return PredicateError(f"{message} at position {pos} in {self.source!r}")

    def peek(self) -> str | None:
        return self.tokens[self.i].text if self.i < len(self.tokens) else None

    def take(self, expected: str | None = None, what: str = "more") -> Token:
        if self.i >= len(self.tokens):
            raise self.error(f"expected {repr(expected) if expected else what} but the predicate ended")
        tok = self.tokens[self.i]
        if expected is not None and tok.text != expected:
            raise self.error(f"expected {expected!r}, found {tok.text!r}")
        self.i += 1
        return tok

    def parse(self):
        if not self.tokens:
            raise PredicateError("empty predicate")
        node = self.expr(scope="scene")
        if self.i != len(self.tokens):
            raise self.error(f"unexpected {self.peek()!r}")
        return node

    def expr(self, scope: str):
        return self.chain("or", self.term, scope)

    def term(self, scope: str):
        return self.chain("and", self.factor, scope)

    def chain(self, word: str, item, scope: str):
        """``item (word item)*`` as one BoolOp (or the single item)."""
        items = [item(scope)]
        while self.peek() == word:
            self.take()
            items.append(item(scope))
        return items[0] if len(items) == 1 else BoolOp(word, tuple(items))

    def factor(self, scope: str):
        word = self.peek()
        if word == "not":
            self.take()
            return Not(self.factor(scope))
        if word == "(":
            self.take()
            node = self.expr(scope)
            self.take(")")
            return node
        if word in ("any", "all", "none"):
            if scope != "scene":
                raise self.error(f"{word}(...) cannot be nested")
            self.take()
            self.take("(")
            node = self.expr("object")
            self.take(")")
            return Quantifier(word, node)
        if word in ("count", "distinct") and scope == "scene":
            return self.numeric()
        return self.test(scope)

    def numeric(self) -> NumericTest:
        kind = self.take().text
        arg = None
        if kind == "distinct" or self.peek() == "(":
            self.take("(")
            if kind == "distinct":
                arg = self.take().text
                if arg not in OBJECT_FIELDS:
                    raise self.error(f"distinct() takes one of {sorted(OBJECT_FIELDS)}, not {arg!r}")
            else:
                arg = self.expr("object")
            self.take(")")
        op, value = self.comparison()
        return NumericTest(kind, arg, op, value)

    def comparison(self) -> tuple[str, float]:
        op = self.take(what="a comparison operator").text
        if op not in OPS:
            raise self.error(f"expected a comparison operator, found {op!r}")
        tok = self.take(what="a number")
        if tok.kind != "num":
            raise self.error(f"expected a number, found {tok.text!r}")
        return op, float(tok.text)

    def test(self, scope: str):
        fields = SCENE_FIELDS if scope == "scene" else OBJECT_FIELDS
        tok = self.take()
        name = tok.text
        if scope == "object" and name in OBJECT_NUMERIC:
            op, value = self.comparison()
            return Compare(name, op, value)
        if name not in fields:
            self.i -= 1
            raise self.error(f"unknown {scope} field {name!r} (known: {', '.join(sorted(fields))})")
        negate = self.peek() == "not"
        if negate:
            self.take()
        if self.peek() == "in":
            self.take()
            return Member(name, self.value_list(name, fields[name]), negate)
        if negate:
            raise self.error("expected 'in' after 'not'")
        op = self.take().text
        if op not in ("==", "!="):
            raise self.error(f"{name} can only be compared with ==, != or in, not {op!r}")
        return Compare(name, op, self.value(name, fields[name]))

    def value(self, field: str, allowed: tuple[str, ...]) -> str:
        tok = self.take()
        if tok.text not in allowed:
            self.i -= 1
            raise self.error(f"unknown {field} {tok.text!r} (known: {', '.join(a for a in allowed if a)})")
        return tok.text

    def value_list(self, field: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
        self.take("[")
        values = [self.value(field, allowed)]
        while self.peek() == ",":
            self.take()
            values.append(self.value(field, allowed))
        self.take("]")
        return tuple(values)


def parse(source: str):
    """The predicate's tree; raises ``PredicateError`` naming the position of a mistake."""
    return _Parser(source).parse()


# --- evaluation over a SceneTable ---

_NUMERIC_OPS = {"==": np.equal, "!=": np.not_equal, "<": np.less, "<=": np.less_equal,
                ">": np.greater, ">=": np.greater_equal}


def _eval(node, table: SceneTable, scope: str) -> np.ndarray:
    if isinstance(node, BoolOp):
        parts = [_eval(item, table, scope) for item in node.items]
        return np.logical_and.reduce(parts) if node.op == "and" else np.logical_or.reduce(parts)
    if isinstance(node, Not):
        return ~_eval(node.item, table, scope)
    if isinstance(node, Compare):
        if node.field in OBJECT_NUMERIC:
            return _NUMERIC_OPS[node.op](table.numeric(node.field), node.value)
        mask = table.category(node.field).equals(node.value)
        return mask if node.op == "==" else ~mask
    if isinstance(node, Member):
        mask = table.category(node.field).isin(node.values)
        return ~mask if node.negate else mask
    if isinstance(node, Quantifier):
        hits = table.per_scene_count(_eval(node.item, table, "object"))
        if node.kind == "any":
            return hits > 0
        if node.kind == "none":
            return hits == 0
        return (hits == table.count) & (table.count > 0)
    if isinstance(node, NumericTest):
        if node.kind == "distinct":
            values = table.distinct(node.arg)
        elif node.arg is None:
            values = table.count
        else:
            values = table.per_scene_count(_eval(node.arg, table, "object"))
        return _NUMERIC_OPS[node.op](values, node.value)
    raise TypeError(f"not a predicate node: {node!r}")


def evaluate(predicate, table: SceneTable) -> np.ndarray:
    """Boolean (table.n,) array: which scenes satisfy ``predicate`` (a string or a parsed tree)."""
    tree = parse(predicate) if isinstance(predicate, str) else predicate
    return _eval(tree, table, "scene")
