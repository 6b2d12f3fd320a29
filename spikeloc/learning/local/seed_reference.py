"""The seed's ``ToyNetwork`` and training loop, transcribed literally: the independent reference.

Kept verbatim (one network at a time, Python loops) so the tests can check that the vectorised
:class:`spikeloc.learning.local.networks.RateNetwork` with :func:`~spikeloc.learning.local.rules.seed_supervised`
computes the same weights on the same initial weights and example order, and so the benchmark can time
the seed's own loop. Only two things differ from the notebook: the initial weights and the example
order are arguments (the notebook drew them from the global torch and numpy generators), and the
Python ``range`` over updates is the same but the example index comes from ``order``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn


class SeedToyNetwork(nn.Module):
    """The seed's ``ToyNetwork``: bias-free layers, ReLU hidden units, tanh output."""

    def __init__(self, n_input: int, hidden_layer_sizes: list, n_output: int):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(n_input, hidden_layer_sizes[0], bias=False)])  # first layer
        self.layers.extend([nn.Linear(h1, h2, bias=False) for h1, h2 in zip(hidden_layer_sizes,
                                                                             hidden_layer_sizes[1:])])
        self.layers.append(nn.Linear(hidden_layer_sizes[-1], n_output, bias=False))  # output layer

    def forward(self, x):
        for layer in self.layers[:-1]:  # skip the last layer
            x = torch.relu(layer(x))  # apply ReLU activation function
        x = torch.tanh(self.layers[-1](x))  # apply tanh activation function to have output in [-1,1]
        return x

    def supervised_hebbian_update(self, input, output, learning_rate):
        y = output  # target output
        for layer_no in range(len(self.layers) - 1, 0, -1):  # go through all layers in reverse order
            # forward pass through the network up to before the current layer
            x = input
            for layer in self.layers[:layer_no]:  # go through all layers up to the current layer
                x = torch.relu(layer(x))  # apply ReLU activation function

            deltaw = learning_rate * torch.mm(y.t(), x)  # calculate Hebbian update
            self.layers[layer_no].weight.data += deltaw  # update weights
            self.layers[layer_no].weight.data = torch.clamp(self.layers[layer_no].weight.data, min=-1, max=1)
            y = x  # update target output


def seed_replication(input: torch.Tensor, output: torch.Tensor, hidden_layer_sizes: list,
                     initial_weights: list[torch.Tensor] | None, order: np.ndarray,
                     learning_rate: float = 0.01) -> tuple[int, SeedToyNetwork]:
    """One replication of the seed's loop: (1 if all four patterns right else 0, trained network).

    ``initial_weights``: one ``(n_out, n_in)`` tensor per layer, or None for ``nn.Linear``'s own draw
    from the global generator (as in the notebook). ``order``: the example index of every update.
    """
    model = SeedToyNetwork(2, hidden_layer_sizes, 1)  # initialize the network
    if initial_weights is not None:
        with torch.no_grad():
            for layer, weight in zip(model.layers, initial_weights):
                layer.weight.copy_(weight)
    for random_index in order:  # train the network
        model.supervised_hebbian_update(input[random_index].unsqueeze(0), output[random_index].unsqueeze(0),
                                        learning_rate)  # perform a Hebbian update
    out = (model.forward(input) > 0).float().detach().numpy().T[0]  # get the output of the network
    expected_out = (output > 0).float().detach().numpy().T[0]  # get the expected output of the network
    return (1 if np.all(out == expected_out) else 0), model
