"""Graded synthetic anomalies on normal aligned faces (ground truth for the evaluation).

``generate(family, face, landmarks, severity=..., side=..., rng=..., params=...)`` with a
family from ``families()``: ``lip_lt_v1`` and ``lip_lt_v2`` (cleft-lip-like, :mod:`.lip`),
``palsy`` (:mod:`.palsy`) and ``acne`` (:mod:`.acne`). Parameters live in
``conf/base/parameters_synthesize.yml``; :mod:`.split` splits faces by person and builds
the labels table; :mod:`.contact_sheet` renders a grid for visual checks.
"""

from .base import SEVERITIES, SIDES, SyntheticFace
from .contact_sheet import grid_image, synthetic_contact_sheet
from .deform import DeformationFolds
from .lip import (
    LipTemplate,
    extract_lip_template,
    load_lip_templates,
    save_lip_templates,
    templates_from_table,
    templates_to_table,
)
from .registry import families, family_label, generate
from .split import LABEL_COLUMNS, build_labels_table, split_by_person, subset_from_age

__all__ = [
    "DeformationFolds",
    "LABEL_COLUMNS",
    "LipTemplate",
    "SEVERITIES",
    "SIDES",
    "SyntheticFace",
    "extract_lip_template",
    "build_labels_table",
    "families",
    "family_label",
    "generate",
    "grid_image",
    "load_lip_templates",
    "save_lip_templates",
    "split_by_person",
    "subset_from_age",
    "synthetic_contact_sheet",
    "templates_from_table",
    "templates_to_table",
]
