"""Monitoring after every night: drift of inputs and scores, performance once labels arrive, alerts (recorded
once, delivered through channels), the BI views and the HTML report.
"""
