"""The fail-closed validation gate: built-in checks from the use case (:mod:`.checks`), suite files
(:mod:`.suites`), GX run inside PostgreSQL (:mod:`.gx_runner`), and the gate that records and decides (:mod:`.gate`).
"""
