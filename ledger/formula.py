"""A small, safe formula language for assessment indicators (no ``eval``).

Parsed with Python's :mod:`ast` and allowed only: decimal numbers, names, ``+ - * /``,
unary minus, parentheses, ``min(…)`` and ``max(…)``. Evaluated in :class:`Decimal`,
so published schemes are reproduced to the decimal. A division by zero gives zero
(an office without a target scores nothing on it rather than failing the scheme).
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext as _

MAX_LENGTH = 500
_BINARY = (ast.Add, ast.Sub, ast.Mult, ast.Div)
_FUNCTIONS = {"min": min, "max": max}


class FormulaError(ValueError):
    """A formula outside the language, or a name with no value; the message says which."""


def _check(node: ast.AST) -> None:
    if isinstance(node, ast.Expression):
        _check(node.body)
    elif isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise FormulaError(_("Only numbers are allowed as constants."))
    elif isinstance(node, ast.Name):
        if node.id in _FUNCTIONS:
            raise FormulaError(_("%(name)s is a function: call it with parentheses.") % {"name": node.id})
    elif isinstance(node, ast.BinOp):
        if not isinstance(node.op, _BINARY):
            raise FormulaError(_("Only + - * / are allowed."))
        _check(node.left)
        _check(node.right)
    elif isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, (ast.USub, ast.UAdd)):
            raise FormulaError(_("Only + - * / are allowed."))
        _check(node.operand)
    elif isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS:
            raise FormulaError(_("Only min() and max() may be called."))
        if node.keywords or len(node.args) < 2:
            raise FormulaError(_("min() and max() take two or more values."))
        for arg in node.args:
            _check(arg)
    else:
        raise FormulaError(_("Not allowed in a formula: %(what)s.") % {"what": type(node).__name__})


def formula_parse(text: str) -> ast.Expression:
    """The checked syntax tree of ``text``; :class:`FormulaError` when it is outside the language."""
    if len(text) > MAX_LENGTH:
        raise FormulaError(_("A formula has at most %(n)s characters.") % {"n": MAX_LENGTH})
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise FormulaError(_("The formula cannot be read: %(msg)s.") % {"msg": exc.msg}) from None
    _check(tree)
    return tree


def formula_names(text: str) -> set[str]:
    """The names a formula uses (besides min and max)."""
    return {n.id for n in ast.walk(formula_parse(text)) if isinstance(n, ast.Name) and n.id not in _FUNCTIONS}


def _eval(node: ast.AST, values: Mapping[str, Decimal]) -> Decimal:
    if isinstance(node, ast.Expression):
        return _eval(node.body, values)
    if isinstance(node, ast.Constant):
        return Decimal(str(node.value))
    if isinstance(node, ast.Name):
        if node.id not in values:
            raise FormulaError(_("No value for %(name)s.") % {"name": node.id})
        return Decimal(values[node.id])
    if isinstance(node, ast.UnaryOp):
        value = _eval(node.operand, values)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.Call):
        return _FUNCTIONS[node.func.id](_eval(a, values) for a in node.args)  # type: ignore[union-attr]
    assert isinstance(node, ast.BinOp)
    left, right = _eval(node.left, values), _eval(node.right, values)
    if isinstance(node.op, ast.Add):
        return left + right
    if isinstance(node.op, ast.Sub):
        return left - right
    if isinstance(node.op, ast.Mult):
        return left * right
    try:
        return left / right if right else Decimal(0)
    except InvalidOperation:  # pragma: no cover - Decimal division of finite values
        return Decimal(0)


def formula_evaluate(text: str, values: Mapping[str, Decimal]) -> Decimal:
    """The value of ``text`` with ``values`` for its names, in Decimal."""
    return _eval(formula_parse(text), values)
