"""batchscore: scheduled batch scoring for scikit-learn models on PostgreSQL (the push pattern).

Every stage (extract, validate, build_features, score, publish, train) is a plain function in this
package; the Airflow DAGs in ``dags/`` only wire them together.
"""

__version__ = "0.1.0"
