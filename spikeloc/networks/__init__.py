"""Networks composed from the substrate: the IPD network (:mod:`.ipd`).
"""
