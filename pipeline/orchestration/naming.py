"""The ids of the DAGs generated per use case: ``<use case>__score``, ``<use case>__retrain``, ``<use case>__rollback``.

Pure (no Airflow): the DAG files, the failure callbacks, ``batchscore run`` and the demo all name DAGs through it.
"""

from __future__ import annotations

from typing import Literal

from pipeline.errors import ConfigError

DagKind = Literal["score", "retrain", "rollback"]
#: the DAGs every use case gets, by kind
DAG_KINDS: tuple[DagKind, ...] = ("score", "retrain", "rollback")
#: between the use-case name and the kind (the last one splits: no kind holds it)
SEPARATOR = "__"
#: the task whose XCom says which date a failed run was about, per kind
FIRST_TASK: dict[str, str] = {"score": "extract", "retrain": "build_training_set"}
#: the date param of each kind (the one ``batchscore run --date`` fills)
DATE_PARAM: dict[str, str] = {"score": "score_date", "retrain": "cutoff_date"}


def dag_id(usecase: str, kind: DagKind) -> str:
    """The id of one of a use case's DAGs (``flight_cancellation__score``)."""
    if kind not in DAG_KINDS:
        raise ConfigError(f"no DAG kind {kind!r}; the kinds: {', '.join(DAG_KINDS)}")
    return f"{usecase}{SEPARATOR}{kind}"


def parse_dag_id(value: str) -> tuple[str, DagKind] | None:
    """(use case, kind) of a generated DAG id, or None when ``value`` is not one."""
    usecase, sep, kind = value.rpartition(SEPARATOR)
    if not sep or not usecase or kind not in DAG_KINDS:
        return None
    return usecase, kind  # type: ignore[return-value]


def resolve_dag_id(value: str, usecase: str | None, default_usecase: str) -> str:
    """The DAG ``batchscore run`` addresses: a full id (``departure_disruption__score``), or a kind (``score``)
    of ``usecase`` (default: ``default_usecase``). A full id naming another use case than ``usecase`` is refused."""
    if value in DAG_KINDS:
        return dag_id(usecase or default_usecase, value)  # type: ignore[arg-type]
    parsed = parse_dag_id(value)
    if parsed is None:
        raise ConfigError(
            f"{value!r} is not a DAG of batchscore: give <use case>{SEPARATOR}<kind> (e.g. "
            f"{dag_id(default_usecase, 'score')}) or a kind ({', '.join(DAG_KINDS)}) with --usecase"
        )
    if usecase is not None and parsed[0] != usecase:
        raise ConfigError(f"DAG {value} belongs to use case {parsed[0]!r}, not to --usecase {usecase!r}")
    return value
