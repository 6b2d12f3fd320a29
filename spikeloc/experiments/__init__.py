"""One flat run config -> one flat row of metrics, per task (:mod:`.ipd`).
"""
