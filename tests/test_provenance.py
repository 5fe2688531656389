"""Model provenance: the stored landmark-layout fingerprint is MediaPipe's mesh."""

from __future__ import annotations

import pytest

from facial_anomaly.provenance import (
    FACEMESH_478_LAYOUT,
    ModelMismatch,
    check_provenance,
    landmark_layout_fingerprint,
    model_provenance,
)


def test_the_stored_layout_fingerprint_is_the_bundled_mesh():
    assert landmark_layout_fingerprint(recompute=True) == FACEMESH_478_LAYOUT == landmark_layout_fingerprint()


def test_a_model_of_another_landmark_layout_is_refused():
    record = model_provenance("padim", schema_version=1, params={}, training_data="x", uses_landmarks=True)
    check_provenance(record, kind="padim", schema_version=1, source="m.npz")
    record["landmarks"]["layout"] = "000000000000"
    with pytest.raises(ModelMismatch, match="m.npz"):
        check_provenance(record, kind="padim", schema_version=1, source="m.npz")
