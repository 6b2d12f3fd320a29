"""Learning: surrogate-gradient training and evaluation of ensembles on any labelled data (:mod:`.surrogate`),
readout losses (:mod:`.losses`) and non-spiking baselines (:mod:`.baselines`).
"""
