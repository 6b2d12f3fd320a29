"""Saved models: a round trip gives the same outputs bit for bit; corrupt or foreign files get a clear error."""

import copy
import dataclasses
import io
import json

import pytest
import torch

from spikeloc.cli import main

from spikeloc.networks.classifier import ClassifierConfig, Member, SpikingClassifier
from spikeloc.networks.saved import ModelFileError, load, save


def trained_looking_network():
    config = ClassifierConfig(n_inputs=10, hidden=(8, 6), n_classes=3, readout="spikes", tau_s=8e-3)
    members = [Member(seed=0, dropout=(0.1, 0.2), dale_layers=("input", "hidden_1"), ie_ratio=0.3), Member(seed=1)]
    net = SpikingClassifier(config, members)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(5)) * 0.3)
    return net.eval()


def test_round_trip_gives_identical_outputs_configs_and_metadata(tmp_path):
    net = trained_looking_network()
    save(net, tmp_path / "model.pt", metadata={"task": "demo", "run": {"steps": 25, "hidden": [8, 6]}})
    loaded = load(tmp_path / "model.pt")
    assert loaded.network.config == net.config and loaded.network.members == net.members
    assert loaded.metadata == {"task": "demo", "run": {"steps": 25, "hidden": [8, 6]}}
    assert loaded.spikeloc_version
    x = (torch.rand(2, 4, 30, 10, generator=torch.Generator().manual_seed(0)) < 0.5).float()
    assert torch.equal(loaded.network(x), net(x))
    for name, tensor in net.state_dict().items():
        assert torch.equal(loaded.network.state_dict()[name], tensor), name


def test_corrupt_foreign_and_missing_files_are_refused_by_name(tmp_path):
    save(trained_looking_network(), tmp_path / "model.pt")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes((tmp_path / "model.pt").read_bytes()[:500])
    foreign = tmp_path / "foreign.pt"
    torch.save({"weight": torch.zeros(3)}, foreign)
    text = tmp_path / "notes.txt"
    text.write_text("not a model")
    for path in (corrupt, foreign, text, tmp_path / "missing.pt"):
        with pytest.raises(ModelFileError, match=path.name):
            load(path)


def test_loading_never_unpickles_code(tmp_path, capsys):
    class Payload:
        def __reduce__(self):
            return (print, ("executed",))

    evil = tmp_path / "evil.pt"
    torch.save({"format": "spikeloc.SpikingClassifier", "payload": Payload()}, evil)
    with pytest.raises(ModelFileError, match="evil.pt"):
        load(evil)
    assert "executed" not in capsys.readouterr().out


def test_unknown_format_version_is_refused(tmp_path):
    path = tmp_path / "future.pt"
    torch.save({"format": "spikeloc.SpikingClassifier", "format_version": 99}, path)
    with pytest.raises(ModelFileError, match="version 99"):
        load(path)


# --------------------------------------------------------------------------
# Damaged model files through the command line: each is one line naming the file and what is wrong, exit 2

def ipd_model_content(path) -> dict:
    """What ``train-ipd --save`` writes for a small two-member IPD ensemble (untrained: scoring it is what
    matters), read back as plain values: member 0 obeys Dale's law on both layers, member 1 on none; per-neuron
    time constants, so every kind of tensor is there."""
    from spikeloc.experiments.ipd import IPDRun, model_metadata

    run = IPDRun(n_hidden=6, n_test_samples=16, tau_distribution="gamma", tau_spread=0.2)
    runs = [(dataclasses.replace(run, dale_layers="both"), 3), (run, 4)]
    save(SpikingClassifier(run.network_config(), [r.member(seed) for r, seed in runs]), path, model_metadata(runs))
    return torch.load(path, weights_only=True)


def set_tensor(name, change):
    def damage(content):
        tensor = content["state"][name]
        content["state"][name] = change(tensor.clone())
    return damage


def assign(name, index, value):
    def change(tensor):
        tensor[index] = value
        return tensor
    return set_tensor(name, change)


def edit(*keys, value=None, delete=False):
    """Set (or delete) content[keys[0]][keys[1]]...."""
    def damage(content):
        target = content
        for key in keys[:-1]:
            target = target[key]
        if delete:
            del target[keys[-1]]
        else:
            target[keys[-1]] = value
    return damage


def on_bytes(change):
    """A damage to the saved file's bytes (``change(whole) -> bytes``) rather than to its content."""
    change.on_bytes = True
    return change


def rename(old, new):
    def damage(content):
        content["state"][new] = content["state"].pop(old)
    return damage


INPUT, READOUT, SIGNS = "synapses.0.raw_weight", "synapses.1.raw_weight", "synapses.0.signs"
TAU = "hidden_layers.0.time_constants.log_tau"
#: (name, damage to the content dict, or bytes of the whole file; what the one line must name)
DAMAGED = [
    ("one NaN weight", assign(INPUT, (0, 0, 0), float("nan")), INPUT),
    ("all weights NaN", set_tensor(INPUT, lambda t: torch.full_like(t, float("nan"))), INPUT),
    ("Inf input weight", assign(INPUT, (1, 3, 2), float("inf")), INPUT),
    ("-Inf readout weight", assign(READOUT, (0, 1, 1), -float("inf")), READOUT),
    ("NaN time constant", assign(TAU, (1, 0), float("nan")), TAU),
    ("integer weights", set_tensor(INPUT, lambda t: (t * 100).long()), INPUT),
    ("float64 weights", set_tensor(READOUT, lambda t: t.double()), READOUT),
    ("boolean signs", set_tensor(SIGNS, lambda t: t > 0), SIGNS),
    ("Dale sign 7", assign(SIGNS, (0, 2), 7.0), SIGNS),
    ("Dale sign 0.5", assign(SIGNS, (0, 2), 0.5), SIGNS),
    ("Dale sign 0 on a Dale layer", assign(SIGNS, (0, 2), 0.0), SIGNS),
    ("Dale sign on a free member", assign(SIGNS, (1, 0), -1.0), SIGNS),
    ("dropout rate 7", assign("dropout", (0, 0), 7.0), "dropout"),
    ("missing tensor", edit("state", READOUT, delete=True), READOUT),
    ("extra tensor", edit("state", "synapses.2.raw_weight", value=torch.zeros(3)), "synapses.2.raw_weight"),
    ("renamed tensor", rename(INPUT, "synapses.0.weight"), "synapses.0.weight"),
    ("transposed weights", set_tensor(INPUT, lambda t: t.transpose(1, 2).contiguous()), INPUT),
    ("a list for a tensor", set_tensor(READOUT, lambda t: t.tolist()), READOUT),
    ("state not a dict", edit("state", value=[1, 2]), "state"),
    ("config lacks hidden (default 30 units)", edit("config", "hidden", delete=True), INPUT),
    ("config field unknown", edit("config", "n_outputs", value=3), "n_outputs"),
    ("config n_classes -3", edit("config", "n_classes", value=-3), "n_classes"),
    ("config of 10^12 hidden units", edit("config", "hidden", value=(10**12,)), "config.hidden"),
    ("member field unknown", edit("members", 1, "sede", value=4), "sede"),
    ("member dropout 2", edit("members", 0, "dropout", value=2.0), "dropout"),
    ("one member too many", lambda c: c["members"].append(dict(c["members"][1])), "dropout"),
    ("spikeloc_version missing", edit("spikeloc_version", delete=True), "spikeloc_version"),
    ("metadata not a dict", edit("metadata", value="ipd"), "metadata"),
    ("metadata lacks runs", edit("metadata", "runs", delete=True), "runs"),
    ("metadata task missing", edit("metadata", "task", delete=True), "task"),
    ("metadata run config field unknown", edit("metadata", "runs", 0, "config", "n_hiden", value=6), "n_hiden"),
    ("metadata n_test_samples -5", edit("metadata", "runs", 1, "config", "n_test_samples", value=-5),
     "n_test_samples"),
    ("metadata seed missing", edit("metadata", "runs", 0, "seed", delete=True), "runs[0]"),
    ("metadata seed -1", edit("metadata", "runs", 0, "seed", value=-1), "seed"),
    ("metadata run of another network", edit("metadata", "runs", 0, "config", "fibres_per_ear", value=50),
     "runs[0]"),
    ("metadata one run short", lambda c: c["metadata"]["runs"].pop(), "runs"),
    ("format version 99", edit("format_version", value=99), "version 99"),
    ("no format marker", edit("format", delete=True), "format marker"),
    ("truncated file", on_bytes(lambda whole: whole[: len(whole) // 2]), "not a readable"),
    ("not a torch file", on_bytes(lambda whole: b"status,test_acc\nok,0.5\n"), "not a readable"),
    ("empty file", on_bytes(lambda whole: b""), "not a readable"),
]


@pytest.fixture(scope="module")
def good_model(tmp_path_factory):
    return ipd_model_content(tmp_path_factory.mktemp("model") / "model.pt")


def damaged_file(good_model, damage, path):
    """``path`` holding ``good_model`` with ``damage`` done to its content (or, for :func:`on_bytes`, to the
    whole file's bytes)."""
    content = copy.deepcopy(good_model)
    if not getattr(damage, "on_bytes", False):
        damage(content)
    buffer = io.BytesIO()
    torch.save(content, buffer)
    path.write_bytes(damage(buffer.getvalue()) if getattr(damage, "on_bytes", False) else buffer.getvalue())
    return path


def test_the_undamaged_model_is_scored(good_model, tmp_path, capsys):
    path = damaged_file(good_model, lambda content: None, tmp_path / "model.pt")
    assert main(["eval-ipd", "--model", str(path), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["n_test_samples"] for row in rows] == [16, 16]


@pytest.mark.parametrize("name, damage, named", DAMAGED, ids=[row[0] for row in DAMAGED])
def test_a_damaged_model_is_one_line_naming_the_file_and_what_is_wrong(good_model, tmp_path, capsys, name, damage,
                                                                     named):
    path = damaged_file(good_model, damage, tmp_path / "damaged.pt")
    status = main(["eval-ipd", "--model", str(path), "--json"])
    out, err = capsys.readouterr()
    assert status == 2 and out == "", (status, out[:200])  # status 0: scored silently
    assert err.count("\n") == 1 and err.startswith("spikeloc eval-ipd: error: argument --model: "), err
    assert str(path) in err and named in err, err


def test_a_bad_typed_value_is_still_blamed_on_its_option(good_model, tmp_path, capsys):
    path = damaged_file(good_model, lambda content: None, tmp_path / "model.pt")
    assert main(["eval-ipd", "--model", str(path), "--n-samples", "0"]) == 2
    assert "argument --n-samples:" in capsys.readouterr().err
