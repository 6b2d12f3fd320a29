"""spikeloc on one GPU (issue 18): the fused LIF kernel against snnTorch and SpikingJelly, training epochs against
one CPU thread, and two studies' seed presets end to end. One process; ratios are against baselines measured in
this same run. Exits with one line when there is no CUDA device (``--smoke`` runs every section tiny on the CPU
to check the script itself, and measures nothing).

1. Layer: ``Linear(n, n)`` + a LIF layer, forward + backward, batch 16, T = 500, n = 4096 and 16384 (the shape of
   the Open Neuromorphic framework benchmark), float32: snnTorch 1.0 (``snn.Leaky`` stepped over time),
   SpikingJelly 2.0 (``LIFNode(step_mode="m")``, its default CUDA kernel), spikeloc ``lif_spikes`` with the
   Triton kernel (``backend="auto"`` on CUDA) and with its torch loop (the CUDA path before the kernel). Median
   seconds per forward + backward and the peak GPU memory one step allocates beyond its inputs and weights.
   snnTorch and SpikingJelly are skipped with a note where they are not installed.
2. IPD training epoch (64 batches of 64, T = 100, 200 in, 30 hidden; benchmarks/bench_epoch.py's variants): the
   seed's loop on the GPU, spikeloc K = 1 and a K = 54 ensemble (the robustness grid's 3 runs x 3 dropouts x 6
   sigmas) on the GPU, spikeloc K = 1 on one CPU thread.
3. MNIST-5k epoch (784-400-10, rate code, T = 25, batches of 128): the GPU against one CPU thread.
4. ``studies/robustness.py --preset seed`` and ``studies/neuromodulation.py --preset seed`` with ``--device cuda``,
   then ``studies/competing_units.py --preset quick`` (last: the first cut off when time runs short): wall seconds
   end to end (a fresh output directory each). Their CPU times come from the same commands with ``--device cpu``
   (``--cpu-studies``; long: minutes to hours on one CPU).

    python benchmarks/bench_gpu.py [--repeats 5] [--skip-studies] [--cpu-studies] [--smoke]

Aims (issue 18): layer n = 4096 at least as fast as SpikingJelly; IPD K = 1 epoch <= 0.1 s on the GPU
(>= 5x one CPU thread); the 54-network grid <= 5 ms per network-epoch; robustness seed preset < 60 s,
neuromodulation seed preset < 3 min on one GPU.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

import bench_epoch
from spikeloc import datasets, seeding
from spikeloc.experiments.digits import DigitsRun, split
from spikeloc.learning.surrogate import MemberData, train_epoch
from spikeloc.networks.classifier import SpikingClassifier
from spikeloc.runtime import configure
from spikeloc.substrate.fused import lif_spikes

ROOT = Path(__file__).resolve().parents[1]
BETA, THRESHOLD = 0.5, 1.0  # snnTorch / spikeloc beta 0.5 = SpikingJelly tau 2 (its default)


def timed(step: Callable[[], None], repeats: int, device: str) -> float:
    """Median wall seconds of ``step`` after one warm-up call (compilation, allocator), synchronising a GPU."""
    def sync() -> None:
        if device != "cpu":
            torch.cuda.synchronize()
    step()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_mib(step: Callable[[], None], device: str) -> float:
    """GPU memory (MiB) one ``step`` allocates at its peak beyond what was allocated before it (nan on CPU)."""
    if device == "cpu":
        return float("nan")
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    step()
    torch.cuda.synchronize()
    return (torch.cuda.max_memory_allocated() - before) / 2**20


# --- 1. the layer ---------------------------------------------------------------------------------------------
def layer_steps(n: int, batch: int, steps: int, device: str) -> dict[str, Callable[[], None]]:
    """Forward + backward of Linear(n, n) + LIF, one closure per framework (batch-major (B, T, n) for spikeloc,
    time-major (T, B, n) for snnTorch and SpikingJelly, as each expects)."""
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(batch, steps, n, generator=g) < 0.1).float().to(device)  # 10 % input spikes
    x_time_major = x.transpose(0, 1).contiguous()
    fc = nn.Linear(n, n).to(device)
    with torch.no_grad():
        fc.weight.mul_(4.0)  # enough drive that a fair fraction of neurons spike
    variants = {}

    def spikeloc_step(backend: str) -> Callable[[], None]:
        def step() -> None:
            fc.zero_grad(set_to_none=True)
            lif_spikes(fc(x), BETA, THRESHOLD, backend=backend).sum().backward()
        return step

    variants["spikeloc, auto (Triton on CUDA)"] = spikeloc_step("auto")
    variants["spikeloc, torch loop (before)"] = spikeloc_step("torch")
    try:
        import snntorch as snn

        neuron = snn.Leaky(beta=BETA, threshold=THRESHOLD, reset_mechanism="zero")

        def snntorch_step() -> None:
            fc.zero_grad(set_to_none=True)
            currents = fc(x_time_major)
            mem = torch.zeros_like(currents[0])
            spikes = []
            for t in range(steps):
                spk, mem = neuron(currents[t], mem)
                spikes.append(spk)
            torch.stack(spikes).sum().backward()
        variants["snnTorch 1.0, snn.Leaky loop"] = snntorch_step
    except ImportError:
        print("  (snntorch not installed: skipped)")
    try:
        from spikingjelly.activation_based import functional as sj_functional
        from spikingjelly.activation_based import neuron as sj_neuron

        sj_lif = sj_neuron.LIFNode(tau=2.0, v_threshold=THRESHOLD, step_mode="m").to(device)

        def spikingjelly_step() -> None:
            fc.zero_grad(set_to_none=True)
            sj_functional.reset_net(sj_lif)
            sj_lif(fc(x_time_major)).sum().backward()
        variants["SpikingJelly 2.0, LIFNode (m)"] = spikingjelly_step
    except ImportError:
        print("  (spikingjelly not installed: skipped)")
    return variants


def layer_table(repeats: int, device: str, sizes: tuple[int, ...], batch: int, steps: int) -> None:
    print(f"\n1. Linear(n, n) + LIF, forward + backward, batch {batch}, T = {steps}, float32, median of {repeats}")
    print(f"{'n':>6}  {'framework':<32}{'seconds':>10}{'vs SpikingJelly':>17}{'peak MiB':>10}")
    for n in sizes:
        variants = layer_steps(n, batch, steps, device)
        seconds = {name: timed(step, repeats, device) for name, step in variants.items()}
        reference = seconds.get("SpikingJelly 2.0, LIFNode (m)")
        for name, step in variants.items():
            ratio = f"{reference / seconds[name]:>16.2f}x" if reference else f"{'-':>17}"
            print(f"{n:>6}  {name:<32}{seconds[name]:>10.4f}{ratio}{peak_mib(step, device):>10.0f}")
        del variants
        if device != "cpu":
            torch.cuda.empty_cache()


# --- 2. the IPD epoch -----------------------------------------------------------------------------------------
def ipd_epochs(repeats: int, device: str, members: int) -> None:
    print(f"\n2. IPD training epoch ({bench_epoch.N_BATCHES} batches of {bench_epoch.BATCH}, T = 100, 200 in, "
          f"{bench_epoch.HIDDEN} hidden), median of {repeats}")
    gpu_data = bench_epoch.make_data(device=device)
    rows = {
        f"seed loop, {device}": timed(bench_epoch.seed_variant(gpu_data), repeats, device),
        f"spikeloc K = 1, {device}": timed(bench_epoch.spikeloc_variant(gpu_data, "fused"), repeats, device),
    }
    group, grid_data = bench_epoch.grid_members(members, device)
    ensemble = timed(bench_epoch.spikeloc_variant(grid_data, "fused", group), repeats, device)
    rows[f"spikeloc K = {members} ensemble, {device}"] = ensemble
    configure(1)
    cpu = timed(bench_epoch.spikeloc_variant(bench_epoch.make_data(), "fused"), repeats, "cpu")
    rows["spikeloc K = 1, CPU, 1 thread"] = cpu
    print(f"{'variant':<40}{'s/epoch':>10}{'vs 1 CPU thread':>17}")
    for name, seconds in rows.items():
        print(f"{name:<40}{seconds:>10.3f}{cpu / seconds:>16.1f}x")
    print(f"K = {members}: {1e3 * ensemble / members:.1f} ms per network-epoch on {device}")


# --- 3. the MNIST-5k epoch ------------------------------------------------------------------------------------
def digits_epoch_step(device: str, n_train: int) -> Callable[[], None]:
    run = DigitsRun(hidden=(400,), steps=25, batch_size=128, n_train=n_train, device=device)
    dataset = datasets.load(run.dataset)
    train, _, _ = split(dataset, run.n_validation, 0, run.n_train)
    data = MemberData.stack([(train.features().to(device), train.labels.to(device))], run.encoder())
    member = run.member(0)
    network = SpikingClassifier(run.network_config(dataset.n_features, len(dataset.classes)), [member]).to(device)
    optimiser = torch.optim.Adam(network.parameters(), lr=run.lr)
    shuffle, dropout = [seeding.generator(0, "shuffle")], [seeding.generator(0, "dropout", device)]
    encode = data.encode_generators([member], "encode/train")
    return lambda: train_epoch(network, optimiser, data, run.train_config(), shuffle, dropout, encode)


def digits_epochs(repeats: int, device: str, n_train: int) -> None:
    print(f"\n3. MNIST-5k training epoch (784-400-10, rate code, T = 25, batches of 128), median of {repeats}")
    gpu = timed(digits_epoch_step(device, n_train), repeats, device)
    configure(1)
    cpu = timed(digits_epoch_step("cpu", n_train), repeats, "cpu")
    print(f"{device}: {gpu:.3f} s/epoch   CPU, 1 thread: {cpu:.3f} s/epoch   ({cpu / gpu:.1f}x)")


# --- 4. studies end to end -------------------------------------------------------------------------------------
def study_seconds(script: str, preset: str, device: str, extra: list[str]) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, str(ROOT / "studies" / script), "--preset", preset, "--device", device,
                   "--out", str(Path(out) / "results"), "--quiet", *extra]
        start = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        seconds = time.perf_counter() - start
    if done.returncode != 0:
        print(f"  {script} failed (exit {done.returncode}): {done.stderr.strip().splitlines()[-1:]}")
    return seconds, done.returncode


def studies(device: str, preset: str, cpu_too: bool, extra: list[str]) -> None:
    print("\n4. studies, wall seconds end to end (a fresh output directory each)")
    for script, script_preset in (("robustness.py", preset), ("neuromodulation.py", preset),
                                  ("competing_units.py", "quick")):
        seconds, status = study_seconds(script, script_preset, device, extra)
        line = (f"{script:<22} --preset {script_preset:<6} --device {device}: {seconds:8.1f} s"
                + ("" if status == 0 else " (FAILED)"))
        if cpu_too:
            cpu_seconds, cpu_status = study_seconds(script, script_preset, "cpu", extra)
            line += f"   --device cpu: {cpu_seconds:8.1f} s" + ("" if cpu_status == 0 else " (FAILED)")
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--members", type=int, default=54, help="networks in the IPD ensemble")
    parser.add_argument("--skip-studies", action="store_true", help="skip section 4")
    parser.add_argument("--cpu-studies", action="store_true", help="also time the studies with --device cpu")
    parser.add_argument("--smoke", action="store_true",
                        help="every section tiny, on the CPU: checks the script, measures nothing")
    args = parser.parse_args()
    if args.smoke:
        device, sizes, batch, steps, n_train, preset = "cpu", (64,), 2, 20, 200, "quick"
        extra = ["--workers", "1", "--epochs", "1"]
        args.repeats, args.members = 1, 3
        configure(1)  # torch's default of one thread per core collapses on a busy machine
        print("SMOKE RUN on the CPU: checks that every section runs; none of these numbers is a measurement")
    else:
        if not torch.cuda.is_available():
            sys.exit("bench_gpu.py: no CUDA device (torch.cuda.is_available() is False); run it on a GPU machine "
                     "(benchmarks/gpu_session.sh), or --smoke to check the script on the CPU")
        device, sizes, batch, steps, n_train, preset, extra = "cuda", (4096, 16384), 16, 500, 0, "seed", []
        print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}, "
              f"triton {__import__('triton').__version__}")
    layer_table(args.repeats, device, sizes, batch, steps)
    ipd_epochs(args.repeats, device, args.members)
    digits_epochs(args.repeats, device, n_train)
    if not args.skip_studies:
        studies(device, preset, args.cpu_studies, extra)


if __name__ == "__main__":
    main()
