"""Safe arithmetic for the calculator tool: a small parser over Python's AST, never `eval`."""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable

from core.errors import InvalidInput

MAX_LENGTH = 500
MAX_EXPONENT = 1000
MAX_MAGNITUDE = 10**100

Number = int | float
_BINARY: dict[type[ast.operator], Callable[[Number, Number], Number]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_FUNCTIONS: dict[str, Callable[..., Number]] = {
    "sqrt": math.sqrt,
    "abs": abs,
    "round": round,
    "min": min,
    "max": max,
    "log": math.log,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
}
_CONSTANTS: dict[str, Number] = {"pi": math.pi, "e": math.e}


class InvalidExpression(InvalidInput):
    """The expression is not arithmetic the calculator understands."""

    code = "invalid_expression"


def evaluate(expression: str) -> Number:
    """The value of an arithmetic expression: numbers, operators, parentheses, functions.

    Raises:
        InvalidExpression: anything else, division by zero, or a result too large.
    """
    if len(expression) > MAX_LENGTH:
        raise InvalidExpression(f"Expressions are limited to {MAX_LENGTH} characters.")
    try:
        tree = ast.parse(expression.replace("^", "**"), mode="eval")
        value = _value(tree.body)
    except (SyntaxError, ValueError, ZeroDivisionError, OverflowError, TypeError) as exc:
        raise InvalidExpression(f"Cannot evaluate that: {exc}.") from exc
    if abs(value) > MAX_MAGNITUDE:
        raise InvalidExpression("The result is too large.")
    return value


def _value(node: ast.expr) -> Number:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        if isinstance(node.value, bool):
            raise ValueError("booleans are not numbers here")
        return node.value
    if isinstance(node, ast.Name) and node.id in _CONSTANTS:
        return _CONSTANTS[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        operand = _value(node.operand)
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _value(node.left), _value(node.right)
        if isinstance(node.op, ast.Pow) and (
            abs(right) > MAX_EXPONENT or abs(left) > MAX_MAGNITUDE
        ):
            raise ValueError("exponent too large")
        result = _BINARY[type(node.op)](left, right)
        if isinstance(result, complex) or abs(result) > MAX_MAGNITUDE:
            raise ValueError("result out of range")
        return result
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
        function = _FUNCTIONS.get(node.func.id)
        if function is not None and len(node.args) <= 4:
            return function(*(_value(arg) for arg in node.args))
    raise ValueError(f"unsupported element {type(node).__name__}")
