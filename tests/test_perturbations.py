"""Perturbations (spikeloc.perturbations): each one's semantics on small hand-checkable cases, exact restoration,
validation, the curves table, the command line, one machinery with the neuromodulation study's weight noise,
and equal curves for an snnTorch network imported through NIR and its spikeloc twin."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from spikeloc.cli import main
from spikeloc.experiments.ipd import IPDRun, model_metadata
from spikeloc.learning.neuromodulation import robustness_curve
from spikeloc.learning.surrogate import evaluate
from spikeloc.learning.trainer import MemberData
from spikeloc.networks.classifier import ClassifierConfig, Member, SpikingClassifier
from spikeloc.networks.saved import save
from spikeloc.perturbations import (
    PERTURBATIONS,
    SUITES,
    EvaluationData,
    all_applied,
    check_suite,
    ipd_data,
    model_data,
    parse_suite,
    perturbation_curves,
    robustness_scores,
    summary,
)
from spikeloc.perturbations.neurons import thresholds_scaled
from spikeloc.perturbations.spikes import jittered
from spikeloc.perturbations.weights import quantise, quantised
from spikeloc.substrate.layers import spiking_layers
from spikeloc.substrate.synapses import Synapses

NON_TASK = [name for name, p in PERTURBATIONS.items() if p.kind != "task"]
SOME_LEVEL = {"quantisation": 3, "jitter": 2, "background": 50, "transmission": 0.5}


def tiny_network(members=2, readout="membrane", dale="both", threshold=1.0, **config):
    config = ClassifierConfig(n_inputs=20, hidden=(10,), n_classes=4, readout=readout, threshold=threshold,
                              **config)
    network = SpikingClassifier(config, [Member(seed=k, dale_layers=dale) for k in range(members)])
    with torch.no_grad():
        for synapses in network.synapses:
            synapses.raw_weight.mul_(3)  # enough drive for hidden spikes
    return network.eval()


def tiny_inputs(members=2, batch=16, steps=30, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(members, batch, steps, 20, generator=g) < 0.2).float()


def tiny_data(members=2, n=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 30, 20, generator=g) < 0.2
    y = torch.randint(0, 4, (n,), generator=g)
    return EvaluationData(MemberData.stack([(x, y)] * members))


def generators(n, seed=0):
    return [torch.Generator().manual_seed(seed + k) for k in range(n)]


def hidden_spikes(network, x):
    seen = []
    handle = network.hidden_layers[0].register_forward_hook(lambda _, __, out: seen.append(out))
    with torch.no_grad():
        network(x)
    handle.remove()
    return seen[0]


@pytest.mark.parametrize("name", NON_TASK)
def test_leaving_the_context_restores_the_network_bit_for_bit(name):
    network, x = tiny_network(), tiny_inputs()
    before = {key: value.clone() for key, value in network.state_dict().items()}
    with torch.no_grad():
        clean = network(x)
        with PERTURBATIONS[name].applied(network, SOME_LEVEL.get(name, 0.3), generators(2)):
            perturbed = network(x)
        after = network(x)
    assert not torch.equal(perturbed, clean)  # the perturbation did act
    assert torch.equal(after, clean)
    assert network.state_dict().keys() == before.keys()
    assert all(torch.equal(network.state_dict()[key], value) for key, value in before.items())
    assert all(type(s.raw_weight) is torch.nn.Parameter and not hasattr(s, "parametrizations")
               for s in network.synapses)
    assert all(not s._forward_pre_hooks for s in network.synapses)
    assert all("beta" not in layer.__dict__ for layer in [*network.hidden_layers, network.readout])


def test_an_exception_inside_composed_perturbations_restores_the_network():
    network, x = tiny_network(), tiny_inputs()
    with torch.no_grad():
        clean = network(x)
    conditions = [(PERTURBATIONS["weight_mismatch"], 0.2), (PERTURBATIONS["transmission"], 0.5),
                  (PERTURBATIONS["tau_mismatch"], 0.2)]
    with pytest.raises(RuntimeError, match="inside"):
        with all_applied(network, conditions, [generators(2), generators(2, 5), generators(2, 9)]):
            raise RuntimeError("inside")
    with torch.no_grad():
        assert torch.equal(network(x), clean)


def test_quantisation_has_the_levels_of_its_bits_and_keeps_dale_signs():
    network = tiny_network(dale="both")
    clean = {name: layer.effective_weight().detach().clone() for name, layer in spiking_layers(network).items()}
    with quantised(network, 3):
        for name, layer in spiking_layers(network).items():
            weight = layer.effective_weight().detach()
            for k in range(2):
                step = clean[name][k].abs().max() / 3  # 2^(3-1) - 1 = 3 steps each side of 0
                counts = weight[k] / step
                assert torch.allclose(counts, counts.round(), atol=1e-5)
                assert set(counts.round().unique().tolist()) <= {-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0}
                assert float(counts.abs().max().round()) == 3
            kept = weight != 0
            assert torch.equal(torch.sign(weight[kept]), torch.sign(clean[name][kept]))
    assert torch.equal(quantise(torch.tensor([[0.0, 0.0]]), 4), torch.zeros(1, 2))


def test_neuron_deletion_silences_exactly_the_fraction_asked():
    network, x = tiny_network(), tiny_inputs()
    with PERTURBATIONS["neuron_deletion"].applied(network, 0.3, generators(2)):
        weight = network.synapses[0].effective_weight().detach()
        silent = (weight == 0).all(dim=1)  # (members, hidden units): no input at all
        assert silent.sum(dim=1).tolist() == [3, 3]
        spikes = hidden_spikes(network, x)
    assert float(spikes.sum()) > 0
    assert float(spikes.sum(dim=(1, 2))[silent].sum()) == 0
    assert not torch.equal(silent[0], silent[1])  # each member (draw) its own units


def test_a_threshold_factor_equals_a_network_built_with_that_threshold():
    low, high, x = tiny_network(), tiny_network(threshold=2.0), tiny_inputs()
    factors = {"input": torch.full((2, 10), 2.0)}
    with thresholds_scaled(low, factors):
        scaled = hidden_spikes(low, x)
    assert torch.equal(scaled, hidden_spikes(high, x)) and float(scaled.sum()) > 0


def test_jitter_keeps_every_trains_spike_count_and_moves_spikes():
    x = tiny_inputs()
    moved = jittered(x, 3, generators(2))
    assert torch.equal(moved.sum(dim=2), x.sum(dim=2))
    assert not torch.equal(moved, x)
    assert torch.equal(jittered(x, 0, generators(2)), x)
    # each spike moves by at most 3 steps: the cumulative counts differ by at most the spikes within 3 steps
    early = x.cumsum(dim=2)
    assert bool((moved.cumsum(dim=2)[:, :, :-3] <= early[:, :, 3:]).all())


@pytest.mark.parametrize("name, none, every", [("transmission", 1.0, 0.0), ("input_deletion", 0.0, 1.0)])
def test_transmission_and_deletion_extremes(name, none, every):
    network, x = tiny_network(), tiny_inputs()
    with torch.no_grad():
        clean = network(x)
        with PERTURBATIONS[name].applied(network, none, generators(2)):
            assert torch.equal(network(x), clean)
        with PERTURBATIONS[name].applied(network, every, generators(2)):
            assert float(network(x).abs().sum()) == 0  # no spike arrives: the readout stays at 0


def test_background_at_one_spike_per_step_fills_every_input():
    network = tiny_network()
    seen = []
    network.synapses[0].register_forward_hook(lambda module, args, out: seen.append(args[0]))
    with torch.no_grad(), PERTURBATIONS["background"].applied(network, 1000.0, generators(2)):
        network(torch.zeros(2, 4, 30, 20))
    assert bool((seen[0] == 1).all())


def test_synapse_failure_removes_about_the_fraction_and_zero_removes_none():
    network = tiny_network(dale="none")
    with PERTURBATIONS["synapse_failure"].applied(network, 0.5, generators(2)):
        removed = float((network.synapses[0].effective_weight() == 0).float().mean())
    assert 0.4 < removed < 0.6
    with PERTURBATIONS["synapse_failure"].applied(network, 0.0, generators(2)):
        assert torch.equal(network.synapses[0].effective_weight(), network.synapses[0].raw_weight)


@pytest.mark.parametrize("suite, message", [
    ([("neuron_deletion", (1.5,))], "level of neuron_deletion = 1.5"),
    ([("quantisation", (-3,))], "level of quantisation = -3"),
    ([("quantisation", (4.5,))], "integer >= 2"),
    ([("jitter", (1.5,))], "integer >= 0"),
    ([("transmission", (-0.1,))], "in \\[0, 1\\]"),
    ([("additive_noise", (math.nan,))], "finite"),
    ([("no_such", (0.1,))], "perturbation = 'no_such'"),
    ([("jitter", ())], "one or more levels"),
])
def test_levels_outside_their_range_are_refused_naming_the_perturbation(suite, message):
    with pytest.raises(ValueError, match=message):
        check_suite(suite)


def test_suites_parse_and_bad_items_are_refused():
    assert parse_suite(["quick"]) == SUITES["quick"]
    assert parse_suite(["jitter:1,2", "quantisation:4"]) == (("jitter", (1.0, 2.0)), ("quantisation", (4.0,)))
    for items in (["jitter"], ["jitter:a"], ["jitter:1", "jitter:2"]):
        with pytest.raises(ValueError):
            parse_suite(items)
    assert all(len(levels) == 5 for _, levels in SUITES["default"]) and len(SUITES["quick"]) >= 8


def test_background_faster_than_one_spike_per_step_is_refused_before_work():
    with pytest.raises(ValueError, match="1 / dt_s"):
        perturbation_curves(tiny_network(), tiny_data(), [("background", (2000,))], draws=1)


def test_curves_table_shape_and_determinism():
    network, data = tiny_network(), tiny_data()
    suite = [("weight_mismatch", (0.1, 0.5)), ("jitter", (1, 2, 3)), ("quantisation", (4,))]
    table = perturbation_curves(network, data, suite, draws=3, seed=7)
    assert len(table) == 2 * ((1 + 2 * 3) + (1 + 3 * 3) + (1 + 1 * 3))
    assert list(table.columns) == ["model", "member", "member_seed", "perturbation", "kind", "level", "severity",
                                   "draw", "acc", "chance"]
    assert table.groupby(["perturbation", "member"]).size().to_dict()[("jitter", 1)] == 10
    assert table.loc[table["perturbation"] == "quantisation", "level"].max() == math.inf
    pd.testing.assert_frame_equal(table, perturbation_curves(network, data, suite, draws=3, seed=7))
    assert not perturbation_curves(network, data, suite, draws=3, seed=8)["acc"].equals(table["acc"])
    stats = summary(table)
    assert set(stats["unit"]) == {"network"} and int(stats["n_units"].max()) == 2
    one = summary(table[table["member"] == 0])
    assert set(one["unit"]) == {"draw"} and int(one["n_units"].max()) == 3
    scores = robustness_scores(table)
    assert len(scores) == 2 * 3 and set(scores.columns) >= {"auc", "half_level", "clean_acc"}


def test_each_replica_draw_equals_the_member_perturbed_alone():
    from spikeloc import seeding

    network, data = tiny_network(), tiny_data()
    table = perturbation_curves(network, data, [("threshold_mismatch", (0.3,))], draws=3, seed=3)
    stream = PERTURBATIONS["threshold_mismatch"].stream(0.3)
    accs = set()
    for member in range(2):
        alone = network.restrict([member])
        for draw in range(3):
            with PERTURBATIONS["threshold_mismatch"].applied(
                    alone, 0.3, [seeding.generator(3, f"{stream}/{draw}/member{member}")]):
                acc = evaluate(alone, data.replicated([member]).member_data, split="test")[0]["acc"]
            row = table[(table["member"] == member) & (table["draw"] == draw) & (table["level"] == 0.3)]
            assert float(row["acc"].iloc[0]) == acc
            accs.add(acc)
    assert len(accs) > 2  # the draws differ, so the check can tell them apart


def test_robustness_scores_on_a_hand_computed_curve():
    rows = [("m", 0, 0, "synapse_failure", "weights", level, level, 0, acc, 0.25)
            for level, acc in ((0.0, 0.85), (0.2, 0.85), (0.4, 0.55), (0.8, 0.25))]
    table = pd.DataFrame(rows, columns=["model", "member", "member_seed", "perturbation", "kind", "level",
                                        "severity", "draw", "acc", "chance"])
    score = robustness_scores(table).iloc[0]
    # normalised 1, 1, 0.5, 0: trapezoids 0.2 * 1 + 0.2 * 0.75 + 0.4 * 0.25 = 0.45 over 0.8
    assert score["auc"] == pytest.approx(0.45 / 0.8)
    assert score["half_level"] == pytest.approx(0.4)


def test_additive_noise_curve_is_the_neuromodulation_studys_noisy_accuracy():
    network, data = tiny_network(members=1), tiny_data(members=1)
    scales = (0.3, 1.0)
    table = perturbation_curves(network, data, [("additive_noise", scales)], draws=4, seed=11)
    study = robustness_curve(spiking_layers(network),
                             lambda: [m["acc"] for m in evaluate(network, data.member_data, split="test")],
                             11, scales, ("relative",), n_draws=4)
    for point in study:
        ours = table.loc[table["level"] == point["scale"], "acc"].to_numpy()
        assert ours.std() > 0 or point["scale"] == 0
        assert float(ours.mean()) == point["mean"] and float(ours.std()) == point["sd"]


def test_the_command_line_writes_curves_of_a_saved_model_and_refuses_bad_input(tmp_path, capsys):
    run = IPDRun(n_test_samples=32)
    network = SpikingClassifier(run.network_config(), [run.member(0)])
    save(network, tmp_path / "ipd.pt", model_metadata([(run, 0)]))
    save(network, tmp_path / "bare.pt", {})
    out = tmp_path / "out"
    assert main(["perturb", "--model", str(tmp_path / "ipd.pt"), "--suite", "jitter:1,2", "phase_noise:0.5",
                 "--draws", "2", "--out", str(out)]) == 0
    table = pd.read_csv(out / "curves.csv")
    assert len(table) == (1 + 2 * 2) + (1 + 2)
    assert {"summary.csv", "scores.csv", "score_summary.csv", "curve_jitter.png", "curve_phase_noise.png"} <= {
        p.name for p in out.iterdir()}
    capsys.readouterr()
    bad = tmp_path / "bad"
    for argv, message in (
            (["--suite", "neuron_deletion:1.5"], "argument --suite: level of neuron_deletion = 1.5"),
            (["--suite", "quantisation:-3"], "argument --suite: level of quantisation = -3"),
            (["--suite", "pixel_noise:0.1"], "argument --suite"),
            (["--draws", "0"], "argument --draws")):
        assert main(["perturb", "--model", str(tmp_path / "ipd.pt"), *argv, "--out", str(bad)]) == 2
        error = capsys.readouterr().err
        assert message in error and len(error.strip().splitlines()) == 1
    assert main(["perturb", "--model", str(tmp_path / "bare.pt"), "--out", str(bad)]) == 2
    assert "argument --dataset" in capsys.readouterr().err
    damaged = model_metadata([(run, 0)])
    damaged["runs"][0]["config"]["bogus"] = 1  # read as `spikeloc eval` reads it: blamed on the file, one line
    save(network, tmp_path / "damaged.pt", damaged)
    assert main(["perturb", "--model", str(tmp_path / "damaged.pt"), "--out", str(bad)]) == 2
    error = capsys.readouterr().err
    assert "argument --model" in error and "unknown field 'bogus'" in error and len(error.strip().splitlines()) == 1
    assert not bad.exists()


def test_several_models_make_the_network_the_unit(tmp_path):
    run = IPDRun(n_test_samples=16)
    for seed in (0, 1):
        network = SpikingClassifier(run.network_config(), [run.member(seed)])
        save(network, tmp_path / f"m{seed}.pt", model_metadata([(run, seed)]))
    out = tmp_path / "out"
    assert main(["perturb", "--model", str(tmp_path / "m0.pt"), str(tmp_path / "m1.pt"), "--suite",
                 "synapse_failure:0.5", "--draws", "2", "--out", str(out)]) == 0
    stats = pd.read_csv(out / "summary.csv")
    assert set(stats["unit"]) == {"network"} and stats["n_units"].max() == 2


def test_ipd_data_holds_each_members_test_set():
    run = IPDRun(n_test_samples=8)
    data = ipd_data([(run, 0), (run, 1)])
    assert data.member_data.inputs.shape[:2] == (2, 8) and data.ipd_runs == ((run, 0), (run, 1))
    assert np.array_equal(data.replicated([1, 1, 0]).member_data.source.tolist(), [1, 1, 0])


def test_an_snntorch_network_imported_through_nir_has_its_spikeloc_twins_curves(tmp_path):
    nir = pytest.importorskip("nir")
    pytest.importorskip("nirtorch")
    import snntorch as snn
    from snntorch.export_nir import export_to_nir

    from spikeloc.networks import nir as exchange

    torch.manual_seed(0)
    first, second = torch.nn.Linear(20, 10, bias=False), torch.nn.Linear(10, 4, bias=False)
    with torch.no_grad():
        first.weight.mul_(4)
        second.weight.mul_(4)
    hidden_beta, readout_beta = torch.rand(10) * 0.5 + 0.45, torch.rand(4) * 0.5 + 0.45
    source = torch.nn.Sequential(
        first, snn.Leaky(beta=hidden_beta, threshold=torch.ones(10), reset_mechanism="zero", init_hidden=True),
        second, snn.Leaky(beta=readout_beta, threshold=torch.ones(4), reset_mechanism="zero", init_hidden=True,
                          output=True))
    nir.write(tmp_path / "snntorch.nir", export_to_nir(source, torch.zeros(1, 20), ignore_dims=[0]))
    imported = exchange.read(tmp_path / "snntorch.nir", snntorch_reset="zero")  # the source resets to zero
    # the twin: built by spikeloc from the snnTorch module's own numbers (tau = -dt / ln beta)
    config = ClassifierConfig(n_inputs=20, hidden=(10,), n_classes=4, readout="spikes", learn_tau=True)
    twin = SpikingClassifier(config, [Member()]).eval()
    with torch.no_grad():
        twin.synapses[0].raw_weight.copy_(first.weight.T[None])
        twin.synapses[1].raw_weight.copy_(second.weight.T[None])
        for layer, beta in ((twin.hidden_layers[0], hidden_beta), (twin.readout, readout_beta)):
            layer.time_constants.log_tau.copy_(torch.log(-config.dt_s / torch.log(beta.double())).float()[None])
    data = tiny_data(members=1)
    suite = [(name, (SOME_LEVEL.get(name, 0.3),)) for name in NON_TASK]
    ours = perturbation_curves(twin, data, suite, draws=3, seed=2)
    theirs = perturbation_curves(imported, data, suite, draws=3, seed=2)
    assert ours["acc"].std() > 0
    pd.testing.assert_frame_equal(ours, theirs)


def test_the_command_line_reads_nir_graphs_and_asks_their_task(tmp_path, capsys):
    pytest.importorskip("nir")
    pytest.importorskip("nirtorch")
    from spikeloc.networks import nir as exchange

    run = IPDRun(n_test_samples=16)
    exchange.write(SpikingClassifier(run.network_config(), [run.member(0)]), tmp_path / "ipd.nir", 0)
    argv = ["perturb", "--model", str(tmp_path / "ipd.nir"), "--suite", "jitter:1", "--draws", "1", "--out",
            str(tmp_path / "out")]
    assert main(argv) == 2 and "argument --dataset" in capsys.readouterr().err
    assert main([*argv, "--dataset", "mnist-5k"]) == 2 and "got 784 values" in capsys.readouterr().err
    assert main([*argv, "--dataset", "ipd"]) == 0
    assert len(pd.read_csv(tmp_path / "out" / "curves.csv")) == 2


def tiny_fit(network, hooks, epochs=2):
    from spikeloc.learning.surrogate import TrainConfig, fit

    data = tiny_data(members=network.n_members).member_data
    return fit(network, data, data, TrainConfig(epochs=epochs, batch_size=8, lr=0.01), hooks=hooks)


def test_mismatch_aware_training_draws_per_batch_trains_the_stored_weights_and_leaves_a_plain_network():
    from spikeloc.perturbations.training import MismatchTraining, robust_training

    network = tiny_network()
    parameters = [s.raw_weight for s in network.synapses]
    before = [p.detach().clone() for p in parameters]
    x = tiny_inputs()
    with robust_training(network, mismatch_sigma=0.3) as hooks:
        (hook,) = hooks
        assert isinstance(hook, MismatchTraining)
        outputs = []
        for _ in range(2):
            hook.before_batch()
            with torch.no_grad():
                outputs.append(network.train()(x))
                clean_in_eval = network.eval()(x)
        assert not torch.equal(outputs[0], outputs[1])  # a fresh draw per batch
        with torch.no_grad():
            assert torch.equal(clean_in_eval, tiny_network()(x))  # validation sees the clean network
        tiny_fit(network, hooks)
    assert all(s.raw_weight is p for s, p in zip(network.synapses, parameters))  # the optimiser's own tensors
    assert all(not torch.equal(p.detach(), b) for p, b in zip(parameters, before))
    assert not any(hasattr(s, "parametrizations") for s in network.synapses)
    trained = []
    for _ in range(2):  # the draws come from the members' seeds: the same training twice
        again = tiny_network()
        with robust_training(again, mismatch_sigma=0.3) as hooks:
            tiny_fit(again, hooks)
        trained.append([s.raw_weight.detach() for s in again.synapses])
    assert all(torch.equal(a, b) for a, b in zip(*trained))


def test_quantisation_aware_training_computes_with_quantised_weights_and_passes_gradients_straight_through():
    from spikeloc.perturbations.training import robust_training

    network = tiny_network(dale="none")
    with robust_training(network, qat_bits=3) as hooks:
        assert hooks == ()
        stored = spiking_layers(network)["input"].weight
        weight = network.synapses[0].effective_weight()
        assert torch.equal(weight.detach(), quantise(stored.detach(), 3))
        weight.sum().backward()
        assert torch.equal(stored.grad, torch.ones_like(weight))
        stored.grad = None
        tiny_fit(network, hooks)
    assert not any(hasattr(s, "parametrizations") for s in network.synapses)
    assert len(network.synapses[0].raw_weight.detach().unique()) > 7  # float weights stored


@pytest.mark.parametrize("settings, message", [({"mismatch_training": -0.1}, "mismatch_training"),
                                               ({"qat_bits": 1}, "qat_bits")])
def test_robust_training_settings_are_validated_in_the_run_configs(settings, message):
    from spikeloc.experiments.digits import DigitsRun

    for config in (IPDRun, DigitsRun):
        with pytest.raises(ValueError, match=message):
            config(**settings)


@pytest.mark.parametrize("argv, option", [(["train-ipd", "--qat-bits", "1"], "--qat-bits"),
                                          (["train-digits", "--mismatch-training", "-1"], "--mismatch-training")])
def test_train_commands_refuse_bad_robust_training_settings(argv, option, capsys):
    assert main(argv) == 2
    assert f"argument {option}" in capsys.readouterr().err


def test_the_study_grid_pairs_every_regime_on_the_same_sizes():
    from spikeloc.perturbations.regimes import REGIMES, RegimeRun, regime_hooks
    from spikeloc.studies import perturbations as study

    runs = study.grid(study.PRESETS["quick"], {"epochs": 1})
    assert [run.regime for run in runs] == list(REGIMES) == list(study.REGIMES)
    assert len({dataclasses_key(run) for run in runs}) == 1
    with pytest.raises(ValueError, match="regime"):
        RegimeRun(regime="magic")
    network = tiny_network(members=1)
    for regime, count in (("plain", 0), ("weight_noise", 1), ("mismatch_aware", 1), ("quantisation_aware", 0)):
        with regime_hooks(RegimeRun(regime=regime), network, 0, 0.01) as hooks:
            assert len(hooks) == count
    assert not hasattr(network.synapses[0], "parametrizations")


def dataclasses_key(run):
    import dataclasses

    return tuple(value for name, value in dataclasses.asdict(run).items() if name != "regime")


def test_an_image_model_is_scored_on_its_own_recorded_dataset_without_naming_it(tmp_path):
    from spikeloc.experiments import digits
    from spikeloc.perturbations.cli import load_network

    run = digits.DigitsRun(hidden=(8,), steps=5)
    network = SpikingClassifier(run.network_config(n_inputs=784, n_classes=10), [run.member(0)])
    save(network, tmp_path / "digits.pt", digits.model_metadata([(run, 0)]))
    data = model_data(load_network(tmp_path / "digits.pt"))  # no dataset: the record names mnist-5k
    assert data.ipd_runs is None and data.member_data.inputs.shape[-2:] == (1000, 784)
