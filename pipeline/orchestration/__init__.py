"""Orchestration: what ties batchscore to Airflow. :mod:`.callbacks` (imported only by Airflow: failure records,
alert notifiers, the retry policy), :mod:`.schedules` (a use case's ``[schedule]`` as an Airflow timetable),
:mod:`.naming` (the DAG ids of a use case; pure) and :mod:`.local` (a project-local Airflow: ``dag.test`` runs,
the UI).
"""
