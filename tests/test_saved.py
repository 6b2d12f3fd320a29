"""Saved models: a round trip gives the same outputs bit for bit; corrupt or foreign files get a clear error."""

import pytest
import torch

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
