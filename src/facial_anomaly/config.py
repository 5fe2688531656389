"""Typed settings: the base class every library config object derives from.

Library functions and classes take these objects (defaults live here, in code); the
YAML in ``conf/base`` holds only what users tune, and Kedro turns each ``params:<block>``
into the node's annotated config type before any node runs. Unknown keys are errors
that name the key, so a typo never silently falls back to a default.

A config object also reads like the mapping it was built from (``config["decode"]``,
``**config.detection``), so functions written against plain dicts accept it unchanged.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError


def describe_validation_error(error: ValidationError, *, prefix: str = "") -> str:
    """All problems of a pydantic error on one line: ``<prefix>.<field>: <message> (got <value>)``."""
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in (prefix, *item["loc"]) if part != "")
        got = item.get("input")
        shown = "" if isinstance(got, (dict, BaseModel)) else f" (got {got!r})"
        problems.append(f"{where}: {item['msg']}{shown}")
    return "; ".join(problems)


class Config(BaseModel):
    """Frozen, strict settings object built from keywords or ``Config.model_validate(mapping)``.

    ``model_validate`` raises :class:`ValueError` with every problem on one line, naming
    the field (and the class's ``parameter`` name when it has one), instead of pydantic's
    multi-line report.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())
    # The conf/base parameter block this config is read from, for error messages.
    parameter: ClassVar[str] = ""

    @classmethod
    def model_validate(cls, obj: Any, *args: Any, **kwargs: Any):
        try:
            return super().model_validate({} if obj is None else obj, *args, **kwargs)
        except ValidationError as error:
            raise ValueError(describe_validation_error(error, prefix=cls.parameter)) from None

    def fingerprint(self, *, length: int = 12) -> str:
        """Short SHA-1 of every setting (JSON, keys sorted): changes exactly when a value does."""
        payload = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha1(payload.encode()).hexdigest()[:length]

    # --- read-only mapping protocol, so dict-based callers keep working --------------------
    def keys(self) -> list[str]:
        return list(type(self).model_fields)

    def __getitem__(self, key: str) -> Any:
        if key not in type(self).model_fields:
            raise KeyError(key)
        return getattr(self, key)

    def __contains__(self, key: object) -> bool:
        return key in type(self).model_fields

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key) if key in type(self).model_fields else default

    def items(self) -> Iterator[tuple[str, Any]]:
        return ((key, getattr(self, key)) for key in type(self).model_fields)

    def values(self) -> Iterator[Any]:
        return (getattr(self, key) for key in type(self).model_fields)


def validated(config_type: type[Config], values: Any, *, name: str = "") -> Config:
    """``config_type`` from a mapping (or an instance, returned as is).

    Raises:
        ValueError: ``<name>.<field>: <what is wrong> (got <value>)``, all on one line.
    """
    if isinstance(values, config_type):
        return values
    if isinstance(values, Config):
        values = values.model_dump()
    try:
        return BaseModel.model_validate.__func__(config_type, {} if values is None else values)
    except ValidationError as error:
        raise ValueError(describe_validation_error(error, prefix=name or config_type.parameter)) from None


def as_plain(value: Any) -> Any:
    """A config (or a mapping holding configs) as plain JSON-able Python values."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Mapping):
        return {key: as_plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_plain(item) for item in value]
    return value
