"""spikeloc: spiking neural networks on snnTorch for robustness and biologically plausible learning.

The IPD sound-localisation task (:mod:`spikeloc.tasks.ipd`), LIF neurons with a snnTorch and a fused backend
(:mod:`spikeloc.substrate.neurons`), Dale-constrained synapses (:mod:`spikeloc.substrate.synapses`), ensembles of networks
(:mod:`spikeloc.networks.ipd`), training (:mod:`spikeloc.learning.surrogate`), runs (:mod:`spikeloc.experiments.ipd`) and a
resumable study runner (:mod:`spikeloc.study.runner`).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("spikeloc")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
