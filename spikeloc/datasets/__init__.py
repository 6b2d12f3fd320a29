"""Image datasets for spiking classifiers, read from local files only (spikeloc never downloads anything).

``load("mnist-5k")`` gives 5000 real MNIST digits shipped with the package (4000 training, 1000 test, 400 and
100 per class; files and provenance in the repository's ``data/``), checked against their SHA-256 sums.
``load("mnist")``, ``load("fashion-mnist")`` and ``load("cifar10")`` read the standard files from ``root`` or
``$SPIKELOC_DATA`` (layouts in :mod:`spikeloc.datasets.loaders`). :func:`validation_split` holds out a seeded,
class-stratified validation set from a training split.

Images stay uint8 ``(N, C, H, W)``; :meth:`ImageSplit.features` gives the float32 ``(N, C*H*W)`` values in
[0, 1] that the spike encoders (:mod:`spikeloc.substrate.encoders`) take.
"""

from spikeloc.datasets.loaders import DATA_ENVIRONMENT_VARIABLE, NAMES, load
from spikeloc.datasets.splits import ImageDataset, ImageSplit, validation_split

__all__ = ["DATA_ENVIRONMENT_VARIABLE", "NAMES", "ImageDataset", "ImageSplit", "load", "validation_split"]
