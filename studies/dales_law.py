"""Dale's-law study: inhibitory fraction (IE ratio) sweep and which synapses need inhibition.

The study is defined in spikeloc/studies/dales_law.py (presets, grid, comparisons, figures); this script runs it
from a source tree, as ``spikeloc study dales_law`` does from anywhere, with the same options and outputs.

    python studies/dales_law.py --preset quick|seed|full [--protocol seed|robust|both] [--out DIR]
"""

from spikeloc.studies.dales_law import main
from spikeloc.study.cli import run_script

if __name__ == "__main__":
    run_script(main, "dales_law")
