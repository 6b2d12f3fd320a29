"""One flat run config -> one flat row of metrics, per task: IPD (:mod:`.ipd`), images (:mod:`.digits`).
"""
