"""AST bug injection: find single-token mutation sites in a Python source file.

Each `Mutation` is one edit on one line (a flipped comparison, a swapped operator, an off-by-one
constant, a dropped `not`, ...). The AST finds the sites; the edit itself is spliced into the
original text, so the gold patch (the inverse edit) is a one-line diff and the rest of the file,
comments included, is untouched.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

COMPARE_SWAP = {
    ast.Lt: ("<", "<="),
    ast.LtE: ("<=", "<"),
    ast.Gt: (">", ">="),
    ast.GtE: (">=", ">"),
    ast.Eq: ("==", "!="),
    ast.NotEq: ("!=", "=="),
    ast.In: ("in", "not in"),
    ast.NotIn: ("not in", "in"),
    ast.Is: ("is", "is not"),
    ast.IsNot: ("is not", "is"),
}
BINOP_SWAP = {
    ast.Add: ("+", "-"),
    ast.Sub: ("-", "+"),
    ast.Mult: ("*", "+"),
    ast.Div: ("/", "//"),
    ast.FloorDiv: ("//", "/"),
    ast.Mod: ("%", "//"),
}
BOOLOP_SWAP = {ast.And: ("and", "or"), ast.Or: ("or", "and")}
NAME_SWAP = {"min": "max", "max": "min", "any": "all", "all": "any"}
TOKEN_PATTERNS = {
    "not in": r"not\s+in",
    "is not": r"is\s+not",
    "in": r"\bin\b",
    "is": r"\bis\b",
    "and": r"\band\b",
    "or": r"\bor\b",
}


@dataclass(frozen=True)
class Mutation:
    path: str
    lineno: int  # 1-based
    start: int  # UTF-8 byte offsets within the line, as the AST reports them
    end: int
    replacement: str
    operator: str
    function: str

    def apply(self, source: str) -> str:
        lines = source.splitlines(keepends=True)
        raw = lines[self.lineno - 1].encode("utf-8")
        lines[self.lineno - 1] = (
            raw[: self.start] + self.replacement.encode("utf-8") + raw[self.end :]
        ).decode("utf-8")
        return "".join(lines)

    @property
    def key(self) -> str:
        return f"{self.path}:{self.lineno}:{self.start}:{self.operator}:{self.replacement}"


class _SiteFinder(ast.NodeVisitor):
    def __init__(self, path: str, source: str) -> None:
        self.path = path
        self.lines = [line.encode("utf-8") for line in source.splitlines()]
        self.scope: list[str] = []
        self.found: list[Mutation] = []

    # scopes ------------------------------------------------------------------------------------
    def _visit_scope(self, node: ast.AST, name: str) -> None:
        self.scope.append(name)
        body = getattr(node, "body", [])
        start = 1 if body and _is_docstring(body[0]) else 0
        for child in body[start:]:
            self.visit(child)
        for child in getattr(node, "decorator_list", []):
            self.visit(child)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            self.visit(node.args)
        self.scope.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        if node.name in ("__repr__", "__str__", "__hash__"):
            return
        self._visit_scope(node, node.name)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._visit_scope(node, node.name)

    def visit_Raise(self, node: ast.Raise) -> None:
        """Error messages are not behaviour worth breaking."""

    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        """Nor are f-strings' format specs."""

    # sites -------------------------------------------------------------------------------------
    def _add(self, lineno: int, start: int, end: int, replacement: str, operator: str) -> None:
        if not self.scope:
            return  # module-level constants and tables stay as they are
        self.found.append(
            Mutation(self.path, lineno, start, end, replacement, operator, ".".join(self.scope))
        )

    def _token_in_gap(
        self, left: ast.AST, right: ast.AST, token: str, replacement: str, operator: str
    ) -> None:
        if left.end_lineno != right.lineno:
            return
        line = self.lines[right.lineno - 1]
        gap = line[left.end_col_offset : right.col_offset].decode("utf-8")
        pattern = TOKEN_PATTERNS.get(token, re.escape(token) + r"(?![=/*])")
        found = [m for m in re.finditer(pattern, gap)]
        if len(found) != 1:
            return
        match = found[0]
        offset = left.end_col_offset + len(gap[: match.start()].encode("utf-8"))
        self._add(right.lineno, offset, offset + len(match.group(0).encode("utf-8")), replacement, operator)

    def visit_Compare(self, node: ast.Compare) -> None:
        left = node.left
        for op, right in zip(node.ops, node.comparators):
            token, replacement = COMPARE_SWAP[type(op)]
            self._token_in_gap(left, right, token, replacement, "compare")
            left = right
        self.generic_visit(node)

    def visit_BinOp(self, node: ast.BinOp) -> None:
        swap = BINOP_SWAP.get(type(node.op))
        is_str_format = isinstance(node.op, ast.Mod) and isinstance(node.left, ast.Constant)
        if swap and not is_str_format:
            self._token_in_gap(node.left, node.right, swap[0], swap[1], "binop")
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        swap = BINOP_SWAP.get(type(node.op))
        if swap and swap[0] in "+-":
            self._token_in_gap(node.target, node.value, swap[0] + "=", swap[1] + "=", "augassign")
        self.generic_visit(node)

    def visit_BoolOp(self, node: ast.BoolOp) -> None:
        token, replacement = BOOLOP_SWAP[type(node.op)]
        self._token_in_gap(node.values[0], node.values[1], token, replacement, "boolop")
        self.generic_visit(node)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> None:
        if isinstance(node.op, ast.Not) and node.lineno == node.operand.lineno:
            self._add(node.lineno, node.col_offset, node.operand.col_offset, "", "drop_not")
        self.generic_visit(node)

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        if not isinstance(test, ast.UnaryOp | ast.BoolOp) and test.lineno == test.end_lineno:
            self._add(test.lineno, test.col_offset, test.col_offset, "not ", "negate_condition")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if node.lineno != node.end_lineno:
            return
        value = node.value
        if isinstance(value, bool):
            self._add(node.lineno, node.col_offset, node.end_col_offset, str(not value), "constant")
        elif isinstance(value, int):
            for delta in (1, -1):
                if value + delta >= 0:
                    self._add(
                        node.lineno, node.col_offset, node.end_col_offset, str(value + delta), "off_by_one"
                    )

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in NAME_SWAP and isinstance(node.ctx, ast.Load):
            self._add(node.lineno, node.col_offset, node.end_col_offset, NAME_SWAP[node.id], "swap_builtin")

    def visit_Break(self, node: ast.Break) -> None:
        self._add(node.lineno, node.col_offset, node.end_col_offset, "continue", "break_continue")


def _is_docstring(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )


def find_mutations(path: str, source: str) -> list[Mutation]:
    """All mutation sites of one file whose mutated text still parses, in source order."""
    tree = ast.parse(source)
    finder = _SiteFinder(path, source)
    finder.visit(tree)
    valid: dict[str, Mutation] = {}
    for mutation in finder.found:
        mutated = mutation.apply(source)
        if mutated == source:
            continue
        try:
            ast.parse(mutated)
        except SyntaxError:
            continue
        valid.setdefault(mutation.key, mutation)
    return sorted(valid.values(), key=lambda m: (m.lineno, m.start, m.operator, m.replacement))
