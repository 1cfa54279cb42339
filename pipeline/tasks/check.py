"""``batchscore check``, and the same checks as the first step of ``train`` and of every scoring and retraining run
(:mod:`pipeline.validation.declaration`)."""

from __future__ import annotations

import logging
from typing import TypedDict

from pipeline.db.engine import get_engine
from pipeline.errors import ConfigError

log = logging.getLogger(__name__)


class DeclarationCheck(TypedDict):
    """What a declaration check found: every problem's line (none: the declaration is fine) and the ok line."""

    usecase: str
    path: str
    probe_date: str | None
    problems: list[str]
    summary: str
    seconds: float


class DeclarationError(ConfigError):
    """The use case's declaration has problems; the message lists each on its own line (file and key)."""

    def __init__(self, problems: list[str]) -> None:
        head = [] if len(problems) == 1 else [f"{len(problems)} problems in the use-case declaration:"]
        super().__init__("\n".join(head + problems))
        self.problems = problems


def check_usecase(usecase: str | None = None, *, at_run: bool = False, refuse: bool = True) -> DeclarationCheck:
    """Check a use case's declaration (name or TOML path) against its files and the database, without training.

    ``at_run`` (the first task of a scoring or retraining run): without GX (the run's validation builds its suite
    and refuses an unknown expectation type itself) and without the problems the run's own stages reject as data
    (a source the queries no longer fit). ``refuse``: raise :class:`DeclarationError` when there is any problem;
    otherwise the problems are in the result (``batchscore check`` prints them).
    """
    from pipeline.validation.declaration import check_declaration

    report = check_declaration(get_engine(), usecase, gx=not at_run)
    problems = report.lines(at_run=at_run)
    if problems and refuse:
        raise DeclarationError(problems)
    deferred = len(report.problems) - len(problems)
    if deferred:
        log.warning(
            "%s: %d problem(s) of the source left to the run's stages: %s",
            report.path,
            deferred,
            "; ".join(p.line for p in report.problems if p.source),
        )
    log.info("declaration of %s checked in %.2fs", report.path, report.seconds)
    return DeclarationCheck(
        usecase=report.usecase.name if report.usecase else report.path.stem,
        path=str(report.path),
        probe_date=report.probe_date.isoformat() if report.probe_date else None,
        problems=problems,
        summary=report.summary() if report.usecase is not None and not problems else "",
        seconds=round(report.seconds, 3),
    )


def check_lines(result: DeclarationCheck) -> list[str]:
    """What ``batchscore check`` prints: every problem and their count, or the ok line."""
    if not result["problems"]:
        return [result["summary"]]
    return [
        *result["problems"],
        f"{len(result['problems'])} problem(s) in {result['path']} ({result['seconds']:.1f} s)",
    ]
