import pytest
import sqlalchemy as sa

from pipeline.db.engine import DatabaseConfigError
from pipeline.db.migrations import migrate, migration_files


def test_migrations_are_recorded_once_and_reapplying_is_a_no_op(engine):
    assert migrate(engine) == []
    with engine.connect() as conn:
        applied = conn.execute(sa.text("select version from batchscore.schema_migrations order by 1")).scalars().all()
    assert applied == [v for v, _ in migration_files()]


def test_a_migration_edited_after_it_was_applied_is_refused(engine):
    with engine.begin() as conn:
        conn.execute(sa.text("update batchscore.schema_migrations set checksum = 'edited' where version = 1"))
    try:
        with pytest.raises(DatabaseConfigError, match="0001_core.sql changed after it was applied"):
            migrate(engine)
    finally:
        import hashlib

        path = dict(migration_files())[1]
        with engine.begin() as conn:
            conn.execute(
                sa.text("update batchscore.schema_migrations set checksum = :c where version = 1"),
                {"c": hashlib.sha256(path.read_text().encode()).hexdigest()},
            )


def test_the_database_allows_only_one_champion_per_use_case(engine):
    row = dict(
        use_case="uc_one_champion",
        created_by="t",
        train_from="2013-01-01",
        train_to="2013-01-02",
        holdout_from="2013-01-03",
        holdout_to="2013-01-04",
        train_rows=1,
        holdout_rows=1,
        features="{}",
        hyperparameters="{}",
        holdout_metrics="{}",
        threshold=0.5,
        artifact_path="x",
        artifact_sha256="0" * 64,
        sklearn_version="1",
        python_version="3",
        code_version="0",
    )
    insert = sa.text(
        "insert into batchscore.model_versions (use_case, version, status, created_by, train_from, train_to, "
        "holdout_from, holdout_to, train_rows, holdout_rows, features, hyperparameters, holdout_metrics, "
        "threshold, artifact_path, artifact_sha256, sklearn_version, python_version, code_version) values "
        "(:use_case, :version, 'champion', :created_by, :train_from, :train_to, :holdout_from, :holdout_to, "
        ":train_rows, :holdout_rows, cast(:features as jsonb), cast(:hyperparameters as jsonb), "
        "cast(:holdout_metrics as jsonb), :threshold, :artifact_path, :artifact_sha256, :sklearn_version, "
        ":python_version, :code_version)"
    )
    with pytest.raises(sa.exc.IntegrityError, match="model_versions_one_champion"), engine.begin() as conn:
        conn.execute(insert, {**row, "version": "v1"})
        conn.execute(insert, {**row, "version": "v2"})


def test_a_failing_script_raises_what_conn_execute_would_with_the_driver_error_inside(engine):
    from pipeline.db.engine import run_script

    with pytest.raises(sa.exc.ProgrammingError) as failed, engine.begin() as conn:
        run_script(conn, "select 1;\nselect * from batchscore.no_such_table_here")
    assert failed.value.orig.pgcode == "42P01"  # undefined_table
    assert "no_such_table_here" in str(failed.value)
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        run_script(conn, "create temporary table t (k int primary key); insert into t values (1), (1)")


def test_advisory_locks_taken_out_of_order_are_refused_and_the_order_resets_per_transaction(engine):
    from pipeline.db.locks import Lock, LockOrderError, advisory_lock

    with engine.begin() as conn:
        advisory_lock(conn, Lock.BI_VIEWS)
        advisory_lock(conn, Lock.PREDICTIONS_TABLE, "some_case")  # in order
        with pytest.raises(LockOrderError, match="BI_VIEWS requested after PREDICTIONS_TABLE"):
            advisory_lock(conn, Lock.BI_VIEWS)
    with engine.begin() as conn:  # a new transaction holds nothing
        advisory_lock(conn, Lock.BI_VIEWS)
        held = conn.execute(
            sa.text("select count(*) from pg_locks where locktype = 'advisory' and pid = pg_backend_pid()")
        ).scalar_one()
        assert held == 1


def test_the_lock_order_is_tracked_per_transaction_without_an_explicit_begin(engine):
    from pipeline.db.locks import Lock, LockOrderError, advisory_lock

    with engine.connect() as conn:  # autobegin: no transaction yet when the first lock is asked for
        advisory_lock(conn, Lock.MODEL_REGISTRY, "some_case")
        with pytest.raises(LockOrderError):
            advisory_lock(conn, Lock.BI_VIEWS)
        conn.rollback()
    with engine.connect() as conn:  # the same pooled connection, a new transaction: nothing held
        advisory_lock(conn, Lock.BI_VIEWS)
        conn.rollback()


def test_a_fresh_database_migrates_on_a_server_where_another_database_made_the_bi_role(engine):
    """The BI role is server-wide: a second database's first migration must not probe a schema it lacks yet."""
    import uuid

    from pipeline.db.bi import BI_ROLE

    with engine.connect() as conn:
        assert conn.execute(sa.text("select exists (select from pg_roles where rolname = :r)"), {"r": BI_ROLE}).scalar()
    name = f"batchscore_fresh_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(engine.url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'create database "{name}"')
    fresh = sa.create_engine(engine.url.set(database=name), poolclass=sa.pool.NullPool)
    try:
        applied = migrate(fresh)
        assert applied == [path.name for _, path in migration_files()]
        with fresh.connect() as conn:
            usage = conn.execute(
                sa.text("select has_schema_privilege(:r, 'batchscore', 'USAGE')"), {"r": BI_ROLE}
            ).scalar()
        assert usage
    finally:
        fresh.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'drop database if exists "{name}"')
        admin.dispose()
