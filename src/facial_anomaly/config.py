"""Typed settings: the base class every library config object derives from.

Library functions and classes take these objects (defaults live here, in code); the
YAML in ``conf/base`` holds only what users tune, and Kedro turns each ``params:<block>``
into the node's annotated config type before any node runs. Unknown keys are errors
that name the key, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError


class Config(BaseModel):
    """Frozen, strict settings object: ``Config.model_validate(dict)`` or keyword construction."""

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    def fingerprint(self, *, length: int = 12) -> str:
        """Short SHA-1 of every setting (JSON, keys sorted): changes exactly when an output-defining value does."""
        payload = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha1(payload.encode()).hexdigest()[:length]


def describe_validation_error(error: ValidationError, *, prefix: str = "") -> str:
    """One line per problem of a pydantic error: ``<prefix>.<field>: <message> (got <value>)``."""
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in (prefix, *item["loc"]) if part != "")
        got = item.get("input")
        shown = "" if isinstance(got, dict) else f" (got {got!r})"
        problems.append(f"{where}: {item['msg']}{shown}")
    return "; ".join(problems)


def validated(config_type: type[Config], values: Any, *, name: str) -> Config:
    """``config_type`` from a dict (or an instance), raising ``ValueError`` in one line naming the parameter.

    Raises:
        ValueError: ``name.<field>: <what is wrong> (got <value>)``.
    """
    if isinstance(values, config_type):
        return values
    try:
        return config_type.model_validate(values if values is not None else {})
    except ValidationError as error:
        raise ValueError(describe_validation_error(error, prefix=name)) from None
