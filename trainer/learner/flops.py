"""Model FLOPs utilisation: FLOPs a step needed over what the hardware could have done in that time.

Counting convention (the usual one, so numbers compare across papers): a training token costs
6 x (parameters that take part in a matmul) for forward + backward, plus causal-free attention
12 x layers x attention width x sequence length; a no-grad scoring token costs a third of that.
Recomputation from gradient checkpointing is NOT counted: MFU measures useful work.
"""

from __future__ import annotations

from collections.abc import Sequence

# Dense bf16 peak FLOP/s per device (vendor datasheets, no sparsity). Matched by substring of the
# device name, most specific first.
PEAK_BF16_FLOPS: tuple[tuple[str, float], ...] = (
    ("H200", 989e12),
    ("H100 PCIe", 756e12),
    ("H100", 989e12),
    ("A100", 312e12),
)


def peak_flops(device_name: str | None) -> float | None:
    """Peak dense bf16 FLOP/s of a device by name; None when unknown (CPUs, unlisted GPUs): no MFU then."""
    if not device_name:
        return None
    for key, flops in PEAK_BF16_FLOPS:
        if key.lower() in device_name.lower():
            return flops
    return None


def matmul_params(num_params: int, vocab_size: int, hidden_size: int, tied_embeddings: bool) -> int:
    """Parameters used in matmuls: the input embedding is a lookup, so it counts only when tied to lm_head
    (then the one matrix is counted once, as the lm_head matmul)."""
    return num_params if tied_embeddings else num_params - vocab_size * hidden_size


def training_flops(
    sequence_lengths: Sequence[int], n_matmul_params: int, num_layers: int, attention_width: int
) -> float:
    """Forward + backward FLOPs of a batch of (unpadded) sequences."""
    tokens = sum(sequence_lengths)
    attention = sum(n * n for n in sequence_lengths)
    return 6.0 * n_matmul_params * tokens + 12.0 * num_layers * attention_width * attention


def inference_flops(
    sequence_lengths: Sequence[int], n_matmul_params: int, num_layers: int, attention_width: int
) -> float:
    """Forward-only FLOPs (scoring passes)."""
    return training_flops(sequence_lengths, n_matmul_params, num_layers, attention_width) / 3.0


def mfu(flops: float, seconds: float, peak_per_device: float | None, num_devices: int) -> float | None:
    """Achieved / peak; None when the peak is unknown or no time elapsed."""
    if peak_per_device is None or seconds <= 0 or num_devices < 1:
        return None
    return flops / (seconds * peak_per_device * num_devices)
