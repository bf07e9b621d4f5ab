"""The JSON form of the dataclasses that cross the layers, both ways, in one place.

The engine, the execution service and the task layer return dataclasses; what goes on a wire (a
task record or a message in Redis, a WebSocket message, a callback, an answer's free-form part) is
their JSON form: the fields in the order they are declared, nested dataclasses as objects. A field
declared with `OMIT_NONE` is left out while it is None (a line's `text`, read only when asked);
every other None is `null`. `read` turns that form back into the dataclass (pydantic validates it
on the way: nested dataclasses, tuples and enums come back as they were).

Plain data: it imports nothing of the app, so that every layer may use it.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from pydantic import TypeAdapter

T = TypeVar("T")

OMIT_NONE: dict[str, Any] = {"omit_none": True}  # a field's metadata: absent from the JSON form while None


def plain(value: Any) -> Any:
    """`value` as JSON-ready data (dicts, lists, strings, numbers, booleans, None): dataclasses by
    their fields, tuples as lists, everything else as it is (a StrEnum is a string)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(v) for f in dataclasses.fields(value)
                if not ((v := getattr(value, f.name)) is None and f.metadata.get("omit_none"))}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


_ADAPTERS: dict[Any, TypeAdapter[Any]] = {}  # one per kind: building one costs more than a validation


def read(kind: type[T], data: Any) -> T:
    """`plain`'s form back into a `kind` (a ValidationError when it is not one)."""
    adapter = _ADAPTERS.get(kind)
    if adapter is None:
        adapter = _ADAPTERS[kind] = TypeAdapter(kind)
    value: T = adapter.validate_python(data)
    return value
