"""Neuromodulation study (seed 000, "leaky tensors"): weight noise in training x task, robustness to weight noise.

The study is defined in spikeloc/studies/neuromodulation.py (presets, grid, comparisons, figures); this script runs it
from a source tree, as ``spikeloc study neuromodulation`` does from anywhere, with the same options and outputs.

    python studies/neuromodulation.py --preset quick|seed|full|ipd [--out DIR]
"""

from spikeloc.studies.neuromodulation import main
from spikeloc.study.cli import run_script

if __name__ == "__main__":
    run_script(main, "neuromodulation")
