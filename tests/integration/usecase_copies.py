"""Use cases declared the way a data scientist would: a copy of a shipped TOML file (and, where a test needs it,
of its SQL files) in a temporary folder, under its own name and tables, changed as text.

Also the pipeline factories the copies may name in ``[model] pipeline`` (importable as
``tests.integration.usecase_copies:<function>``).
"""

from __future__ import annotations

import re
from pathlib import Path

from pipeline.config.loading import load_usecase
from pipeline.config.paths import sql_dir, usecases_dir


def copy_usecase(
    folder: Path,
    base: str,
    name: str,
    *,
    replace: dict[str, str] | None = None,
    model: str | None = None,
    sql: dict[str, str] | None = None,
):
    """Write ``<folder>/<name>.toml``, a copy of ``usecases/<base>.toml`` named ``name`` with its own predictions
    and shadow tables; ``replace``: text replacements; ``model``: the ``[model]`` tables' new text (everything
    from ``[model]`` to the next table that is not ``[model.*]``); ``sql``: kind -> SQL text written next to the
    TOML file and named by absolute path. Returns the loaded use case."""
    text = (usecases_dir() / f"{base}.toml").read_text(encoding="utf-8")
    text = text.replace(f'name = "{base}"', f'name = "{name}"', 1)
    text = re.sub(r"(?m)^predictions_table = .*$", f'predictions_table = "{name}_predictions"', text)
    text = re.sub(r"(?m)^shadow_table = .*$\n?", "", text)
    text = re.sub(r"(?m)^views_prefix = .*$\n?", "", text)
    text = text.replace(
        f'predictions_table = "{name}_predictions"',
        f'predictions_table = "{name}_predictions"\nshadow_table = "{name}_shadow"',
        1,
    )
    for old, new in (replace or {}).items():
        assert old in text, f"{old!r} is not in usecases/{base}.toml"
        text = text.replace(old, new)
    if model is not None:
        text = re.sub(r"(?ms)^\[model\]\n.*?(?=^\[(?!model)[a-z_.]+\]$)", model.strip() + "\n\n", text, count=1)
    for kind, query in (sql or {}).items():
        path = folder / f"{name}_{kind}.sql"
        path.write_text(query, encoding="utf-8")
        text = re.sub(rf'(?m)^{kind} = "[^"]*"', f'{kind} = "{path}"', text, count=1)
    path = folder / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return load_usecase(str(path))


def shipped_sql(relative: str) -> str:
    """The text of a shipped SQL file (``usecases/<name>/batch.sql``...)."""
    return (sql_dir() / relative).read_text(encoding="utf-8")


def small_forest(uc):
    """A use case's own pipeline: one-hot categoricals (unknown ignored), numerics imputed, a small random forest."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    columns = ColumnTransformer(
        [
            ("categories", OneHotEncoder(handle_unknown="ignore"), list(uc.features.categorical)),
            ("numbers", SimpleImputer(strategy="median"), list(uc.features.numeric)),
        ]
    )
    forest = RandomForestClassifier(n_estimators=30, max_depth=8, random_state=uc.model.random_state, n_jobs=1)
    return Pipeline([("columns", columns), ("forest", forest)])


def not_a_model(uc):
    """A factory that returns something no night could score with."""
    return {"features": list(uc.feature_columns)}
