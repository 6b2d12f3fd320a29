"""Bio-inspired plasticity transforms for spiking and plain networks (the seed: bio_transformations'
``BioModule``; Hofmann et al., "Concept transfer of synaptic diversity from biological to artificial neural
networks", Nat. Commun. 2025).

Mechanisms, one module each with its biology and equation:

* :mod:`.fuzzy`: fixed per-synapse learning-rate factors (uniform, as the seed, or log-normal);
* :mod:`.crystallisation`: damp the factors of stable synapses;
* :mod:`.volume`: large weights less plastic, with variability, drawn every step;
* :mod:`.rejuvenation`: replace weak weights by new ones (of the unit's Dale sign where Dale applies);
* :mod:`.regularisation`: an L1 penalty that has a gradient (the seed's has none);
* :mod:`.splitting`: a connection as the mean of several sub-synapses;
* Dale's principle, one sign per **presynaptic** unit: the substrate's
  (:func:`spikeloc.substrate.synapses.signed_weight`), set on spikeloc ``Synapses`` and, as a parametrisation,
  on ``nn.Linear`` / ``nn.Conv2d``.

Use (:func:`attach` returns a :class:`BioPlasticity`; settings in :class:`BioConfig`)::

    plasticity = attach(network, BioConfig(fuzzy=FuzzyRates(), rejuvenation=Rejuvenation()), generators)
    fit(network, train, validation, train_config, hooks=[plasticity])        # spikeloc's trainer, or
    optimiser = PlasticOptimizer(torch.optim.Adam(model.parameters(), lr), plasticity)  # any loop

**Order within one optimiser step** (tested in ``tests/test_bio_plasticity.py``):

1. forward; the loss plus ``plasticity.penalty()`` (L1); ``backward()``;
2. ``before_step()``: crystallisation reads the gradient of the loss and damps the factors of stable synapses;
   this step's factors are the fuzzy factors (as damped) times a fresh draw of the volume factors;
   with ``scale="gradient"`` they multiply the gradient now;
3. the optimiser's step;
4. ``after_step()``: with ``scale="update"`` (default) the step's change of each synapse is multiplied by its
   factor, ``w <- w_before + f * (w_after - w_before)``; then, every ``interval_steps`` steps, rejuvenation
   replaces weak synapses (and resets their factors to the first draw);
5. Dale's signs hold at every forward pass by construction (``|w| * sign``), so no step can break them.

**Why the update, not the gradient (the seed's).** The seed multiplies the gradient before the optimiser step.
Under SGD that is the same thing; under Adam, which divides each parameter's step by the running scale of its
own gradient, a fixed factor per synapse cancels out: fuzzy rates and crystallisation then do (almost) nothing,
and volume factors only add noise. A test shows both. ``scale="gradient"`` keeps the seed's behaviour.

Every random draw comes from the generator of its ensemble member (``generators[k]``), in a fixed order:
when attaching, layer by layer the sub-synapse offsets then the Dale signs, then every layer's fuzzy factors;
during training, volume factors and rejuvenation. Member k of an ensemble gets exactly what a single network
with that generator gets.
"""

from spikeloc.learning.bio.config import (
    BioConfig,
    Crystallisation,
    DalePrinciple,
    FuzzyRates,
    L1Penalty,
    Rejuvenation,
    Splitting,
    VolumeRates,
)
from spikeloc.learning.bio.plasticity import BioPlasticity, PlasticOptimizer, attach

__all__ = ["BioConfig", "BioPlasticity", "Crystallisation", "DalePrinciple", "FuzzyRates", "L1Penalty",
           "PlasticOptimizer", "Rejuvenation", "Splitting", "VolumeRates", "attach"]
