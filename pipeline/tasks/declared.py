"""The use cases the DAG files generate DAGs for, read from the TOML files alone at parse time.

Two readings of ``usecases/*.toml``, both without a database:

- :func:`declared_usecases` reads the keys a DAG is built from (``name``, ``description``, ``[schedule]``) with
  ``tomllib`` and the ``[schedule]`` model: cheap, no scikit-learn, so the three generating DAG files stay light.
  A file whose keys cannot make DAGs is left out (the others are generated as usual).
- :func:`check_declarations` checks every file fully, as a load would (SQL files, suites, the estimator
  constructed, output tables), and raises one error listing every problem, each with its file and key.
  ``dags/declarations.py`` calls it, so that the refusal is an import error of that file, which holds no DAG.
  Airflow 3.3 marks every DAG of a file with an import error stale and ``has_import_errors`` (neither scheduled
  nor triggerable; ``airflow/dag_processing/collection.py::_update_import_errors``): raised from the generating
  files, one broken file would take every use case's DAGs down with it. (A Python warning would not do either:
  the dag-processor does not send a file's captured warnings to the metadata database, so the UI never shows
  them.)
"""

from __future__ import annotations

import logging
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipeline.config import paths
from pipeline.config.loading import UseCaseError, declaration_problems, describe_error
from pipeline.config.schedule import MANUAL, ScheduleSpec
from pipeline.config.types import Name, Text
from pipeline.errors import ConfigError
from pipeline.orchestration.naming import DagKind, dag_id

log = logging.getLogger(__name__)


class DagKeys(BaseModel):
    """The keys of a use-case file a DAG is built from; the rest is checked by the full load."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    name: Name
    description: Text = ""
    schedule: ScheduleSpec = Field(default_factory=ScheduleSpec)


@dataclass(frozen=True)
class DeclaredUseCase:
    """One use case as the DAG files see it: its name, file, description and schedule."""

    name: str
    path: Path
    description: str
    schedule: ScheduleSpec

    def dag_id(self, kind: DagKind) -> str:
        """The id of this use case's DAG of ``kind``."""
        return dag_id(self.name, kind)

    @property
    def champion_asset(self) -> tuple[str, str]:
        """(name, uri) of the asset a change of this use case's champion emits: ``<name>__champion``,
        ``model://<name>/champion``."""
        return f"{self.name}__champion", f"model://{self.name}/champion"

    def cron(self, kind: DagKind) -> str:
        """The cron of the kind's DAG (``"none"`` for rollback, which only runs when triggered)."""
        return {"score": self.schedule.score, "retrain": self.schedule.retrain}.get(kind, MANUAL)

    def timetable(self, kind: DagKind) -> Any:
        """The DAG's ``schedule``: a CronTriggerTimetable in the use case's time zone, or None (``"none"``)."""
        from pipeline.orchestration.schedules import timetable

        return timetable(self.cron(kind), self.schedule.timezone)

    def schedule_text(self, kind: DagKind) -> str:
        """The schedule in words, for the DAG's description and docs."""
        cron = self.cron(kind)
        if cron == MANUAL:
            return "manual only (schedule `none`: runs when triggered)"
        return f"cron `{cron}` ({self.schedule.timezone})"


def read_declaration(path: Path) -> DeclaredUseCase:
    """The DAG keys of one use-case file; :class:`UseCaseError` naming the file and key otherwise."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise UseCaseError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise UseCaseError(f"{path}: cannot be read: {exc.strerror}") from None
    try:
        keys = DagKeys.model_validate(raw)
    except ValidationError as exc:
        raise UseCaseError(f"{path}: {describe_error(exc.errors()[0], DagKeys)}") from None
    if keys.name != path.stem:
        raise UseCaseError(
            f"{path}: 'name' must be the file's name {path.stem!r} (its DAG ids carry it), got {keys.name!r}"
        )
    return DeclaredUseCase(keys.name, path, keys.description, keys.schedule)


def usecase_files() -> list[Path]:
    """The use-case files of the deployment, ``usecases/*.toml``, by name."""
    return sorted(paths.usecases_dir().glob("*.toml"))


def declared_usecases() -> list[DeclaredUseCase]:
    """Every use case whose DAG keys are valid, by name (a file that is not is logged and left out;
    :func:`check_declarations` names it as the import error of ``dags/declarations.py``)."""
    declared = []
    for path in usecase_files():
        try:
            declared.append(read_declaration(path))
        except UseCaseError as exc:
            log.warning("no DAGs for %s: %s", path.name, exc)
    return declared


def usecase_file_problems() -> list[str]:
    """One line per problem of the use-case files (file and key): their DAG keys, then everything a full load
    checks (:func:`pipeline.config.loading.declaration_problems`: SQL and suite files, the estimator, tables)."""
    problems = []
    for path in usecase_files():
        try:
            read_declaration(path)
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except UseCaseError as exc:
            problems.append(str(exc))
            continue
        problems += declaration_problems(raw, path)[1]
    return problems


class DeclarationsRefused(ConfigError):
    """Some use-case files are refused; the message has one line per file, naming the key."""


def check_declarations() -> None:
    """Raise :class:`DeclarationsRefused` listing every problem of every refused use-case file (one line each),
    or return when all of them load."""
    problems = usecase_file_problems()
    if problems:
        files = len({line.split(": ", 1)[0] for line in problems})
        raise DeclarationsRefused(
            f"{files} use-case file{'s' if files > 1 else ''} refused (the other use cases' DAGs are live; a "
            "refused file's DAGs are missing when its name or [schedule] is wrong, and fail at their first task "
            "otherwise):\n" + "\n".join(problems)
        )
