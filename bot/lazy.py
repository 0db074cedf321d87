"""Package exports that load on first use (PEP 562), so importing one light submodule stays light."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def lazy_exports(package: str, homes: Mapping[str, Sequence[str]]) -> Callable[[str], Any]:
    """The module-level ``__getattr__`` of ``package``: each exported name is imported from its home submodule when
    first read, then cached in the package.

    :param package: the package's ``__name__``.
    :param homes: submodule name -> the names it exports through the package.
    :return: the function to assign to the package's ``__getattr__``.
    """
    module_of = {name: module for module, names in homes.items() for name in names}
    namespace = importlib.import_module(package).__dict__

    def load_export(name: str) -> Any:
        module = module_of.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        namespace[name] = value  # later lookups skip this function
        return value

    return load_export
