"""What robustness and saliency add to scoring one model of the real-data recipe (#36's 3-minute budget).

The CPU recipe's net (its weights do not change the cost) on FER2013's PublicTest faces from
../shared, timed against what evaluate already does for the test split (ten crops a face).
Grad-CAM is timed at its most: 700 mean-map faces and 42 examples.
Run: .venv/bin/python scripts/bench_robustness_cost.py
"""

import time

import numpy as np
import pandas as pd

from ferpipe.evaluate.metrics import softmax
from ferpipe.evaluate.robustness import robustness_faces
from ferpipe.evaluate.saliency import EXAMPLES, PER_CLASS, explainer, grad_cam
from ferpipe.labels import CLASSES
from ferpipe.models import create_model
from ferpipe.models.inference import predict_logits
from ferpipe.models.tta import with_tta

frame = pd.read_csv("../shared/datasets/fer2013.csv.gz")
test = frame[frame.Usage == "PublicTest"]
images = np.stack([np.array(p.split(), dtype=np.uint8).reshape(48, 48) for p in test.pixels])
net = create_model("simple_cnn", widths=[32, 64, 128, 256], dropout=0.3, crop=40, pooled=2).eval()

start = time.perf_counter()
softmax(predict_logits(with_tta(net, "ten_crop"), images, 64))
ten_crop_s = time.perf_counter() - start
start = time.perf_counter()
faces = robustness_faces(images)
corrupt_s = time.perf_counter() - start
start = time.perf_counter()
for view in faces:
    softmax(predict_logits(net, view, 64))
robust_s = time.perf_counter() - start
most = len(CLASSES) * (PER_CLASS + 2 * EXAMPLES)
start = time.perf_counter()
grad_cam(explainer(net), images[:most], np.arange(most) % len(CLASSES))
cam_s = time.perf_counter() - start
added = corrupt_s + robust_s + cam_s
print(f"{len(images)} PublicTest faces; the test split under ten crops (evaluate's own work): {ten_crop_s:.1f} s")
print(
    f"added per model: corrupting {corrupt_s:.1f} s + 22 views of {faces.shape[1]} faces {robust_s:.1f} s"
    f" + Grad-CAM of {most} faces {cam_s:.1f} s = {added:.1f} s"
)
print(f"fer2013_shared (3 members): {3 * added / 60:.1f} min added; with a student: {4 * added / 60:.1f} min")
