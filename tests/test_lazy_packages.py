"""The packages whose exports load on first use: every name resolves to its home, and the API stays light."""

from __future__ import annotations

import importlib
import subprocess
import sys
from types import ModuleType

import pytest

import bot.live
import bot.training


@pytest.mark.parametrize("package", [bot.training, bot.live])
def test_every_export_resolves_to_its_home_module(package: ModuleType) -> None:
    homes: dict[str, tuple[str, ...]] = package._HOMES
    assert sorted(package.__all__) == sorted(name for names in homes.values() for name in names)
    for module, names in homes.items():
        home = importlib.import_module(f"{package.__name__}.{module}")
        for name in names:
            assert getattr(package, name) is getattr(home, name)
    with pytest.raises(AttributeError, match="has no attribute 'no_such_name'"):
        package.no_such_name  # noqa: B018


def test_the_control_api_imports_neither_torch_nor_ccxt_nor_pandas() -> None:
    # the server reads events and the paper account through light submodules: 81 MB, not 414 MB with torch
    code = "import sys, bot.api.app; print(sorted(m for m in ('torch', 'ccxt', 'pandas') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
