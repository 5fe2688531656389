"""Per-image stages over a whole folder, Kedro-free: what each worker does for one image,
with reuse of artifacts whose provenance still matches (see :mod:`facial_anomaly.storage.artifacts`)
and the executor of :mod:`facial_anomaly.parallel`. The Kedro nodes call these functions;
a notebook can call them directly on a folder.
"""

from ..parallel import preload_in_workers

# What the stages' workers import: imported once by the process that starts them (see
# preload_in_workers), not by every worker before its first image.
preload_in_workers(
    "facial_anomaly.batch.preprocess",
    "facial_anomaly.batch.normalize",
    "facial_anomaly.batch.heatmaps",
    "facial_anomaly.batch.gallery",
    "facial_anomaly.normalizers.symmetry",
    "mediapipe.python.solutions.face_detection",
    "mediapipe.python.solutions.face_mesh",
    "mediapipe.python.solutions.selfie_segmentation",
    "matplotlib",
    "PIL.ImageFont",
)
