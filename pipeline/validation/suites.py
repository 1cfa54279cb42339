"""Suite files (``expectations/<dataset>.json``) and the definitions the gate runs: built-in checks + the file.

Pure: reading a file and tagging its expectations. Building the GX suite (and refusing one GX silently
shortened) is :func:`pipeline.validation.gx_runner.build_suite`. ``batchscore check`` lists every problem of a file
instead (:func:`suite_file_problems`, and :func:`gx_problems` with the GX module the caller imported).
"""

from __future__ import annotations

import difflib
import json
import logging
from pathlib import Path
from typing import Any

from pipeline.config.paths import expectations_dir
from pipeline.config.usecase import SEVERITIES, UseCase
from pipeline.errors import ConfigError
from pipeline.validation.checks import GateContext, builtin_expectations


class SuiteError(ConfigError):
    """An expectation suite file is unreadable or lost expectations while loading."""


def read_suite_file(path: Path) -> dict[str, Any]:
    """The JSON of a suite file, with a clear error when it is missing or malformed."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SuiteError(f"expectation suite not found: {path}") from None
    except json.JSONDecodeError as exc:
        raise SuiteError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("expectations"), list) or "name" not in data:
        raise SuiteError(f"{path}: a suite needs a 'name' and an 'expectations' list")
    for i, item in enumerate(data["expectations"]):
        severity = item.get("severity", "critical") if isinstance(item, dict) else None
        if severity not in SEVERITIES:
            raise SuiteError(f"{path}: expectation #{i + 1} has severity {severity!r}; use one of {SEVERITIES}")
    return data


def make_definition(name: str, expectations: list[dict[str, Any]], meta: dict[str, Any]) -> dict[str, Any]:
    """A suite definition with every expectation tagged by its position (GX reorders results)."""
    tagged = []
    for i, item in enumerate(expectations):
        item = {**item, "severity": item.get("severity", "critical")}
        item["meta"] = {**(item.get("meta") or {}), "position": i}
        tagged.append(item)
    return {"name": name, "expectations": tagged, "meta": meta}


def suite_definition(uc: UseCase, ctx: GateContext, suite_file: str | None = None) -> dict[str, Any]:
    """The batch suite: built-in checks for ``ctx`` plus the use case's suite file."""
    path = expectations_dir() / (suite_file or uc.validation.suite)
    data = read_suite_file(path)
    return make_definition(
        data["name"],
        builtin_expectations(uc, ctx) + list(data["expectations"]),
        {**data.get("meta", {}), "file": str(path)},
    )


#: the kwargs of GX expectations that name one column, or a list of them
COLUMN_KWARGS = ("column", "column_A", "column_B")
COLUMN_LIST_KWARGS = ("column_list", "column_set")


def suite_file_problems(path: Path, key: str, declared_in: Path, columns: set[str] | None, dataset: str) -> list[str]:
    """Every problem of one suite file that needs no GX, one line each naming the file, the expectation and the
    use-case key (``batchscore check``): unreadable JSON, a bad severity, an expectation that is not an object with
    a ``type`` and ``kwargs``, a column ``dataset`` does not have (``columns``: None when unknown)."""
    where = f"('{key}' of {declared_in})"
    try:
        data = read_suite_file(path)
    except SuiteError as exc:
        return [f"{exc} {where}"]
    problems = []
    for i, item in enumerate(data["expectations"]):
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("type"), str)
            or not isinstance(item.get("kwargs"), dict)
        ):
            problems.append(f"{path}: expectation #{i + 1} needs a 'type' (text) and 'kwargs' (an object) {where}")
            continue
        named = [item["kwargs"][k] for k in COLUMN_KWARGS if k in item["kwargs"]]
        for k in COLUMN_LIST_KWARGS:
            value = item["kwargs"].get(k)
            named += value if isinstance(value, list) else []
        for column in named:
            if columns is not None and column not in columns:
                problems.append(
                    f"{path}: expectation #{i + 1} ({item['type']}) names column {column!r}, which {dataset} "
                    f"does not have {where}"
                )
    return problems


def gx_problems(gx: Any, path: Path, key: str, declared_in: Path) -> list[str]:
    """Each expectation of a suite file GX (the module ``gx``, imported by the caller) does not take: an unknown
    type, which GX would drop with only a log line, or kwargs its model refuses; one line each, with the closest
    known type."""
    from great_expectations.expectations.registry import list_registered_expectation_implementations

    known = sorted(list_registered_expectation_implementations())
    problems = []
    quiet = logging.getLogger("great_expectations.core.expectation_suite")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # GX logs each type it drops with a traceback: the line below says it
    try:
        for i, item in enumerate(read_suite_file(path)["expectations"]):
            problems += _gx_problem(gx, known, path, i, item, f"('{key}' of {declared_in})")
    finally:
        quiet.setLevel(level)
    return problems


def _gx_problem(gx: Any, known: list[str], path: Path, i: int, item: dict[str, Any], where: str) -> list[str]:
    kind = item["type"]
    try:
        loaded = len(gx.ExpectationSuite(name="batchscore_check", expectations=[dict(item)]).expectations)
        reason = None if loaded else "is not an expectation type GX knows"
    except Exception as exc:  # GX's own models refuse the kwargs (pydantic errors, value errors)
        reason = "is refused by GX: " + " ".join(str(exc).split())[:200]
    if reason is None:
        return []
    close = difflib.get_close_matches(kind, known, n=1) if "knows" in reason else []
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return [f"{path}: expectation #{i + 1} ({kind}) {reason}{hint} {where}"]
