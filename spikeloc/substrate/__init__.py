"""The spiking substrate: LIF dynamics (:mod:`.neurons`), the fused LIF time loop (:mod:`.fused`), weight
parameterisations of K ensemble members with Dale's law (:mod:`.synapses`), spike encoders (:mod:`.encoders`) and
neuromodulatory weight noise on any synapse or plain layer (:mod:`.noise`).

The substrate imports nothing else from spikeloc except validation and seeding: tasks, networks and learning
use it, never the reverse.
"""
