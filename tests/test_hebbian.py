"""Local learning rules: each rule on a case worked out by hand, the vectorised seed rule against the seed's
own loop, STDP against its analytic window, Oja's stability, bad input, determinism."""

import math

import numpy as np
import pytest
import torch

from spikeloc.experiments.hebbian import HebbianRun, run_hebbian
from spikeloc.learning.local import rules
from spikeloc.learning.local.learned import LearnedRule, MetaTraining, n_parameters, rule_surface, synapse_delta
from spikeloc.learning.local.networks import RateNetwork, SpikingNetwork, forward, initial_weights
from spikeloc.learning.local.seed_reference import seed_replication
from spikeloc.learning.local.stdp import PairSTDP, stdp_delta
from spikeloc.learning.local.training import evaluate, run_replications, train
from spikeloc.study.stats import wilson_interval
from spikeloc.tasks.logic import patterns, solved, targets

RATE = RateNetwork()


def one(x):
    """A single replication and pattern: (1, 1, n)."""
    return torch.tensor(x, dtype=torch.float32).view(1, 1, -1)


def w(matrix):
    return torch.tensor(matrix, dtype=torch.float32).unsqueeze(0)


# --- tasks -------------------------------------------------------------------------------------------------

def test_truth_tables_and_solved():
    assert targets("and")[:, 0].tolist() == [-1, -1, -1, 1]
    assert targets("or")[:, 0].tolist() == [-1, 1, 1, 1]
    assert targets("nand")[:, 0].tolist() == [1, 1, 1, -1]
    assert targets("xor")[:, 0].tolist() == [-1, 1, 1, -1]
    t = targets("xor")
    assert solved(t.unsqueeze(0) * 0.3, t).item()
    assert not solved(torch.zeros(1, 4, 1), t).item()  # output 0 counts as -1: two patterns wrong


# --- the seed rule, vectorised, equals the seed's own loop ------------------------------------------------

@pytest.mark.parametrize("sizes", [[10], [4, 3]])
def test_vectorised_seed_rule_equals_seed_loop(sizes):
    n_rep, n_updates = 3, 60
    inputs, target = patterns(), targets("xor")
    weights = initial_weights((2, *sizes, 1), n_rep, torch.Generator().manual_seed(1))
    order = torch.randint(0, 4, (n_updates, n_rep), generator=torch.Generator().manual_seed(2))
    trained = train(RATE, rules.SeedSupervised(), weights, inputs, target, order)
    ours, _ = evaluate(RATE, trained, inputs, target)
    for r in range(n_rep):
        success, model = seed_replication(inputs, target, sizes, [wl[r] for wl in weights], order[:, r].numpy())
        for layer, weight in zip(model.layers, trained):
            torch.testing.assert_close(weight[r], layer.weight.detach(), rtol=1e-5, atol=1e-6)
        assert bool(ours[r]) == bool(success)
    assert torch.equal(trained[0], weights[0])  # the seed never updates the first layer


def test_seed_rule_by_hand():
    # 2 -> 1 hidden -> 1: W1 = [[1, 0]], W2 = [[0.5]]; x = (1, -1), t = -1: h = relu(1) = 1
    new = rules.SeedSupervised(lr=0.1).update(RATE, [w([[1.0, 0.0]]), w([[0.5]])], one([1, -1]), one([-1]))
    assert new[1].item() == pytest.approx(0.5 - 0.1)  # dW2 = lr * t * h
    assert new[0].tolist() == [[[1.0, 0.0]]]
    clipped = rules.SeedSupervised(lr=1.0).update(RATE, [w([[1.0, 0.0]]), w([[0.5]])], one([1, -1]), one([1]))
    assert clipped[1].item() == 1.0  # 1.5 clipped to the bound


def test_replications_are_independent():
    weights = initial_weights((2, 5, 1), 4, torch.Generator().manual_seed(3))
    inputs = patterns()[[0, 1, 2, 3]].unsqueeze(1)
    target = targets("xor")[[0, 1, 2, 3]].unsqueeze(1)
    for rule in (rules.SeedSupervised(), rules.Oja(), rules.RewardModulated(), rules.Contrastive(lr=0.1)):
        batched = rule.update(RATE, weights, inputs, target)
        for r in range(4):
            alone = rule.update(RATE, [wl[r:r + 1] for wl in weights], inputs[r:r + 1], target[r:r + 1])
            for a, b in zip(alone, batched):
                torch.testing.assert_close(a[0], b[r])


# --- designed rules on hand-worked cases --------------------------------------------------------------------

def test_forward_bounded_by_hand():
    # W1 = [[0.5, 0.5]], x = (1, 1): h = relu(1) = 1; dW1 = lr * h * x * (1 - |W1|) = 0.1 * 0.5
    rule = rules.ForwardBounded(lr=0.1, max_weight=1.0)
    new = rule.update(RATE, [w([[0.5, 0.5]]), w([[0.2]])], one([1, 1]), one([1]))
    torch.testing.assert_close(new[0], w([[0.55, 0.55]]))
    assert new[1].item() == pytest.approx(0.2 + 0.1 * 1.0)  # clamped readout: lr * t * h


def test_oja_by_hand_and_stable_over_10000_updates():
    # y = relu(0.6 * 1 + 0.8 * 1) = 1.4; dw_j = lr * y * (x_j - y * w_j)
    new = rules.Oja(lr=0.1).update(RATE, [w([[0.6, 0.8]]), w([[0.0]])], one([1, 1]), one([1]))
    torch.testing.assert_close(new[0], w([[0.6 + 0.14 * (1 - 1.4 * 0.6), 0.8 + 0.14 * (1 - 1.4 * 0.8)]]))
    # 10 000 updates on random patterns from weights anywhere in [-1, 1], 50 replications: bounded
    weights = [2 * torch.rand(50, 8, 2, generator=torch.Generator().manual_seed(4)) - 1, torch.zeros(50, 1, 8)]
    order = torch.randint(0, 4, (10_000, 50), generator=torch.Generator().manual_seed(5))
    trained = train(RATE, rules.Oja(lr=0.05), weights, patterns(), targets("and"), order)
    norms = trained[0].norm(dim=-1)
    assert torch.isfinite(norms).all() and norms.max() < 1.5
    hebb = train(RATE, rules.ForwardBounded(lr=0.05, max_weight=1e9), weights, patterns(), targets("and"),
                 order[:200])
    norms = hebb[0].norm(dim=-1)
    assert not (torch.isfinite(norms).all() and norms.max() < 1.5)  # the same without a stabiliser blows up


def test_reward_signal_sign_by_hand():
    # W1 = [[0.5, 0]] -> h = 0.5 on x = (1, -1); W2 = [[0.5]] -> y = tanh(0.25) > 0
    weights = [w([[0.5, 0.0]]), w([[0.5]])]
    y = math.tanh(0.25)
    right = rules.RewardModulated(lr=0.1).update(RATE, weights, one([1, -1]), one([1]))
    assert right[1].item() == pytest.approx(0.5 + 0.1 * y * 0.5)  # correct: Hebbian (r = +1)
    torch.testing.assert_close(right[0], w([[0.55, -0.05]]))
    wrong = rules.RewardModulated(lr=0.1).update(RATE, weights, one([1, -1]), one([-1]))
    assert wrong[1].item() == pytest.approx(0.5 - 0.1 * y * 0.5)  # wrong: anti-Hebbian (r = -1)
    torch.testing.assert_close(wrong[0], w([[0.45, 0.05]]))


def test_contrastive_nothing_to_learn_when_output_is_the_target():
    weights = [w([[1.0, 0.0]]), w([[20.0]])]  # y = tanh(20) = 1.0 in float32
    new = rules.Contrastive(lr=0.1, weight_bound=100).update(RATE, weights, one([1, -1]), one([1]))
    for a, b in zip(new, weights):
        torch.testing.assert_close(a, b)


def test_contrastive_approaches_the_delta_rule_for_weak_feedback():
    # small gamma: dW2 -> lr (t - y) h,  dW1 -> lr relu'(z1) W2^T (t - y) x^T  (backprop of the error to z_L)
    w1, w2 = w([[0.4, -0.2], [0.3, 0.5]]), w([[0.7, -0.6]])
    x, t = one([1, -1]), one([1])
    h = torch.relu(x @ w1.transpose(-1, -2))
    y = torch.tanh(h @ w2.transpose(-1, -2))
    new = rules.Contrastive(lr=0.1, feedback=1e-3).update(RATE, [w1, w2], x, t)
    torch.testing.assert_close(new[1] - w2, 0.1 * (t - y).transpose(-1, -2) @ h, atol=1e-4, rtol=1e-3)
    hidden_error = (h > 0) * ((t - y) @ w2)
    torch.testing.assert_close(new[0] - w1, 0.1 * hidden_error.transpose(-1, -2) @ x, atol=1e-3, rtol=1e-2)


def feedback_step(rule, network, weights, x, t, feedback):
    return rule.step(network, weights, x, t, None, feedback)


def test_feedback_alignment_by_hand():
    # x = (1, -1): h1 = (0.5 + 0.5, -0.5 - 0.25) = (1, -0.75), a1 = (1, 0); y = tanh(0.5); e = 1 - tanh(0.5)
    w1, w2, b = w([[0.5, -0.5], [-0.5, 0.25]]), w([[0.5, 0.3]]), w([[2.0], [1.0]])
    (new1, new2), state = feedback_step(rules.FeedbackAlignment(lr=0.1), RATE, [w1, w2], one([1, -1]), one([1]),
                                        [b])
    e = 1 - math.tanh(0.5)
    # hidden unit 1: signal B_1 e = 2 e, gate 1; unit 2 is silent (gate 0): no change
    torch.testing.assert_close(new1 - w1, w([[0.2 * e, -0.2 * e], [0.0, 0.0]]))
    torch.testing.assert_close(new2 - w2, w([[0.1 * e, 0.0]]))  # delta rule at the output
    assert state[0] is b  # the feedback matrices never change


def test_feedback_alignment_with_transposed_weights_is_backprop():
    # B = W_2^T (units' columns): the update is minus lr times the gradient of log cosh(h_L) - t h_L
    generator = torch.Generator().manual_seed(4)
    weights = initial_weights((2, 6, 1), 3, generator, bias=True)
    x = patterns()[[0, 1, 3]].unsqueeze(1)
    t = targets("xor")[[0, 1, 3]].unsqueeze(1)
    network, lr = RateNetwork(bias=True), 0.1
    new, _ = feedback_step(rules.FeedbackAlignment(lr=lr, weight_bound=100), network, weights, x, t,
                           [weights[1][..., :6].transpose(-1, -2)])
    leaves = [wl.clone().requires_grad_() for wl in weights]
    h = forward(network, leaves, x).drives[-1]
    (torch.log(torch.cosh(h)) - t * h).sum().backward()
    for updated, old, leaf in zip(new, weights, leaves):
        torch.testing.assert_close(updated - old, -lr * leaf.grad)
    assert (new[0] != weights[0]).any()


def test_feedback_alignment_draws_its_matrices_from_the_feedback_stream():
    weights = initial_weights((2, 5, 4, 1), 3, torch.Generator().manual_seed(0))
    rule = rules.FeedbackAlignment(feedback_scale=0.5)
    first = rule.initial_state(weights, torch.Generator().manual_seed(7))
    again = rule.initial_state(weights, torch.Generator().manual_seed(7))
    assert [tuple(b.shape) for b in first] == [(3, 5, 1), (3, 4, 1)]
    assert all(torch.equal(a, b) for a, b in zip(first, again)) and not torch.equal(first[0][0], first[0][1])
    assert all(b.abs().max() <= 0.5 for b in first)
    with pytest.raises(ValueError, match="generator"):
        rule.initial_state(weights)
    with pytest.raises(ValueError, match="feedback_scale"):
        rules.FeedbackAlignment(feedback_scale=0)


@pytest.mark.parametrize("network, n_replications, aim", [(RateNetwork(bias=True), 100, 0.9),
                                                          (SpikingNetwork(input_rate=1.0, bias=True), 30, 0.8)])
def test_feedback_alignment_learns_xor(network, n_replications, aim):
    solved = run_replications(network, rules.FeedbackAlignment(lr=0.03), "xor", (10,), n_replications, 400, seed=1)
    assert solved.solved.float().mean() >= aim  # measured (lr chosen on seeds 10, 11): rate 0.98, spiking 0.97


def test_feedback_alignment_hidden_signal_matters():
    # B ~ 0: only the output learns (the delta rule on fixed random features): fewer rate nets solve XOR
    network = RateNetwork(bias=True)
    with_feedback, without = (run_replications(network, rules.FeedbackAlignment(lr=0.03, feedback_scale=scale),
                                               "xor", (10,), 100, 400, seed=1).solved.float().mean()
                              for scale in (1.0, 1e-30))
    assert without < with_feedback - 0.05


# --- STDP ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("t_pre, t_post", [(3, 10), (10, 3), (5, 5), (0, 29)])
def test_stdp_pair_matches_analytic_window(t_pre, t_post):
    pre, post = torch.zeros(1, 1, 30, 1), torch.zeros(1, 1, 30, 1)
    pre[0, 0, t_pre, 0], post[0, 0, t_post, 0] = 1.0, 1.0
    a_plus, a_minus, tau_plus, tau_minus, dt = 0.01, 0.012, 20e-3, 30e-3, 1e-3
    change = stdp_delta(pre, post, a_plus, a_minus, tau_plus, tau_minus, dt).item()
    delta_t = (t_post - t_pre) * dt
    expected = a_plus * math.exp(-delta_t / tau_plus) if delta_t >= 0 else -a_minus * math.exp(delta_t / tau_minus)
    assert change == pytest.approx(expected, rel=1e-5)


def test_stdp_needs_a_spiking_network():
    with pytest.raises(ValueError, match="rule"):
        train(RATE, PairSTDP(), initial_weights((2, 3, 1), 1, torch.Generator().manual_seed(0)), patterns(),
              targets("and"), torch.zeros(1, 1, dtype=torch.long))


# --- spiking networks --------------------------------------------------------------------------------------

def test_spiking_rates_and_signed_inputs():
    net = SpikingNetwork(n_steps=50, input_rate=0.5)
    weights = initial_weights((2, 6, 1), 3, torch.Generator().manual_seed(0))
    result = forward(net, weights, patterns().expand(3, 4, 2), torch.Generator().manual_seed(1))
    spikes = result.states[0]
    assert spikes.shape == (3, 4, 50, 2)
    assert ((spikes == 0) | (spikes == patterns().view(1, 4, 1, 2))).all()  # signed spikes carry the input sign
    assert 0.3 < (spikes != 0).float().mean() < 0.7
    hidden = result.activities[1]
    assert ((hidden >= 0) & (hidden <= 1)).all() and hidden.max() > 0
    assert ((result.output >= -1) & (result.output <= 1)).all()
    # a constant drive of 0.5 per step on a 1-threshold LIF (beta = exp(-1/5)) fires every 3rd step
    constant = SpikingNetwork(n_steps=30, input_rate=1.0, gain=1.0)
    rate = forward(constant, [w([[0.5, 0.0]]), w([[0.0]])], one([1, 1])).activities[1]
    assert rate.item() == pytest.approx(10 / 30)


def test_spiking_contrastive_learns_xor_above_chance():
    outcome = run_replications(SpikingNetwork(), rules.Contrastive(), "xor", (10,), 40, 400, seed=0)
    assert outcome.solved.float().mean() > 0.5  # the seed rule on the same nets: ~0.1


# --- learned rule ----------------------------------------------------------------------------------------

def test_learned_rule_by_hand_and_against_a_synapse_loop():
    hidden = 2
    theta = torch.zeros(n_parameters(hidden))
    theta[-1] = 0.5  # g = c = 0.5 everywhere
    weights = [w([[0.1, 0.2], [0.3, -0.4]]), w([[0.1, -0.1]])]
    new = LearnedRule(theta=theta, lr=0.1).update(RATE, weights, one([1, 1]), one([1]))
    for a, b in zip(new, weights):
        torch.testing.assert_close(a, b + 0.05)
    # random theta: the vectorised g equals the seed's per-synapse loop (``arbitrary_forward``)
    theta = torch.randn(n_parameters(3), generator=torch.Generator().manual_seed(0))
    a, b, v, c = theta[:15].view(3, 5), theta[15:18], theta[18:21], theta[21]
    pre, post = torch.randn(2, 1, 3), torch.randn(2, 1, 4)
    weight, reward = torch.randn(2, 4, 3), torch.tensor([1.0, -1.0]).view(2, 1, 1)
    for is_output in (False, True):
        delta = synapse_delta(theta, pre, post, weight, reward, is_output)
        for r in range(2):
            for i in range(4):
                for j in range(3):
                    u = torch.stack([pre[r, 0, j], post[r, 0, i], weight[r, i, j], reward[r, 0, 0],
                                     torch.tensor(float(is_output))])
                    expected = (torch.tanh(a @ u + b) @ v + c).item()
                    assert delta[r, i, j].item() == pytest.approx(expected, abs=1e-5)
    surface = rule_surface(theta.tolist(), np.linspace(-1, 1, 5), np.linspace(-1, 1, 7), 0.0, 1.0)
    assert surface.shape == (7, 5)


# --- experiment rows, bad input, determinism ----------------------------------------------------------------

def test_run_row_is_deterministic_with_wilson_interval():
    run = HebbianRun(task="and", hidden_sizes=(10,), n_replications=20, n_updates=100)
    a, b, c = run_hebbian(run, 0), run_hebbian(run, 0), run_hebbian(run, 1)
    assert a == b and a != c
    assert a["n_total"] == 20 and a["success_rate"] == a["n_solved"] / 20
    assert (a["success_ci_low"], a["success_ci_high"]) == wilson_interval(a["n_solved"], 20)


@pytest.mark.parametrize("field, kwargs", [
    ("lr", dict(lr=-0.01)), ("tau_plus_s", dict(rule="stdp", network="spiking", tau_plus_s=-1e-3)),
    ("tau_minus_s", dict(rule="stdp", network="spiking", tau_minus_s=0.0)), ("task", dict(task="xnand")),
    ("hidden_sizes", dict(hidden_sizes=())), ("rule", dict(rule="stdp")),
    ("n_steps", dict(network="spiking", n_steps=0)),
    ("learned_parameters", dict(rule="learned")), ("input_rate", dict(network="spiking", input_rate=1.5)),
])
def test_bad_config_names_the_field(field, kwargs):
    with pytest.raises(ValueError, match=field):
        HebbianRun(**kwargs)


def test_bad_inputs_and_targets_name_the_field():
    weights = initial_weights((2, 3, 1), 1, torch.Generator().manual_seed(0))
    order = torch.zeros(1, 1, dtype=torch.long)
    with pytest.raises(ValueError, match="inputs"):
        train(RATE, rules.SeedSupervised(), weights, patterns() * 0.5, targets("and"), order)
    with pytest.raises(ValueError, match="target"):
        train(RATE, rules.SeedSupervised(), weights, patterns(), targets("and")[:3], order)
    with pytest.raises(ValueError, match="target"):
        train(RATE, rules.SeedSupervised(), weights, patterns(), targets("and") * 2, order)
    with pytest.raises(ValueError, match="meta_lr"):
        MetaTraining(meta_lr=-1.0)
    with pytest.raises(ValueError, match="tau_minus_s"):
        stdp_delta(torch.zeros(1, 1, 2, 1), torch.zeros(1, 1, 2, 1), 0.1, 0.1, 0.02, -0.02, 1e-3)
