"""Make the digits data files from scikit-learn's copy of the UCI handwritten digits.

Source: "Optical Recognition of Handwritten Digits" (Alpaydin & Kaynak, 1998), UCI
Machine Learning Repository, licensed CC BY 4.0; the 8x8 version that scikit-learn
ships (`sklearn.datasets.load_digits`, 1,797 images). Pixels (0..16) are scaled to
[0, 1] and flattened to 64 values; labels are the digits 0..9.

  pip install scikit-learn && python specs/digits/make_digits.py

writes, beside this script (a fixed split, seed 0):
  train.npz       1,437 images: x (1437, 64) float32, y (1437,) int64
  test.npz          360 images
  pretrain.npz    the training images of the digits 0-4 only (the "pre-training" task)
"""

import os

import numpy as np
from sklearn.datasets import load_digits

HERE = os.path.dirname(os.path.abspath(__file__))

digits = load_digits()
x = (digits.data / 16.0).astype(np.float32)
y = digits.target.astype(np.int64)
order = np.random.default_rng(0).permutation(len(x))
train, test = order[:1437], order[1437:]
np.savez_compressed(os.path.join(HERE, "train.npz"), x=x[train], y=y[train])
np.savez_compressed(os.path.join(HERE, "test.npz"), x=x[test], y=y[test])
low = train[y[train] < 5]
np.savez_compressed(os.path.join(HERE, "pretrain.npz"), x=x[low], y=y[low])
print(f"train {len(train)}, test {len(test)}, pretrain {len(low)}")
