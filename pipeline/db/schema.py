"""The schemas batchscore owns, the tables in them, and which module is the only one that writes each table.

One source of truth for names: every qualified name of a batchscore table is built here. The owner map is
checked by a test that looks for writes (INSERT, UPDATE, DELETE) in the package and in ``sql/``.
"""

from __future__ import annotations

from pipeline.db.sql import qualified

SCHEMA = "batchscore"
STAGING_SCHEMA = "batchscore_staging"

#: table -> the module that alone writes it (the predictions tables of use cases: pipeline.db.predictions; which use
#: case owns each of them: output_tables)
TABLE_OWNERS: dict[str, str] = {
    "schema_migrations": "pipeline.db.migrations",
    "scoring_runs": "pipeline.db.ledger",
    "model_versions": "pipeline.model.registry",
    "promotion_decisions": "pipeline.model.registry",
    "validation_results": "pipeline.validation.gate",
    "drift_metrics": "pipeline.monitoring.drift_store",
    "model_performance": "pipeline.monitoring.performance",
    "alerts": "pipeline.monitoring.alerts",
    "staging_runs": "pipeline.db.staging",
    "output_tables": "pipeline.db.ownership",
}


def table(name: str) -> str:
    """The quoted, qualified name of a table (or view) in the ``batchscore`` schema."""
    return qualified(SCHEMA, name)


def staging(name: str) -> str:
    """The quoted, qualified name of a table in the staging schema."""
    return qualified(STAGING_SCHEMA, name)
