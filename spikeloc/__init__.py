"""spikeloc: spiking neural networks on snnTorch for robustness and biologically plausible learning.

Rooms, each importing only the ones listed before it:

* :mod:`spikeloc.substrate`: LIF neurons (snnTorch and fused backends), the fused time loop, Dale-constrained
  synapses of K ensemble members, spike encoders;
* :mod:`spikeloc.tasks` and :mod:`spikeloc.datasets`: the IPD stimulus; image datasets from local files (MNIST-5k
  ships with the package);
* :mod:`spikeloc.networks`: the spiking classifier of any depth (membrane or spike-count readout), saved models;
* :mod:`spikeloc.learning`: surrogate-gradient training and evaluation, losses, non-spiking baselines;
* :mod:`spikeloc.experiments`: one flat run config -> one flat row of metrics, per task;
* :mod:`spikeloc.study`: the resumable study runner, statistics, figures and the shared study command line.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("spikeloc")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
