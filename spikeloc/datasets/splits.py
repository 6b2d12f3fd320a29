"""Image datasets held in memory: labelled splits of uint8 images, and a seeded, stratified validation split."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from spikeloc.validation import describe, require, require_instance, require_integer


@dataclass(frozen=True, eq=False)
class ImageSplit:
    """Labelled images: ``images`` uint8 ``(N, C, H, W)`` (pixel intensities 0..255), ``labels`` int64 ``(N,)``."""

    images: torch.Tensor
    labels: torch.Tensor

    def __post_init__(self) -> None:
        require(isinstance(self.images, torch.Tensor) and self.images.dtype == torch.uint8
                and self.images.dim() == 4, "images", describe(self.images), "a uint8 tensor (N, C, H, W)")
        require(isinstance(self.labels, torch.Tensor) and self.labels.dtype == torch.int64
                and self.labels.dim() == 1, "labels", describe(self.labels), "an int64 tensor (N,)")
        require(len(self.labels) == len(self.images), "labels", f"{len(self.labels)} labels",
                f"one per image ({len(self.images)})")

    def __len__(self) -> int:
        return len(self.labels)

    def features(self) -> torch.Tensor:
        """Flattened intensities in [0, 1]: float32 ``(N, C*H*W)`` = pixel / 255 (channel-major, then rows)."""
        return self.images.reshape(len(self), -1).to(torch.float32) / 255.0

    def subset(self, indices: torch.Tensor) -> ImageSplit:
        """The images and labels at ``indices`` (an integer or boolean index tensor), in that order."""
        return ImageSplit(self.images[indices], self.labels[indices])


@dataclass(frozen=True, eq=False)
class ImageDataset:
    """A named image classification dataset: training and test splits, and the class names (label k is
    ``classes[k]``)."""

    name: str
    train: ImageSplit
    test: ImageSplit
    classes: tuple[str, ...]

    def __post_init__(self) -> None:
        require(isinstance(self.train, ImageSplit) and isinstance(self.test, ImageSplit), "train/test",
                (type(self.train).__name__, type(self.test).__name__), "ImageSplit")
        require(self.train.images.shape[1:] == self.test.images.shape[1:], "test",
                tuple(self.test.images.shape[1:]), f"images shaped like the training images "
                f"{tuple(self.train.images.shape[1:])}")
        require(isinstance(self.classes, tuple) and len(self.classes) > 0, "classes", self.classes,
                "a non-empty tuple of class names")
        for part, split in (("train", self.train), ("test", self.test)):
            if len(split):
                low, high = int(split.labels.min()), int(split.labels.max())
                require(low >= 0 and high < len(self.classes), f"{part}.labels", f"range [{low}, {high}]",
                        f"class indices in [0, {len(self.classes) - 1}]")

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)``: channels, height, width."""
        channels, height, width = self.train.images.shape[1:]
        return channels, height, width

    @property
    def n_features(self) -> int:
        """C * H * W, the length of one row of :meth:`ImageSplit.features`."""
        channels, height, width = self.image_shape
        return channels * height * width


def validation_split(
    split: ImageSplit, n_validation: int, generator: torch.Generator
) -> tuple[ImageSplit, ImageSplit]:
    """Hold out ``n_validation`` examples of ``split``, stratified by class: returns ``(rest, validation)``.

    Class c with n_c of the N examples gives n_validation * n_c / N of them, rounded by largest remainder
    (ties to the lower label) so the counts sum to ``n_validation``. Which examples: the first of each
    class in one ``torch.randperm(N, generator=generator)``, so the same generator state gives the same split.
    Both parts keep the original order of ``split``.
    """
    require_instance(split, "split", ImageSplit, "an ImageSplit")
    require_integer(n_validation, "n_validation", 1, len(split) - 1, note=f"(the split has {len(split)} examples)")
    require(isinstance(generator, torch.Generator) and generator.device.type == "cpu", "generator", generator,
            "a CPU torch.Generator (e.g. spikeloc.seeding.generator(seed, 'validation'))")
    classes, counts = torch.unique(split.labels, return_counts=True)
    quotas = _largest_remainder_quotas(counts.tolist(), n_validation)
    order = torch.randperm(len(split), generator=generator)
    ordered_labels = split.labels[order]
    held_out = torch.cat([order[ordered_labels == label][:quota] for label, quota in zip(classes, quotas)])
    is_validation = torch.zeros(len(split), dtype=torch.bool)
    is_validation[held_out] = True
    return split.subset(~is_validation), split.subset(is_validation)


def _largest_remainder_quotas(counts: list[int], total: int) -> list[int]:
    """Integers q_c with sum q_c = ``total`` and |q_c - total * n_c / N| < 1 (Hamilton's apportionment)."""
    population = sum(counts)
    quotas = [total * count // population for count in counts]
    remainders = [total * count % population for count in counts]
    by_remainder = sorted(range(len(counts)), key=lambda index: (-remainders[index], index))
    for index in by_remainder[: total - sum(quotas)]:
        quotas[index] += 1
    return quotas

