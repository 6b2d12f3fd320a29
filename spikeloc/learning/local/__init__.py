"""Local learning rules on small feed-forward networks (rate and spiking): designed rules (:mod:`.rules`),
pair STDP (:mod:`.stdp`), the meta-learned rule (:mod:`.learned`), the networks (:mod:`.networks`), the
training protocol (:mod:`.training`) and the seed's own loop, transcribed as the reference (:mod:`.seed_reference`).
"""
