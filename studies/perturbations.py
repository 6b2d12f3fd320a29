"""Perturbations study: which training regime protects against which perturbation, at what clean cost.

The study is defined in spikeloc/studies/perturbations.py (presets, grid, comparisons, figures); this script runs it
from a source tree with the same options and outputs.

    python studies/perturbations.py --preset quick|seed|full [--out DIR]
"""

from spikeloc.studies.perturbations import main
from spikeloc.study.cli import run_script

if __name__ == "__main__":
    run_script(main, "perturbations")
