"""Orchestration: what ties batchscore to Airflow. :mod:`.callbacks` (imported only by Airflow: failure records,
alert notifiers, the retry policy) and :mod:`.local` (a project-local Airflow: ``dag.test`` runs, the UI).
"""
