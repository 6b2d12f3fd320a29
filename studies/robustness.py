"""Robustness study (seed 001): dropout on hidden spikes x training phase noise, tested at sigma = 0.

The study is defined in spikeloc/studies/robustness.py (presets, grid, comparisons, figures); this script runs it
from a source tree, as ``spikeloc study robustness`` does from anywhere, with the same options and outputs.

    python studies/robustness.py --preset quick|seed|full [--protocol seed|robust|both] [--out DIR]
"""

from spikeloc.studies.robustness import main
from spikeloc.study.cli import run_script

if __name__ == "__main__":
    run_script(main, "robustness")
