"""Per-image stages over a whole folder, Kedro-free: what each worker does for one image,
with reuse of artifacts whose provenance still matches (see :mod:`facial_anomaly.storage.artifacts`)
and the executor of :mod:`facial_anomaly.parallel`. The Kedro nodes call these functions;
a notebook can call them directly on a folder.
"""
