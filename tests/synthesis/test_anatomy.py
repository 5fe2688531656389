"""The landmark sets the generators rely on are consistent with the FaceMesh topology."""

from __future__ import annotations

import numpy as np

from facial_anomaly.faces.mesh import midline_indices
from facial_anomaly.synthesis import anatomy


def test_lip_contours_are_mirror_symmetric_and_centred():
    for contour in (anatomy.UPPER_LIP_OUTER, anatomy.UPPER_LIP_INNER, anatomy.LOWER_LIP_OUTER, anatomy.LOWER_LIP_INNER):
        assert anatomy.mirrored(contour) == tuple(reversed(contour))
        assert contour[len(contour) // 2] in midline_indices()
    assert anatomy.mirrored([anatomy.MOUTH_CORNERS["left"]]) == (anatomy.MOUTH_CORNERS["right"],)
    assert anatomy.mirrored([anatomy.CUPIDS_BOW_PEAKS["left"]]) == (anatomy.CUPIDS_BOW_PEAKS["right"],)
    assert anatomy.CUPIDS_BOW_MIDPOINT in midline_indices()


def test_regions_are_symmetric_polygons_on_the_face(astronaut_aligned):
    landmarks, shape = astronaut_aligned["landmarks"], astronaut_aligned["rgb"].shape
    for polygon in (anatomy.FOREHEAD, anatomy.CHIN):
        assert set(anatomy.mirrored(polygon)) == set(polygon)
    regions = anatomy.skin_regions(landmarks, shape)
    face = anatomy.face_mask(landmarks, shape)
    for name, region in regions.items():
        assert region.sum() > 1000, name
        assert not (region & ~face).any(), name
    left, right = regions["cheek_left"].sum(), regions["cheek_right"].sum()
    assert abs(left - right) < 0.2 * max(left, right)
    # The image-left cheek lies left of the nose tip.
    ys, xs = np.nonzero(regions["cheek_left"])
    assert xs.mean() < landmarks[1, 0]
