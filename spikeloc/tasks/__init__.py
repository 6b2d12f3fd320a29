"""Tasks that make labelled spike data: IPD sound localisation (:mod:`.ipd`).
"""
