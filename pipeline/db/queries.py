"""Compose a use case's SQL files into the statements the stages run.

The batch query, the feature query over it and the label query are each written once; scoring and training
both go through the functions here, so training sees exactly the features scoring will see.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.config.usecase import UseCase
from pipeline.db.sql import load_sql, strip_trailing_semicolon


def batch_query(uc: UseCase) -> str:
    """The batch query (binds ``:date_from`` and ``:date_to``)."""
    return strip_trailing_semicolon(uc.query("batch"))


def features_query(uc: UseCase, batch_relation: str) -> str:
    """The feature query over ``batch_relation`` (a quoted table name or a parenthesised query)."""
    features = strip_trailing_semicolon(uc.query("features"))
    # composes project SQL files and a validated relation name; values stay bind parameters
    return f"with batch as (select * from {batch_relation} as b)\nselect * from (\n{features}\n) as features"  # noqa: S608


def freshness_body(uc: UseCase) -> str:
    """The use case's freshness query, as embedded in the probe."""
    return strip_trailing_semicolon(uc.query("freshness"))


def freshness_probe(uc: UseCase, probe_table: str) -> str:
    """CREATE the run's freshness probe (binds ``:score_date``) from the use case's freshness query."""
    return load_sql("validation/freshness_probe.sql", probe=probe_table).replace(
        "/* freshness query */", freshness_body(uc)
    )


def training_query(uc: UseCase) -> str:
    """Features joined to labels known at ``:known_at``, for score dates ``:date_from``..``:date_to``.

    The batch and the features are computed by the very queries scoring uses; only labels whose
    ``label_known_at`` is not after the cut-off enter.
    """
    batch = batch_query(uc)
    labels = strip_trailing_semicolon(uc.query("labels"))
    features = features_query(uc, f"(\n{batch}\n)")
    return (
        f"with features as (\n{features}\n),\nlabels as (\n{labels}\n)\n"
        "select features.*, labels.label\n"
        "from features\n"
        "join labels using (entity_id, score_date)\n"
        "where labels.label_known_at <= cast(:known_at as timestamptz)"
    )


def labelled_scores_query(uc: UseCase, scored_table: str) -> str:
    """Scores of ``scored_table`` (predictions or shadow scores, a quoted name) joined to the labels known at
    ``:as_of``, for score dates ``:date_from``..``:date_to``."""
    labels = strip_trailing_semicolon(uc.query("labels"))
    return load_sql("monitoring/labelled_scores.sql", scored=scored_table).replace("/* labels query */", labels)


@dataclass(frozen=True)
class QueryProblem:
    """A use-case SQL file the database refused: which file (and line, and key), and the database's message."""

    what: str
    where: str
    message: str

    def line(self) -> str:
        return f"the {self.what} ({self.where}) fails: {self.message}"


def explain_query_error(
    exc: BaseException, *, what: str, key: str, relative_path: str, statement: str, query: str, file_text: str
) -> QueryProblem | None:
    """One line for a database error a use case's SQL file caused: the file, the line, the key that names it and
    the database's own message; None when the error is not the file's doing (a lost connection, a lock...).

    ``statement`` is the text sent (our template around ``query``, the file's text as composed); the line is found
    from the position the server reports, counted in lines (bind values add no line)."""
    orig = getattr(exc, "orig", exc)
    code = getattr(orig, "pgcode", None)
    if not isinstance(code, str) or code[:2] not in ("42", "22"):
        return None
    diag = getattr(orig, "diag", None)
    primary = (getattr(diag, "message_primary", None) or str(orig).strip().splitlines()[0]).strip()
    line = _file_line(orig, statement, query, file_text)
    shown_path = relative_path if relative_path.startswith("/") else f"sql/{relative_path}"
    where = shown_path + (f" line {line}" if line else "") + f", key '{key}'"
    return QueryProblem(what, where, primary[:300])


def _file_line(orig: Any, statement: str, query: str, file_text: str) -> int | None:
    position = getattr(getattr(orig, "diag", None), "statement_position", None)
    sent = getattr(getattr(orig, "cursor", None), "query", None)
    if not position or sent is None or query not in statement:
        return None
    sent_text = sent.decode("utf-8", "replace") if isinstance(sent, bytes) else str(sent)
    error_line = sent_text[: int(position) - 1].count("\n")
    query_line = statement[: statement.index(query)].count("\n")
    leading = file_text[: len(file_text) - len(file_text.lstrip())].count("\n")
    line = error_line - query_line + leading + 1
    return line if 1 <= line <= file_text.count("\n") + 1 else None
