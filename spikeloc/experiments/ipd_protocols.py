"""The IPD stimulus protocols and the ``--protocol`` option of IPD study command lines.

Kept apart from :mod:`spikeloc.experiments.ipd` (which imports torch) so that a study's parser, and so its
``--help``, loads nothing heavy.
"""

from __future__ import annotations

import argparse

#: Stimulus protocols: the seed's (one phase offset and one phase-noise draw per dataset) and the robust
#: one (both redrawn for every sample).
PROTOCOLS = {
    "seed": {"phase_offset": "per_dataset", "phase_noise_draw": "per_dataset"},
    "robust": {"phase_offset": "per_sample", "phase_noise_draw": "per_sample"},
}


def add_protocol_option(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add ``--protocol seed|robust|both`` to a study's command line."""
    parser.add_argument("--protocol", choices=[*PROTOCOLS, "both"], default=None,
                        help="stimulus protocol(s); default: the preset's")
    return parser


def protocols(args: argparse.Namespace, preset_default: str) -> list[str]:
    """The protocols a study runs: ``--protocol`` (``both``: every one), else the preset's."""
    chosen = args.protocol or preset_default
    return list(PROTOCOLS) if chosen == "both" else [chosen]
