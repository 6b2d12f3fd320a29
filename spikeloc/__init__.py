"""spikeloc: spiking neural networks on snnTorch for robustness and biologically plausible learning.

The IPD sound-localisation task (:mod:`spikeloc.ipd`), LIF neurons with a snnTorch and a fused backend
(:mod:`spikeloc.neurons`), Dale-constrained synapses (:mod:`spikeloc.synapses`), ensembles of networks
(:mod:`spikeloc.network`), training (:mod:`spikeloc.train`), runs (:mod:`spikeloc.experiment`) and a
resumable study runner (:mod:`spikeloc.study`).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("spikeloc")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
