"""Learning: surrogate-gradient training and evaluation of ensembles (:mod:`.surrogate`).
"""
