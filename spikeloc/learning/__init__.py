"""Learning: spikeloc's one training loop, for spiking and plain networks, with hooks and early stopping
(:mod:`.trainer`), surrogate-gradient training and evaluation of spiking ensembles on any labelled data
(:mod:`.surrogate`), readout losses (:mod:`.losses`), non-spiking baselines (:mod:`.baselines`) and training with
learned or fixed weight noise (:mod:`.neuromodulation`).
"""
