"""Models: the artifact store, the registry (the only owner of ``model_versions`` and ``promotion_decisions``),
the model family, how a model scores a frame, training, weekly retraining, the promotion rule and its metrics.
"""
