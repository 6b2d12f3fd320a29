"""Local (Hebbian) learning rules on AND / OR / NAND / XOR: success rate of 100 replications per cell.

The study is defined in spikeloc/studies/hebbian_logic.py (presets, grid, comparisons, figures); this script runs it
from a source tree, as ``spikeloc study hebbian_logic`` does from anywhere, with the same options and outputs.

    python studies/hebbian_logic.py --preset quick|seed|full [--device cpu|cuda|auto] [--out DIR] [--executor ...]
"""

from spikeloc.studies.hebbian_logic import main
from spikeloc.study.cli import run_script

if __name__ == "__main__":
    run_script(main, "hebbian_logic")
