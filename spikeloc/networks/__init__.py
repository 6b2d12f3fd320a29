"""Networks composed from the substrate: the spiking classifier of any depth (:mod:`.classifier`; the IPD
network is one), saved models (:mod:`.saved`) and NIR exchange with other tools (:mod:`.nir`, optional extra).
"""
