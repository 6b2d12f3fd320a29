"""Competing hidden units (Krotov-Hopfield) study: readouts x layers x hidden size, vs Krotov's readout and an MLP.

The study is defined in spikeloc/studies/competing_units.py (presets, grid, comparisons, figures); this script runs it
from a source tree, as ``spikeloc study competing_units`` does from anywhere, with the same options and outputs.

    python studies/competing_units.py --preset quick|small|readouts|readouts-2000|seed|full [--epochs N]
                                      [--device cpu|cuda|auto] [--out DIR]
"""

from spikeloc.studies.competing_units import main
from spikeloc.study.cli import run_script

if __name__ == "__main__":
    run_script(main, "competing_units")
