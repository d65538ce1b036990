"""A parser for the Logs Insights query language, as far as the twin evaluates it.

Commands: `filter <expr>`, `fields <expr> [as name], ...`, `stats <agg> [as name], ... [by <expr>, ...]`,
`sort <field> [asc|desc]`, `limit <n>`, `display <field>, ...`. Expressions: field names (`@duration`,
`record.metrics.durationMs`, backquoted names), numbers, strings, `+ - * /`, comparisons
(`= != < <= > >=`), `and`/`or`/`not`, parentheses and function calls. Anything else is a `ValueError`
naming what is wrong and where.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

# ("num", v) | ("str", s) | ("field", name) | ("call", fn, args) | ("bin"/"cmp", op, l, r)
# | ("and"/"or", l, r) | ("not", x) | ("star",)
Node = tuple[Any, ...]

_TOKEN = re.compile(
    r"""\s*(?:(?P<num>\d+(?:\.\d+)?)|(?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?P<bq>`[^`]+`)"""
    r"""|(?P<name>@?[A-Za-z_][\w.@]*)|(?P<op><=|>=|!=|==|[=<>|,()*/+-]))"""
)
KEYWORDS = {"and", "or", "not", "as", "by", "asc", "desc"}


@dataclass
class Query:
    filters: list[Node] = field(default_factory=list)
    fields: dict[str, Node] = field(default_factory=dict)
    stats: list[tuple[str, Node]] = field(default_factory=list)  # (output name, call node)
    by: list[tuple[str, Node]] = field(default_factory=list)
    sort: tuple[str, bool] | None = None  # (field, descending)
    limit: int | None = None
    display: list[str] | None = None


def tokenize(text: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ValueError(f"unexpected character {text[pos:].strip()[:1]!r} at position {pos}")
        kind = m.lastgroup or ""
        value = m.group(kind)
        if kind == "str":
            value = value[1:-1]
        elif kind == "bq":
            kind, value = "name", value[1:-1]
        elif kind == "name" and value.lower() in KEYWORDS:
            kind, value = "kw", value.lower()
        tokens.append((kind, value))
        pos = m.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.t, self.i = tokens, 0

    def peek(self, ahead: int = 0) -> tuple[str, str]:
        j = self.i + ahead
        return self.t[j] if j < len(self.t) else ("end", "")

    def take(self, kind: str | None = None, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if (kind and tok[0] != kind) or (value is not None and tok[1] != value):
            want = value or kind
            raise ValueError(f"expected {want!r} but found {tok[1] or 'end of query'!r}")
        self.i += 1
        return tok

    def accept(self, kind: str, value: str) -> bool:
        if self.peek() == (kind, value):
            self.i += 1
            return True
        return False

    def expr(self) -> Node:
        node = self.conj()
        while self.accept("kw", "or"):
            node = ("or", node, self.conj())
        return node

    def conj(self) -> Node:
        node = self.neg()
        while self.accept("kw", "and"):
            node = ("and", node, self.neg())
        return node

    def neg(self) -> Node:
        return ("not", self.neg()) if self.accept("kw", "not") else self.cmp()

    def cmp(self) -> Node:
        node = self.add()
        if self.peek()[0] == "op" and self.peek()[1] in ("=", "==", "!=", "<", "<=", ">", ">="):
            op = self.take()[1]
            node = ("cmp", "=" if op == "==" else op, node, self.add())
        return node

    def add(self) -> Node:
        node = self.mul()
        while self.peek()[0] == "op" and self.peek()[1] in "+-":
            node = ("bin", self.take()[1], node, self.mul())
        return node

    def mul(self) -> Node:
        node = self.unary()
        while self.peek()[0] == "op" and self.peek()[1] in "*/":
            node = ("bin", self.take()[1], node, self.unary())
        return node

    def unary(self) -> Node:
        if self.accept("op", "-"):
            return ("bin", "-", ("num", 0.0), self.unary())
        return self.primary()

    def primary(self) -> Node:
        kind, value = self.peek()
        if kind == "num":
            self.i += 1
            return ("num", float(value))
        if kind == "str":
            self.i += 1
            return ("str", value)
        if self.accept("op", "("):
            node = self.expr()
            self.take("op", ")")
            return node
        if kind == "op" and value == "*":
            self.i += 1
            return ("star",)
        if kind == "name":
            self.i += 1
            if self.accept("op", "("):
                args: list[Node] = []
                if not self.accept("op", ")"):
                    args.append(self.expr())
                    while self.accept("op", ","):
                        args.append(self.expr())
                    self.take("op", ")")
                return ("call", value.lower(), args)
            return ("field", value)
        raise ValueError(f"expected a value but found {value or 'end of query'!r}")

    def named_list(self, allow_by: bool = False) -> list[tuple[str, Node]]:
        items = []
        while True:
            start = self.i
            node = self.expr()
            name = self.take("name")[1] if self.accept("kw", "as") else _text(self.t[start:self.i])
            items.append((name, node))
            if not self.accept("op", ","):
                return items
            if allow_by and self.peek() == ("kw", "by"):
                return items


def _text(tokens: list[tuple[str, str]]) -> str:
    return "".join(f'"{v}"' if k == "str" else v for k, v in tokens)


def _split_commands(tokens: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    commands: list[list[tuple[str, str]]] = [[]]
    for tok in tokens:
        if tok == ("op", "|"):
            commands.append([])
        else:
            commands[-1].append(tok)
    if any(not c for c in commands):
        raise ValueError("empty command between pipes")
    return commands


def parse(text: str) -> Query:
    q = Query()
    for tokens in _split_commands(tokenize(text)):
        p = _Parser(tokens)
        command = p.take("name")[1].lower()
        if command == "filter":
            q.filters.append(p.expr())
        elif command == "fields":
            q.fields.update(p.named_list())
        elif command == "stats":
            q.stats = p.named_list()
            if p.accept("kw", "by"):
                q.by = p.named_list()
        elif command == "sort":
            q.sort = (p.take("name")[1], not p.accept("kw", "asc") and (p.accept("kw", "desc") or True))
        elif command == "limit":
            q.limit = int(float(p.take("num")[1]))
        elif command == "display":
            q.display = [name for name, _ in p.named_list()]
        else:
            raise ValueError(f"unsupported command {command!r} (the twin supports filter, fields, stats, "
                             "sort, limit, display)")
        if p.peek()[0] != "end":
            raise ValueError(f"unexpected {p.peek()[1]!r} in {command} command")
    for name, node in q.stats:
        if node[0] != "call":
            raise ValueError(f"stats needs aggregation functions, got {name!r}")
    return q
