"""IPD beyond the seed: heterogeneous / learned time constants, input delays and training schedule, alone and combined.

The study is defined in spikeloc/studies/ipd_beyond.py (presets, grid, comparisons, figures); this script runs it
from a source tree, as ``spikeloc study ipd_beyond`` does from anywhere, with the same options and outputs.

    python studies/ipd_beyond.py --preset quick|seed|full [--protocol seed|robust|both] [--options NAME ...]
                                 [--no-retest] [--out DIR] [--finished-only]
"""

from spikeloc.studies.ipd_beyond import main
from spikeloc.study.cli import run_script

if __name__ == "__main__":
    run_script(main, "ipd_beyond")
