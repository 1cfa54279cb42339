"""Reading a use-case file: TOML -> :class:`~pipeline.config.usecase.UseCase`, or one line naming file and key.

Every problem is reported as ``<file>: '<key.path>' <what is wrong>``; an unknown key also says which known key
it most resembles (``usecases/x.toml: 'validation.range': unknown key (did you mean 'ranges'?)``). Nothing
touches a database here: a bad declaration is refused before any work starts.

Paths in ``[sql]`` and ``validation.freshness`` are relative to ``sql/``, suite files relative to
``expectations/``; an absolute path is taken as it is (a use case kept outside the repository).

A predictions or shadow table belongs to one use case: loading a use case that names a table another TOML in
``usecases/`` also names (the defaults count) is refused, naming both files and the key
(:func:`table_claim_problems`). The database keeps the same rule at publish (:mod:`pipeline.db.ownership`).
"""

from __future__ import annotations

import copy
import difflib
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from pipeline.config.identifiers import check_identifier
from pipeline.config.paths import expectations_dir, sql_dir, usecases_dir
from pipeline.config.settings import load_settings
from pipeline.config.tables import OutputSpec
from pipeline.config.usecase import DeclarationProblem, UseCase
from pipeline.errors import ConfigError

#: the keys of [output] that name a table of the use case's own, in schema batchscore
OUTPUT_TABLE_KEYS = ("predictions_table", "shadow_table")

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
    return parse_usecase(read_toml(path), path)


def read_toml(path: Path) -> dict[str, Any]:
    """The parsed TOML of a use-case file; one line when it is missing or not valid TOML."""
    if not path.is_file():
        raise UseCaseError(f"use case file not found: {path} (available: {', '.join(available_usecases()) or 'none'})")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise UseCaseError(f"{path}: not valid TOML: {exc}") from None


def parse_usecase(raw: dict[str, Any], path: Path) -> UseCase:
    """Validate a parsed declaration and read the SQL files it names (no database work)."""
    try:
        declared = UseCase.model_validate(raw)
    except ValidationError as exc:
        raise UseCaseError(f"{path}: {describe_error(exc.errors()[0], UseCase)}") from None
    except DeclarationProblem as problem:
        raise UseCaseError(f"{path}: {key_line(problem.key, problem.message)}") from None
    queries, problems = _read_files(declared, path)
    problems += table_claim_problems(declared, path)
    if problems:
        raise UseCaseError(problems[0])
    return declared.with_queries(path, queries)


def declaration_problems(raw: dict[str, Any], path: Path) -> tuple[UseCase | None, list[str]]:
    """Every problem the loader can find in a parsed declaration, one line each (``batchscore check``); the use
    case too when it loads. :func:`parse_usecase` stops at the first of the same lines."""
    try:
        declared = UseCase.model_validate(raw)
    except ValidationError as exc:
        return None, [f"{path}: {describe_error(error, UseCase)}" for error in exc.errors()]
    except DeclarationProblem as problem:
        return None, [f"{path}: {key_line(problem.key, problem.message)}"]
    queries, problems = _read_files(declared, path)
    problems += table_claim_problems(declared, path)
    return (None if problems else declared.with_queries(path, queries)), problems


def table_claim_problems(uc: UseCase, path: Path) -> list[str]:
    """The output tables ``uc`` names that another use case in ``usecases/`` also names (the defaults count).

    Cheap, because it runs whenever a use case loads (every DAG parse): the other files' ``[output]`` tables only,
    read with tomllib and cached by file and modification time, no validation. A file declaring the same ``name``
    is the same use case (a copy of it, e.g. with other windows), not a rival. A file that is not valid TOML is
    skipped here: its own load reports it.
    """
    problems = []
    mine = {getattr(uc.output, key): key for key in OUTPUT_TABLE_KEYS}
    if len(mine) < len(OUTPUT_TABLE_KEYS):
        problems.append(
            f"{path}: 'output.shadow_table' names the predictions table {uc.output.shadow_table!r}: "
            "the shadow scores need a table of their own"
        )
    here = path.resolve()
    for other in sorted(usecases_dir().glob("*.toml")):
        if other.resolve() == here:
            continue
        stat = other.stat()
        name, tables = _output_tables(other, stat.st_mtime_ns, stat.st_size)
        if name == uc.name:
            continue
        tables = dict(tables)  # (the cached reading stays as it is)
        theirs = tables.pop("views_prefix", None)
        if theirs == uc.views_prefix:
            problems.append(
                f"{path}: its BI views {uc.views_prefix}latest_predictions and {uc.views_prefix}daily_summary "
                f"would replace those of {other} (use case {name!r}), which has the same views prefix: set "
                "'output.views_prefix' to a prefix of its own"
            )
        for other_key, table in tables.items():
            if table in mine:
                problems.append(
                    f"{path}: 'output.{mine[table]}' names batchscore.{table}, which {other} (use case {name!r}) "
                    f"also names as 'output.{other_key}': a table belongs to one use case, choose another name"
                )
    return problems


@lru_cache(maxsize=256)
def _output_tables(path: Path, mtime_ns: int, size: int) -> tuple[str, dict[str, str]]:
    """(use-case name, {key: table}) of a TOML file's ``[output]``, defaults filled in, plus its ``views_prefix``;
    a broken file names none."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return path.stem, {}
    output: dict[str, Any] = raw["output"] if isinstance(raw.get("output"), dict) else {}
    name: str = raw["name"] if isinstance(raw.get("name"), str) else path.stem
    tables = {}
    for key in OUTPUT_TABLE_KEYS:
        value = output.get(key, OutputSpec.model_fields[key].default)
        if isinstance(value, str):
            tables[key] = value
    prefix = output.get("views_prefix", f"v_{name}_")
    if isinstance(prefix, str):
        tables["views_prefix"] = prefix
    return name, tables


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


def _read_files(uc: UseCase, path: Path) -> tuple[dict[str, str], list[str]]:
    """The texts of the SQL files the use case names, and a line for every file that is missing."""
    queries, problems = {}, []
    named = {
        "batch": ("sql.batch", uc.sql.batch),
        "features": ("sql.features", uc.sql.features),
        "labels": ("sql.labels", uc.sql.labels),
    }
    if uc.validation.freshness is not None:
        named["freshness"] = ("validation.freshness", uc.validation.freshness)
    for kind, (key, relative) in named.items():
        file = sql_dir() / relative  # an absolute path stays as it is
        if not file.is_file():
            problems.append(f"{path}: '{key}' names a missing SQL file: {shown(relative, 'sql')}")
            continue
        queries[kind] = file.read_text(encoding="utf-8")
    for key, suite in (
        ("validation.suite", uc.validation.suite),
        ("validation.training_suite", uc.validation.training_suite),
    ):
        if suite is not None and not (expectations_dir() / suite).is_file():
            problems.append(f"{path}: '{key}' names a missing suite file: {shown(suite, 'expectations')}")
    return queries, problems


def shown(relative: str, folder: str) -> str:
    """How a message names a declared file: ``<folder>/<path>``, or the absolute path as declared."""
    return relative if Path(relative).is_absolute() else f"{folder}/{relative}"


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
