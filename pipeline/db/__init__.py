"""The database layer: the engine and embedded server, migrations, SQL files, advisory locks, staging tables,
the predictions table, the run ledger and the BI views. It imports nothing above :mod:`pipeline.config`.
"""
