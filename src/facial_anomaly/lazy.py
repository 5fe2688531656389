"""Lazy package attributes (PEP 562): a package's public names are imported on first use, so
importing a config or one light module of a package does not import its heavy neighbours
(scikit-learn, matplotlib, torch). Keeps ``kedro`` start-up fast."""

from __future__ import annotations

import importlib
from collections.abc import Callable


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for a package whose attribute ``name`` lives in the
    submodule ``exports[name]``."""

    def __getattr__(name: str) -> object:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{exports[name]}"), name)

    def __dir__() -> list[str]:
        return sorted(exports)

    return __getattr__, __dir__
