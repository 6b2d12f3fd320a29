"""Rate losses and accuracy of the spiking readout equal snnTorch's own on the same outputs."""

import pytest
import torch
from snntorch import functional as SF

from spikeloc.learning.losses import LossConfig, member_losses
from spikeloc.networks.classifier import predict


def spikes_and_labels(members=3, batch=16, steps=25, classes=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    rates = torch.rand(members, batch, 1, classes, generator=g)
    spikes = (torch.rand(members, batch, steps, classes, generator=g) < rates).float()
    return spikes, torch.randint(classes, (members, batch), generator=g)


def time_major(spikes_of_one_member):
    return spikes_of_one_member.transpose(0, 1)  # (batch, T, C) -> snnTorch's (T, batch, C)


def test_cross_entropy_on_counts_equals_snntorch_ce_count_loss():
    spikes, labels = spikes_and_labels()
    ours = member_losses(spikes, labels, LossConfig("cross_entropy", logit_scale=1.0))
    for k in range(spikes.shape[0]):
        torch.testing.assert_close(ours[k], SF.ce_count_loss()(time_major(spikes[k]), labels[k]))


@pytest.mark.parametrize("correct,incorrect", [(1.0, 0.0), (0.8, 0.2), (0.75, 0.33)])
def test_mse_count_equals_snntorch_mse_count_loss(correct, incorrect):
    spikes, labels = spikes_and_labels(steps=30)
    ours = member_losses(spikes, labels, LossConfig("mse_count", correct_rate=correct, incorrect_rate=incorrect))
    for k in range(spikes.shape[0]):
        reference = SF.mse_count_loss(correct_rate=correct, incorrect_rate=incorrect)(time_major(spikes[k]), labels[k])
        torch.testing.assert_close(ours[k], reference)


def test_accuracy_by_spike_count_equals_snntorch_accuracy_rate():
    spikes, labels = spikes_and_labels(steps=5)  # few steps: many ties, broken to the first class by both
    for k in range(spikes.shape[0]):
        ours = float((predict(spikes[k]) == labels[k]).double().mean())
        assert ours == pytest.approx(SF.accuracy_rate(time_major(spikes[k]), labels[k]))


def test_each_members_loss_depends_on_its_own_outputs_only():
    spikes, labels = spikes_and_labels()
    spikes.requires_grad_()
    member_losses(spikes, labels, LossConfig("mse_count"))[1].backward()
    assert spikes.grad[[0, 2]].abs().sum() == 0 and spikes.grad[1].abs().sum() > 0


@pytest.mark.parametrize("field,value", [("name", "hinge"), ("logit_scale", 0.0), ("correct_rate", 1.5),
                                         ("incorrect_rate", -0.1)])
def test_bad_loss_settings_name_the_field(field, value):
    with pytest.raises(ValueError, match="loss" if field == "name" else field):
        LossConfig(**{field: value})
