"""LLM-GUIDE.md is complete, exact and small enough to paste into a model's context.

Signatures live in ```pyi blocks: classes named as in the code, each method written as
``def name(self, ...) -> T:`` (``async def`` for coroutines, ``@property`` for properties), and a
default written ``...`` where the code's default is the "not given" sentinel. Model classes list
their fields (``name: type`` or ``name: type = None``); a top-level ``name: type`` is an attribute
of the ``dotdo`` package. This test compares each with the code: parameter names, kinds,
defaults and annotations, return annotations, async-ness, field sets. It also checks that every
public method of the client and namespace classes is in the guide, that ``dotdo.__all__`` and
every error's code are, and that nothing names an attribute of ``dotdo`` that does not exist.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import importlib.util
import inspect
import logging
import re
import typing
from collections.abc import Callable, Iterator
from typing import Any

import pydantic
import pytest

import dotdo as package
from dotdo import DotDo, errors
from dotdo._config import Settings
from dotdo._sync import SyncDotDo
from dotdo.namespaces import models
from dotdo.namespaces._base import MISSING
from dotdo.namespaces.auth import ApiKeys, Auth, Users
from dotdo.namespaces.collections import Collection, Collections, Query
from dotdo.namespaces.db import Db, Transaction
from dotdo.namespaces.logs import Logs
from dotdo.namespaces.rpc import Rpc, RpcCall, RpcPath

from .doc_blocks import LLM_GUIDE, blocks

MAX_BYTES = 40_000

# The classes whose every public method and property the guide must list, with the dunder
# methods a user calls directly (a constructor, `async with`, `collections("name")`, ...).
API_CLASSES: dict[type, tuple[str, ...]] = {
    DotDo: ("__init__", "__aenter__"),
    SyncDotDo: (),
    package.dotdo.secrets.__class__: (),
    Db: (),
    Transaction: (),
    Collections: ("__call__",),
    Collection: (),
    Query: (),
    Auth: (),
    Users: (),
    ApiKeys: (),
    Logs: (),
    Rpc: ("__getattr__", "__getitem__"),
    RpcPath: ("__call__",),
    RpcCall: (),
}
MODEL_CLASSES: dict[str, type[pydantic.BaseModel]] = {
    name: getattr(models, name) for name in models.__all__
}
KNOWN_CLASSES: dict[str, type] = {
    **{cls.__name__: cls for cls in API_CLASSES},
    **MODEL_CLASSES,
}

# Attribute chains after `dotdo.`: what each step leads to. Rpc paths are service names.
CHAIN_STEPS: dict[type, dict[str, type | None]] = {
    DotDo: {
        "secrets": package.dotdo.secrets.__class__,
        "db": Db,
        "collections": Collections,
        "auth": Auth,
        "logs": Logs,
        "rpc": Rpc,
        "sync": DotDo,
        "settings": Settings,
    },
    Auth: {"users": Users, "api_keys": ApiKeys},
}


def guide_text() -> str:
    return LLM_GUIDE.read_text(encoding="utf-8")


def stub_modules() -> list[tuple[str, ast.Module]]:
    """Each ```pyi block of the guide, parsed, with its FILE:LINE."""
    parsed = []
    for block in blocks(LLM_GUIDE):
        if block.language == "pyi":
            tree = ast.parse(block.code, filename=block.id)
            parsed.append((block.id, tree))
    return parsed


def stub_classes() -> dict[str, tuple[str, ast.ClassDef]]:
    found: dict[str, tuple[str, ast.ClassDef]] = {}
    for where, tree in stub_modules():
        for node in tree.body:
            if isinstance(node, ast.ClassDef):
                assert node.name not in found, f"{where}: class {node.name} is described twice"
                found[node.name] = (where, node)
    return found


def stub_functions(node: ast.ClassDef) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for item in node.body:
        if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
            yield item


def normalized(annotation: object) -> str:
    """An annotation as comparable text: no module prefixes, no spaces."""
    text = annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)
    text = re.sub(r"\b(builtins|typing|collections\.abc|datetime|logging)\.", "", text)
    return text.replace(" ", "").replace("'", "")


def documented_default(node: ast.expr) -> object:
    if isinstance(node, ast.Constant) and node.value is Ellipsis:
        return MISSING
    return eval(compile(ast.Expression(node), "<guide>", "eval"), {"logging": logging})  # noqa: S307


def stub_parameters(function: ast.FunctionDef | ast.AsyncFunctionDef) -> list[tuple[Any, ...]]:
    arguments = function.args
    positional = [*arguments.posonlyargs, *arguments.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(arguments.defaults))
    defaults += arguments.defaults
    described: list[tuple[ast.arg, inspect._ParameterKind, ast.expr | None]] = []
    for index, argument in enumerate(positional):
        kind = (
            inspect.Parameter.POSITIONAL_ONLY
            if index < len(arguments.posonlyargs)
            else inspect.Parameter.POSITIONAL_OR_KEYWORD
        )
        described.append((argument, kind, defaults[index]))
    if arguments.vararg:
        described.append((arguments.vararg, inspect.Parameter.VAR_POSITIONAL, None))
    for argument, default in zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True):
        described.append((argument, inspect.Parameter.KEYWORD_ONLY, default))
    if arguments.kwarg:
        described.append((arguments.kwarg, inspect.Parameter.VAR_KEYWORD, None))
    return [
        (
            argument.arg,
            kind,
            inspect.Parameter.empty if default is None else documented_default(default),
            None if argument.annotation is None else normalized(ast.unparse(argument.annotation)),
        )
        for argument, kind, default in described
    ]


def code_parameters(function: Callable[..., Any]) -> list[tuple[Any, ...]]:
    return [
        (
            parameter.name,
            parameter.kind,
            parameter.default,
            None
            if parameter.annotation is inspect.Parameter.empty
            else normalized(parameter.annotation),
        )
        for parameter in inspect.signature(function).parameters.values()
    ]


def public_members(cls: type, dunders: tuple[str, ...]) -> set[str]:
    names = {
        name
        for name, value in vars(cls).items()
        if not name.startswith("_") and (inspect.isfunction(value) or isinstance(value, property))
    }
    return names | set(dunders)


# -- the checks ---------------------------------------------------------------------------


def test_the_guide_is_under_40_kb() -> None:
    size = len(guide_text().encode("utf-8"))
    assert size < MAX_BYTES, f"LLM-GUIDE.md is {size} bytes; keep it under {MAX_BYTES}"


def test_the_guide_names_the_installed_version() -> None:
    assert f"dotdo {package.__version__}" in guide_text().splitlines()[0]


def test_every_exported_name_appears() -> None:
    text = guide_text()
    missing = [name for name in package.__all__ if not re.search(rf"\b{re.escape(name)}\b", text)]
    assert not missing, f"dotdo.__all__ names missing from LLM-GUIDE.md: {missing}"


def test_every_error_is_in_the_table_with_its_code() -> None:
    text = guide_text()
    for name in errors.__all__:
        cls = getattr(errors, name)
        if not (isinstance(cls, type) and issubclass(cls, errors.DotDoError)):
            continue
        row = rf"^\| `{name}` \| `{re.escape(cls.default_code)}` \|"
        assert re.search(row, text, re.MULTILINE), f"no errors-table row for {name}"


def test_only_known_classes_are_described() -> None:
    unknown = sorted(set(stub_classes()) - set(KNOWN_CLASSES))
    assert not unknown, f"LLM-GUIDE.md describes classes dotdo does not have: {unknown}"


@pytest.mark.parametrize("cls", list(API_CLASSES), ids=lambda cls: cls.__name__)
def test_every_public_method_is_described(cls: type) -> None:
    described = stub_classes()
    assert cls.__name__ in described, f"LLM-GUIDE.md has no ```pyi class {cls.__name__}"
    where, node = described[cls.__name__]
    names = {function.name for function in stub_functions(node)}
    missing = sorted(public_members(cls, API_CLASSES[cls]) - names)
    assert not missing, f"{where}: {cls.__name__} lacks {missing}"


def described_methods() -> list[tuple[str, type, ast.FunctionDef | ast.AsyncFunctionDef]]:
    found = []
    for name, (where, node) in stub_classes().items():
        cls = KNOWN_CLASSES.get(name)
        if cls is None or cls in MODEL_CLASSES.values():
            continue
        for function in stub_functions(node):
            found.append((f"{where} {name}.{function.name}", cls, function))
    return found


@pytest.mark.parametrize(
    ("cls", "function"),
    [(cls, function) for _, cls, function in described_methods()],
    ids=[where for where, _, _ in described_methods()],
)
def test_each_signature_matches_the_code(
    cls: type, function: ast.FunctionDef | ast.AsyncFunctionDef
) -> None:
    name = function.name
    assert name in dir(cls), f"{cls.__name__}.{name} does not exist"
    attribute = inspect.getattr_static(cls, name)
    decorators = {ast.unparse(decorator) for decorator in function.decorator_list}
    if isinstance(attribute, property):
        assert decorators == {"property"}, f"{cls.__name__}.{name} is a property: use @property"
        assert attribute.fget is not None
        returned = inspect.signature(attribute.fget).return_annotation
        assert function.returns is not None
        assert normalized(ast.unparse(function.returns)) == normalized(returned)
        return
    assert "property" not in decorators, f"{cls.__name__}.{name} is a method, not a property"
    code = getattr(cls, name)
    is_async = inspect.iscoroutinefunction(code)
    assert isinstance(function, ast.AsyncFunctionDef) == is_async, (
        f"{cls.__name__}.{name} must be written {'async def' if is_async else 'def'}"
    )
    assert stub_parameters(function) == code_parameters(code)
    if function.returns is not None:
        returns = {normalized(inspect.signature(code).return_annotation)}
        returns |= {
            normalized(inspect.signature(overload).return_annotation)
            for overload in typing.get_overloads(code)
        }
        assert normalized(ast.unparse(function.returns)) in returns


@pytest.mark.parametrize("name", sorted(MODEL_CLASSES))
def test_each_model_lists_exactly_its_fields(name: str) -> None:
    described = stub_classes()
    assert name in described, f"LLM-GUIDE.md has no ```pyi class {name}"
    fields: dict[str, tuple[str, bool]] = {}
    pending = [described[name][1]]
    while pending:
        node = pending.pop()
        for item in node.body:
            if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                optional = item.value is not None
                fields[item.target.id] = (normalized(ast.unparse(item.annotation)), optional)
        pending += [described[base.id][1] for base in node.bases if isinstance(base, ast.Name)]
    model = MODEL_CLASSES[name]
    annotations: dict[str, str] = {}
    for cls in reversed(model.__mro__):
        annotations.update(getattr(cls, "__annotations__", {}))
    expected = {
        field: (normalized(annotations[field]), not info.is_required())
        for field, info in model.model_fields.items()
    }
    assert fields == expected


def test_top_level_attributes_exist() -> None:
    for where, tree in stub_modules():
        for node in tree.body:
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                assert hasattr(package, node.target.id), f"{where}: dotdo.{node.target.id}?"


def chains(text: str) -> Iterator[tuple[int, list[str]]]:
    """Attribute chains after ``dotdo.`` (up to the first call), skipping ❌ examples."""
    for number, line in enumerate(text.splitlines(), start=1):
        if "❌" in line:
            line = line.split("✅", 1)[1] if "✅" in line else ""
        for match in re.finditer(r"(?<![\w.])dotdo((?:\.[A-Za-z_]\w*)+)", line):
            yield number, match.group(1).split(".")[1:]


def next_module_end(chain: list[str]) -> int:
    """How many steps of ``chain`` name modules (``server.app`` of ``dotdo.server.app``)."""
    end = 1
    while end < len(chain) and importlib.util.find_spec(f"dotdo.{'.'.join(chain[: end + 1])}"):
        end += 1
    return end


def test_nothing_names_an_attribute_that_does_not_exist() -> None:
    problems = []
    for number, chain in chains(guide_text()):
        if chain[0] in package.__all__:
            continue  # `dotdo.NotFoundError`: a name the package exports
        if importlib.util.find_spec(f"dotdo.{chain[0]}") is not None:
            end = next_module_end(chain)
            module = importlib.import_module("dotdo." + ".".join(chain[:end]))
            if end < len(chain) and not hasattr(module, chain[end]):
                problems.append(f"line {number}: {module.__name__} has no {chain[end]}")
            continue
        current: type | None = DotDo
        for step in chain:
            if current is None or current in (Rpc, RpcPath):
                break  # past a service name, any attribute is a method of that service
            if dataclasses.is_dataclass(current):
                known = {field.name for field in dataclasses.fields(current)}
                if step not in known:
                    problems.append(f"line {number}: {'.'.join(chain)} ({step}?)")
                break
            if not hasattr(current, step) and step not in dir(current):
                problems.append(f"line {number}: dotdo.{'.'.join(chain)} ({step}?)")
                break
            current = CHAIN_STEPS.get(current, {}).get(step)
    assert not problems, "LLM-GUIDE.md names what does not exist:\n" + "\n".join(problems)
