"""Strict construction of the settings dataclasses from YAML blocks.

Every field must be present (no defaults hidden in code) and no unknown key is accepted.
Values are coerced to the annotated type, so ``1.0e5`` (a *string* for PyYAML, whose
floats need a dot and a signed exponent) still reads as a float; a bool field accepts
only a real bool and an int field no fractional number.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")


def _coerce(value: Any, type_name: str, where: str) -> Any:
    type_name = type_name.replace(" ", "")
    if type_name.endswith("|None"):
        return None if value is None else _coerce(value, type_name[: -len("|None")], where)
    if type_name.startswith("tuple["):
        if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
            raise ValueError(f"{where}: expected a list, got {value!r}")
        element = type_name[len("tuple[") : -1].split(",")[0]
        return tuple(_coerce(item, element, where) for item in value)
    if type_name == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"{where}: expected true or false, got {value!r}")
        return value
    if type_name in ("int", "float"):
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = None
        if isinstance(value, bool) or number is None or (type_name == "int" and not number.is_integer()):
            raise ValueError(f"{where}: expected {'an integer' if type_name == 'int' else 'a number'}, got {value!r}")
        return int(number) if type_name == "int" else number
    if type_name == "str":
        return str(value)
    raise TypeError(f"{where}: unsupported field type {type_name}")


def from_mapping(cls: type[T], mapping: Mapping, section: str) -> T:
    """``cls(**mapping)`` with every field required, unknown keys rejected and types coerced.

    Raises:
        ValueError: naming ``section``, the missing and unexpected keys, or the bad value.
    """
    if not isinstance(mapping, Mapping):
        raise ValueError(f"{section}: expected a mapping, got {type(mapping).__name__}")
    fields = {field.name: str(field.type) for field in dataclasses.fields(cls)}
    missing = sorted(set(fields) - set(mapping))
    unexpected = sorted(set(mapping) - set(fields))
    if missing or unexpected:
        raise ValueError(f"{section}: missing keys {missing}, unexpected keys {unexpected}")
    return cls(**{name: _coerce(mapping[name], type_name, f"{section}.{name}") for name, type_name in fields.items()})


def resolve_preset(settings: Mapping, presets: Mapping) -> dict:
    """The preset named by ``settings["preset"]`` (a copy), as in ``parameters_stylegan2.yml``:
    ``stylegan2: {preset: NAME}`` and ``stylegan2_presets: {NAME: {...}}``.

    Raises:
        KeyError: naming the unknown preset and the available ones.
    """
    name = settings["preset"]
    if name not in presets:
        raise KeyError(f"unknown stylegan2 preset {name!r}; available: {sorted(presets)}")
    return dict(presets[name])
