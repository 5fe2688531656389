"""Lip templates for LT-v2: the upper-lip landmarks of real cleft photos, measured once and
kept as a small table so the photos are not needed afterwards (Rosero et al. 2024)."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pandas as pd

from facial_anomaly.faces import ImageRejected, PreprocessConfig, decode_image, image_id_from_path, is_supported
from facial_anomaly.synthesis import extract_lip_template, templates_to_table

logger = logging.getLogger(__name__)


def extract_templates(
    template_photos: dict[str, Callable[[], bytes]], preprocess: PreprocessConfig
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(template table, report with one row per photo: ``ok`` or why it gave no template)."""
    config = preprocess
    templates, rows = [], []
    for relative_path in sorted(template_photos):
        row = {"image_id": image_id_from_path(relative_path), "image": relative_path, "status": "ok", "detail": ""}
        if not is_supported(relative_path):
            rows.append({**row, "status": "unsupported_format", "detail": "not an image file extension"})
            continue
        try:
            rgb = decode_image(template_photos[relative_path](), **config["decode"]).rgb
            templates.append(extract_lip_template(rgb, config))
        except ImageRejected as rejection:
            row.update(status=rejection.reason, detail=rejection.message)
        except ValueError as error:  # no face, or a lip the template check refuses
            row.update(status="no_template", detail=str(error))
        rows.append(row)
    if not templates:
        raise ValueError("no lip template could be measured: point template_dir at photos of faces with a cleft lip")
    logger.info("lip templates: %d of %d photos", len(templates), len(rows))
    return templates_to_table(templates), pd.DataFrame(rows)
