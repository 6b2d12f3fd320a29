"""Local learning rules on small feed-forward networks (rate and spiking): designed rules (:mod:`.rules`),
pair STDP (:mod:`.stdp`), meta-learned rules -- the rule network trained by gradient (:mod:`.learned`) and
the polynomial and GRU rule families (:mod:`.families`) meta-trained by CMA-ES (:mod:`.evolution`) -- the
networks (:mod:`.networks`), the training protocol (:mod:`.training`) and the seed's own loop, transcribed as
the reference (:mod:`.seed_reference`).
"""
