"""Bio-plasticity study (seed 003, bio_transformations): each plasticity transform alone and all together, on IPD
(robust protocol) and MNIST-5k, against plain surrogate-gradient training.

The study is defined in spikeloc/studies/bio_plasticity.py (presets, grid, comparisons, figures); this script runs it
from a source tree, as ``spikeloc study bio_plasticity`` does from anywhere, with the same options and outputs.

    python studies/bio_plasticity.py --preset quick|seed|full [--out DIR]
"""

from spikeloc.studies.bio_plasticity import main
from spikeloc.study.cli import run_script

if __name__ == "__main__":
    run_script(main, "bio_plasticity")
