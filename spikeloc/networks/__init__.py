"""Networks composed from the substrate: the spiking classifier of any depth (:mod:`.classifier`; the IPD
network is one) and saved models (:mod:`.saved`).
"""
