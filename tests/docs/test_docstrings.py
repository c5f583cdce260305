"""Every public class and function of dotdo, and every public method of those classes, says
what it is for.

What counts as public:

- Modules: every module under ``dotdo`` with no ``_``-prefixed part in its dotted name
  (``dotdo.server.*`` included: ``Platform`` and ``serve`` are documented for tests and tools),
  except ``__main__`` modules. Private modules (``dotdo._client``, ``dotdo._sync``, ...) are
  internals, except for the classes the public API hands out: ``DotDo``, ``SyncDotDo`` (from
  ``dotdo.sync``) and ``Settings`` (from ``dotdo.settings``).
- In a module: the classes and functions named in its ``__all__`` (every name without a leading
  ``_`` when it has none) that the module itself defines.
- In a class: methods, class and static methods and properties whose names do not start with
  ``_``. A method without a docstring of its own passes when it overrides a documented method of
  a base class (``inspect.getdoc`` inherits it): the base's contract describes it.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
from collections.abc import Iterator
from types import ModuleType

import dotdo
from dotdo import DotDo
from dotdo._config import Settings
from dotdo._sync import SyncDotDo

PUBLIC_FROM_PRIVATE_MODULES: tuple[type, ...] = (DotDo, SyncDotDo, Settings)


def public_modules() -> Iterator[ModuleType]:
    yield dotdo
    for info in pkgutil.walk_packages(dotdo.__path__, "dotdo."):
        parts = info.name.split(".")
        if any(part.startswith("_") for part in parts):
            continue  # private modules and __main__
        yield importlib.import_module(info.name)


def public_objects() -> Iterator[tuple[str, object]]:
    seen: set[int] = set()
    for module in public_modules():
        names = getattr(module, "__all__", None)
        if names is None:
            names = [name for name in vars(module) if not name.startswith("_")]
        for name in names:
            value = getattr(module, name)
            if not (inspect.isclass(value) or inspect.isfunction(value)):
                continue
            if value.__module__ != module.__name__ or id(value) in seen:
                continue
            seen.add(id(value))
            yield f"{module.__name__}.{name}", value
    for cls in PUBLIC_FROM_PRIVATE_MODULES:
        yield f"{cls.__module__}.{cls.__qualname__}", cls


def own_doc(value: object) -> str:
    """The object's own docstring; a class's is not inherited, nor made up by ``dataclass``."""
    if not inspect.isclass(value):
        return inspect.getdoc(value) or ""
    doc = value.__doc__ or ""
    if dataclasses.is_dataclass(value) and doc.startswith(f"{value.__name__}("):
        return ""  # the signature dataclasses writes when the class has no docstring
    return doc


def method_doc(cls: type, name: str, member: object) -> str | None:
    if isinstance(member, property):
        for base in cls.__mro__:
            found = base.__dict__.get(name)
            if isinstance(found, property) and found.__doc__:
                return found.__doc__
        return None
    return inspect.getdoc(getattr(cls, name))


def undocumented() -> list[str]:
    missing = []
    for qualified, value in public_objects():
        if not own_doc(value).strip():
            missing.append(qualified)
        if not inspect.isclass(value):
            continue
        for name, member in vars(value).items():
            if name.startswith("_"):
                continue
            is_method = inspect.isfunction(member) or isinstance(member, staticmethod | classmethod)
            if not (is_method or isinstance(member, property)):
                continue
            if not (method_doc(value, name, member) or "").strip():
                missing.append(f"{qualified}.{name}")
    return missing


def test_every_public_class_function_and_method_has_a_docstring() -> None:
    missing = undocumented()
    assert not missing, "add a docstring to:\n" + "\n".join(missing)


def test_the_rule_covers_the_api_people_use() -> None:
    covered = {qualified for qualified, _ in public_objects()}
    for name in (
        "dotdo._client.DotDo",
        "dotdo.errors.NotFoundError",
        "dotdo.namespaces.secrets.Secrets",
        "dotdo.server.platform.Platform",
        "dotdo.transport.target.RpcTarget",
    ):
        assert name in covered
