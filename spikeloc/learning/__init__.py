"""Learning: surrogate-gradient training and evaluation of ensembles on any labelled data (:mod:`.surrogate`),
readout losses (:mod:`.losses`), non-spiking baselines (:mod:`.baselines`) and training with learned or fixed weight
noise (:mod:`.neuromodulation`).
"""
