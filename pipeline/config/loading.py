"""Reading a use-case file: TOML -> :class:`~pipeline.config.usecase.UseCase`, or one line naming file and key.

Every problem is reported as ``<file>: '<key.path>' <what is wrong>``; an unknown key also says which known key
it most resembles (``usecases/x.toml: 'validation.range': unknown key (did you mean 'ranges'?)``). Nothing
touches a database here: a bad declaration is refused before any work starts.
"""

from __future__ import annotations

import copy
import difflib
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from pipeline.config.identifiers import check_identifier
from pipeline.config.paths import expectations_dir, sql_dir, usecases_dir
from pipeline.config.settings import load_settings
from pipeline.config.usecase import DeclarationProblem, UseCase
from pipeline.errors import ConfigError

#: pydantic's error types -> what the line says after the key
_TYPE_WORDS = {
    "int_type": "must be int",
    "int_parsing": "must be int",
    "int_from_float": "must be int",
    "float_type": "must be int or float",
    "float_parsing": "must be int or float",
    "string_type": "must be str",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
    "dict_type": "must be a table",
    "model_type": "must be a table",
    "model_attributes_type": "must be a table",
}


_VERBS = {"must", "is", "has", "names", "may", "needs", "does", "declare"}


class UseCaseError(ConfigError):
    """The use-case declaration is invalid; the message names the file and the key."""


def usecase_path(name: str) -> Path:
    """The TOML file of a use case: a path, or a name looked up in ``usecases/``."""
    candidate = Path(name)
    if candidate.suffix == ".toml":
        return candidate.resolve()
    check_identifier(name, what="use-case name")
    return usecases_dir() / f"{name}.toml"


def available_usecases() -> list[str]:
    """The names of the use cases in ``usecases/``."""
    return sorted(p.stem for p in usecases_dir().glob("*.toml"))


def load_usecase(name: str | None = None) -> UseCase:
    """Load and validate a use case (default: ``BATCHSCORE_USECASE`` or ``flight_cancellation``)."""
    path = usecase_path(name or load_settings().default_usecase)
    if not path.is_file():
        raise UseCaseError(f"use case file not found: {path} (available: {', '.join(available_usecases()) or 'none'})")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise UseCaseError(f"{path}: not valid TOML: {exc}") from None
    return parse_usecase(raw, path)


def parse_usecase(raw: dict[str, Any], path: Path) -> UseCase:
    """Validate a parsed declaration and read the SQL files it names (no database work)."""
    try:
        declared = UseCase.model_validate(raw)
    except ValidationError as exc:
        raise UseCaseError(f"{path}: {describe_error(exc.errors()[0], UseCase)}") from None
    except DeclarationProblem as problem:
        raise UseCaseError(f"{path}: {key_line(problem.key, problem.message)}") from None
    return declared.with_queries(path, _read_files(declared, path))


def with_overrides(uc: UseCase, changes: dict[str, Any]) -> UseCase:
    """A copy of ``uc`` with some keys changed (dotted paths, as in the file), validated like a file would be."""
    raw = uc.model_dump(mode="python", exclude_none=True)
    for key, value in changes.items():
        node = raw
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = copy.deepcopy(value)
    return parse_usecase(raw, uc.path)


def _read_files(uc: UseCase, path: Path) -> dict[str, str]:
    queries = {}
    named = {
        "batch": ("sql.batch", uc.sql.batch),
        "features": ("sql.features", uc.sql.features),
        "labels": ("sql.labels", uc.sql.labels),
    }
    if uc.validation.freshness is not None:
        named["freshness"] = ("validation.freshness", uc.validation.freshness)
    for kind, (key, relative) in named.items():
        file = sql_dir() / relative
        if not file.is_file():
            raise UseCaseError(f"{path}: '{key}' names a missing SQL file: sql/{relative}")
        queries[kind] = file.read_text(encoding="utf-8")
    for key, suite in (
        ("validation.suite", uc.validation.suite),
        ("validation.training_suite", uc.validation.training_suite),
    ):
        if suite is not None and not (expectations_dir() / suite).is_file():
            raise UseCaseError(f"{path}: '{key}' names a missing suite file: expectations/{suite}")
    return queries


def key_line(key: str, message: str) -> str:
    """``'key' must be ...`` when the message reads on from the key, else ``'key': message``."""
    return f"'{key}' {message}" if message.split(" ", 1)[0] in _VERBS else f"'{key}': {message}"


def describe_error(error: Any, root: type[BaseModel]) -> str:
    """One pydantic error as ``'<key.path>' <what is wrong>`` (pure)."""
    if error["loc"] and isinstance(error["loc"][-1], int):  # an element of a list: name the list
        key = ".".join(str(part) for part in error["loc"] if not isinstance(part, int))
        if error["type"] == "missing":
            return f"'{key}' has too few values"
    loc = [str(part) for part in error["loc"]]
    key = ".".join(loc)
    kind = error["type"]
    if kind == "missing":
        return f"missing key '{key}'"
    if kind == "extra_forbidden":
        parent = _model_at(root, loc[:-1])
        if parent is not None and hasattr(parent, "unknown_key_message"):
            return f"'{key}' {parent.unknown_key_message()}"
        known = sorted(parent.model_fields) if parent is not None else []
        close = difflib.get_close_matches(loc[-1], known, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"'{key}': unknown key{hint}"
    given = error.get("input")
    if kind == "value_error":
        return key_line(key, str(error["ctx"]["error"]))
    if kind == "literal_error":
        return f"'{key}' must be one of {error['ctx']['expected']}, got {given!r}"
    if kind in ("too_short", "too_long"):
        return (
            f"'{key}' must be a list of {error['ctx'].get('max_length') or error['ctx'].get('min_length')} "
            f"values, got {given!r}"
        )
    if kind in _TYPE_WORDS:
        return f"'{key}' {_TYPE_WORDS[kind]}, got {given!r}"
    return f"'{key}' {error['msg'][:1].lower()}{error['msg'][1:]}, got {given!r}"


def _model_at(root: type[BaseModel], loc: list[str]) -> type[BaseModel] | None:
    """The model class of the table at ``loc`` (None inside a free-form table)."""
    model: Any = root
    for part in loc:
        field = model.model_fields.get(part) if isinstance(model, type) and issubclass(model, BaseModel) else None
        if field is None:
            return None
        model = field.annotation
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None
