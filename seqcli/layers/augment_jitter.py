"""Keras 3's RandomColorJitter: RandomBrightness, RandomContrast, RandomSaturation and
RandomHue in that order, each with its own factor and the jitter's value_range, random
in training; the identity at inference."""

from __future__ import annotations

import functools

from seqcli.args import Optional, arg
from seqcli.errors import ArgError
from seqcli.layers.augment_color import BRIGHTNESS, CONTRAST, RandomBrightness, RandomContrast
from seqcli.layers.augment_hsv import HUE, SATURATION, RandomHue, RandomSaturation
from seqcli.layers.augmentation import SEED, Augmentation, ValueRange
from seqcli.layers.base import layer_class
from seqcli.layers.core import DATA_FORMAT
from seqcli.registry import register

# argument -> (the layer it makes, its key in the factors)
PARTS = (("brightness_factor", RandomBrightness, "brightness"),
         ("contrast_factor", RandomContrast, "contrast"),
         ("saturation_factor", RandomSaturation, "saturation"),
         ("hue_factor", RandomHue, "hue"))


@register
@layer_class
class RandomColorJitter(Augmentation):
    value_range: tuple = arg(ValueRange(), default=(0, 255), doc="given to each part")
    brightness_factor: object = arg(Optional(BRIGHTNESS), default=None,
                                    doc="RandomBrightness's factor (null: no brightness step)")
    contrast_factor: object = arg(Optional(CONTRAST), default=None,
                                  doc="RandomContrast's factor")
    saturation_factor: object = arg(Optional(SATURATION), default=None,
                                    doc="RandomSaturation's factor")
    hue_factor: object = arg(Optional(HUE), default=None, doc="RandomHue's factor")
    seed: int | None = arg(SEED, default=None, doc="kept for Keras; fit's --seed drives it")
    data_format: str | None = arg(DATA_FORMAT, default=None,
                                  doc="channels_last only (Keras's parts ignore it)")

    positional = ("value_range", "brightness_factor", "contrast_factor", "saturation_factor",
                  "hue_factor", "seed")
    summary = "Random brightness, contrast, saturation and hue, in that order, in training"

    def check(self):
        if not self.last:
            raise ArgError("data_format", "RandomColorJitter works on channels_last images "
                           "only: Keras's builds its parts without the data_format")
        self.parts()  # each part's own checks, named by the jitter's argument

    @functools.cache
    def parts(self) -> list:
        """[(factors key, the part layer)] for the factors given."""
        made = []
        for argument, cls, key in PARTS:
            factor = getattr(self, argument)
            if factor is None:
                continue
            try:
                made.append((key, cls(name=f"{self.name}_{key}", factor=factor,
                                      value_range=self.value_range)))
            except ArgError as exc:
                raise ArgError(argument if exc.arg == "factor" else exc.arg,
                               str(exc).replace("`factor`", f"`{argument}`")) from None
        return made

    def output_shape(self, input_shape):
        for _, part in self.parts():
            part.output_shape(input_shape)
        return super().output_shape(input_shape)

    def draw(self, shape, rng):
        return {f"{key}/{name}": value for key, part in self.parts()
                for name, value in part.draw(shape, rng).items()}

    def apply(self, x, factors):
        caches = []
        for key, part in self.parts():
            own = {name[len(key) + 1:]: value for name, value in factors.items()
                   if name.startswith(key + "/")}
            x, cache = part.apply(x, own)
            caches.append((part, cache))
        return x, caches

    def apply_backward(self, cache, dy):
        for part, part_cache in reversed(cache):
            dy = part.apply_backward(part_cache, dy)
        return dy
