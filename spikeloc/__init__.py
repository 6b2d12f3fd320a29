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

def __getattr__(name: str) -> str:
    """``spikeloc.__version__``, read from the installed package's metadata when first asked for (importing
    importlib.metadata costs every command's ``--help`` tens of milliseconds otherwise)."""
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("spikeloc")
    except PackageNotFoundError:  # running from a source tree that is not installed
        found = "0+unknown"
    globals()["__version__"] = found
    return found
