"""Meta-tests: every hook is documented, fully typed, and exercised by some test.

Adding a hook to `ssmhub.hookspecs` without a docstring, annotations or a test that
implements it fails here.
"""

from __future__ import annotations

import ast
import inspect
import typing
from pathlib import Path

import pytest

from ssmhub import hookspecs

TESTS = Path(__file__).parent
HOOKS = sorted(
    name
    for name, func in inspect.getmembers(hookspecs, inspect.isfunction)
    if hasattr(func, f"{hookspecs.PROJECT}_spec")
)


def type_checking_namespace() -> dict[str, object]:
    """The names hookspecs imports only under ``if TYPE_CHECKING:``, really imported."""
    tree = ast.parse(inspect.getsource(hookspecs))
    namespace: dict[str, object] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING"):
            code = compile(ast.Module(body=node.body, type_ignores=[]), hookspecs.__file__, "exec")
            exec(code, namespace)
    return namespace


def test_hookspecs_are_found():
    assert "register_models" in HOOKS
    assert len(HOOKS) >= 7


@pytest.mark.parametrize("name", HOOKS)
def test_hook_is_documented(name):
    doc = inspect.getdoc(getattr(hookspecs, name))
    assert doc, f"hook {name} has no docstring"
    assert len(doc.split()) >= 5, f"hook {name}'s docstring says too little: {doc!r}"


@pytest.mark.parametrize("name", HOOKS)
def test_hook_is_fully_typed(name):
    func = getattr(hookspecs, name)
    signature = inspect.signature(func)
    for param in signature.parameters.values():
        assert param.annotation is not inspect.Parameter.empty, f"{name}({param.name}) untyped"
    assert signature.return_annotation is not inspect.Signature.empty, f"{name} return untyped"
    # The annotations name real types: they resolve with the modules they come from.
    hints = typing.get_type_hints(func, localns=type_checking_namespace())
    assert set(hints) == {*signature.parameters, "return"}


@pytest.mark.parametrize("name", HOOKS)
def test_hook_is_implemented_by_some_test(name):
    sources = {
        path.name: path.read_text()
        for path in TESTS.glob("test_*.py")
        if path.name != Path(__file__).name
    }
    users = [file for file, text in sources.items() if f"def {name}(" in text]
    assert users, f"no test plugin implements hook {name}: write a test for it"
