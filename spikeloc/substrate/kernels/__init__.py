"""Backends of the fused LIF time loop (:func:`spikeloc.substrate.fused.lif_spikes`), one file each.

:mod:`.step` holds the step math, written once; :mod:`.torch_loop` (any device), :mod:`.numba_cpu` (CPU) and
:mod:`.triton_gpu` (CUDA; imported only when used) each run it over time with ``forward(cur, beta, threshold,
keep_mem, rows_per_beta)`` and ``backward(cur_or_mem, grad_spk, grad_mem, beta, threshold, slope,
rows_per_beta, want_grad_beta)`` on (R, T, N) contiguous arrays; the adaptive-threshold neuron
(:func:`spikeloc.substrate.fused.adaptive_spikes`) with ``adaptive_forward(cur, beta, rho, threshold, strength,
keep_mem, rows_per_beta, rows_per_rho, reset)`` and ``adaptive_backward(cur, grad_spk, grad_mem, beta, rho,
threshold, strength, slope, rows_per_beta, rows_per_rho, reset)`` (beta and rho (M, N) arrays).
"""
