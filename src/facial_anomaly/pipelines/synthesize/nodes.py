"""Synthesize nodes: plan (who gets which anomaly, split by person), generate, label, and
draw contact sheets. The library is :mod:`facial_anomaly.synthesis`."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import pandas as pd

from facial_anomaly.batch import preprocess
from facial_anomaly.batch.inputs import InputProblem, read_aligned_face
from facial_anomaly.faces.tables import landmarks_by_image
from facial_anomaly.parallel import ExecutorConfig, Job, run_job
from facial_anomaly.storage.artifacts import ArtifactFolder, Provenance
from facial_anomaly.synthesis import DeformationFolds, generate, templates_from_table
from facial_anomaly.synthesis.config import SynthesizeConfig
from facial_anomaly.synthesis.contact_sheet import synthetic_contact_sheet
from facial_anomaly.synthesis.split import build_labels_table, split_by_person, subset_from_age

from .._aligned import load_aligned, ok_image_ids

logger = logging.getLogger(__name__)

STAGE = "synthesize"
CONTROL_FOLDER = "control"
TEMPLATE_FAMILY = "lip_lt_v2"


class MissingTemplates(Exception):
    """LT-v2 was planned but no lip templates have been extracted."""


def persons_by_image(persons: pd.DataFrame | None) -> dict[str, dict]:
    if persons is None:
        return {}
    if "image" not in persons or "person" not in persons:
        raise KeyError(
            f"the persons table needs columns 'image' and 'person' (and optionally 'age'); has {list(persons.columns)}"
        )
    return {str(row["image"]): row for row in persons.to_dict("records")}


def plan_synthesis(
    face_geometry: pd.DataFrame, aligned_faces: dict, persons: pd.DataFrame | None, synthesize: SynthesizeConfig
) -> pd.DataFrame:
    """One row per image to make: every aligned normal face once untouched (severity 0)
    and, per family, ``severities_per_face`` severities drawn from 1..4; faces are split
    into train/dev/test by person (a ``persons`` table maps ``image`` → ``person``
    [, ``age``]; without one every photo is its own person)."""
    synthesize = synthesize.parameters()
    known = persons_by_image(persons)
    sources = face_geometry[face_geometry["image_id"].isin(ok_image_ids(face_geometry, aligned_faces))]
    people = {
        row["image"]: str(known.get(row["image"], {}).get("person", row["image"])) for row in sources.to_dict("records")
    }
    split_of = split_by_person(people.values(), synthesize["split"]["fractions"], synthesize["seed"])
    rows = []
    for index, source in enumerate(sources.sort_values("image").to_dict("records")):
        rng = np.random.default_rng([synthesize["seed"], index])
        person = people[source["image"]]
        age = known.get(source["image"], {}).get("age")
        common = {
            "source_image_id": source["image_id"],
            "source_image": source["image"],
            "person": person,
            "split": split_of[person],
            "subset": subset_from_age(age, synthesize["child_max_age"])
            if age is not None and not pd.isna(age)
            else None,
        }
        folder = f"{common['split']}"
        rows.append(
            {
                **common,
                "family": None,
                "severity": 0,
                "seed": int(rng.integers(2**31)),
                "image": f"{folder}/{CONTROL_FOLDER}/{source['image_id']}.png",
            }
        )
        for family in synthesize["families"]:
            chosen = rng.choice(
                [s for s in synthesize["severities"] if s > 0], size=synthesize["severities_per_face"], replace=False
            )
            for severity in sorted(int(s) for s in chosen):
                rows.append(
                    {
                        **common,
                        "family": family,
                        "severity": severity,
                        "seed": int(rng.integers(2**31)),
                        "image": f"{folder}/{family}/{source['image_id']}_s{severity}.png",
                    }
                )
    return pd.DataFrame(rows)


def dataset_version(
    plan: pd.DataFrame, face_geometry: pd.DataFrame, lip_templates: pd.DataFrame | None, synthesize: dict
) -> str:
    """Content hash of everything that defines the synthetic set: the generation
    parameters, the plan, the source photos' bytes and settings, and the templates. A new
    version goes to a new folder, so earlier sets are never overwritten."""
    digest = hashlib.sha1(json.dumps(synthesize, sort_keys=True, default=str).encode())
    digest.update(pd.util.hash_pandas_object(plan.astype(str), index=False).values.tobytes())
    sources = face_geometry.set_index("image_id").loc[plan["source_image_id"].unique(), ["source_sha1", "params_hash"]]
    digest.update(pd.util.hash_pandas_object(sources.astype(str), index=False).values.tobytes())
    if lip_templates is not None:
        digest.update(pd.util.hash_pandas_object(lip_templates.astype(str), index=False).values.tobytes())
    return digest.hexdigest()[:12]


def _family_params(synthesize: dict, family: str, templates: list) -> dict:
    params = dict(synthesize[family])
    if family == TEMPLATE_FAMILY:
        params["templates"] = templates
    return params


def _png(rgb: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError("OpenCV could not encode the PNG")
    return encoded.tobytes()


@dataclass(frozen=True)
class SynthesisSpec:
    """What every worker needs: the aligned faces' folder, the generators' settings, the lip
    templates and the set's version (sent once per worker)."""

    aligned: ArtifactFolder
    params: dict
    templates: list
    version: str


@dataclass(frozen=True)
class SynthesisItem:
    """One source face and the rows of the plan made from it."""

    source_id: str
    source_sha1: str
    aligned_key: str
    rows: tuple


def _setup(spec: SynthesisSpec) -> SynthesisSpec:
    return spec


def _plain(planned: dict) -> dict:
    # A table stores missing values as NaN: controls have no family, unknown ages no subset.
    return {key: None if isinstance(value, float) and np.isnan(value) else value for key, value in planned.items()}


def _synthesize_one(spec: SynthesisSpec, item: SynthesisItem) -> list[dict[str, Any]]:
    """``[{"record": label row, "png": bytes | None}]`` for the rows of one source face."""
    face = None
    results = []
    for planned in item.rows:
        row = _plain(planned)
        family = row["family"]
        record = {**row, "side": None, "status": "ok", "detail": "", "metadata": "{}"}
        png = None
        try:
            if family == TEMPLATE_FAMILY and not spec.templates:
                raise MissingTemplates("no lip templates: run extract_lip_templates first")
            if face is None:
                expected = Provenance(preprocess.STAGE, item.source_sha1, item.aligned_key)
                face = read_aligned_face(spec.aligned, preprocess.aligned_name(item.source_id), expected)
            if family is None:
                made = face.rgb
            else:
                synthetic = generate(
                    family,
                    face.rgb,
                    face.landmarks,
                    severity=row["severity"],
                    rng=row["seed"],
                    params=_family_params(spec.params, family, spec.templates),
                )
                made = synthetic.image
                record["side"] = synthetic.metadata.get("side")
                record["metadata"] = json.dumps(synthetic.metadata, sort_keys=True, default=float)
            png = _png(made)
        except MissingTemplates as error:
            record.update(status="no_templates", detail=str(error))
        except InputProblem as problem:
            record.update(status=problem.status, detail=str(problem))
        except (DeformationFolds, ValueError) as error:
            record.update(status="generation_failed", detail=f"{type(error).__name__}: {error}")
        results.append({"record": record, "png": png})
    return results


def _failure(item: SynthesisItem, reason: str) -> list[dict[str, Any]]:
    return [
        {
            "record": {**_plain(row), "side": None, "status": "processing_error", "detail": reason, "metadata": "{}"},
            "png": None,
        }
        for row in item.rows
    ]


def synthesize_faces(
    plan: pd.DataFrame,
    face_geometry: pd.DataFrame,
    aligned_faces: ArtifactFolder,
    lip_templates: pd.DataFrame | None,
    synthesize: SynthesizeConfig,
    executor: ExecutorConfig,
) -> tuple[dict[str, bytes], pd.DataFrame, dict]:
    """Generate every planned image, one source face per task on the run's executor (the
    same images and rows on every executor). Returns ``<version>/<image>`` → PNG bytes, the
    labels table (one row per planned image, ``status`` ``ok`` or why it was not made) and a
    summary. Images are encoded where they are made, so memory holds PNG bytes only."""
    synthesize = synthesize.parameters()
    templates = templates_from_table(lip_templates) if lip_templates is not None else []
    version = dataset_version(plan, face_geometry, lip_templates, synthesize)
    sources = face_geometry.set_index("image_id")
    items = [
        SynthesisItem(
            source_id,
            str(sources.loc[source_id, "source_sha1"]),
            str(sources.loc[source_id, "params_hash"]),
            tuple(rows.to_dict("records")),
        )
        for source_id, rows in plan.groupby("source_image_id", sort=False)
    ]
    spec = SynthesisSpec(aligned_faces, synthesize, templates, version)
    images: dict[str, bytes] = {}
    records = []
    for results in run_job(Job(STAGE, _setup, _synthesize_one, _failure, spec), items, executor):
        for result in results:
            records.append(result["record"])
            if result["png"] is not None:
                images[f"{version}/{result['record']['image']}"] = result["png"]
    labels = build_labels_table(records)
    for column in ("detail", "metadata"):  # why a row failed; the generator's own measurements
        labels[column] = [record[column] for record in records]
    labels["dataset_version"] = version
    summary = {
        "dataset_version": version,
        "images": int((labels["status"] == "ok").sum()),
        "failed": int((labels["status"] != "ok").sum()),
        "by_split": {str(k): int(v) for k, v in labels[labels["status"] == "ok"]["split"].value_counts().items()},
        "by_family": {
            str(k): int(v)
            for k, v in labels[labels["status"] == "ok"]["family"].fillna(CONTROL_FOLDER).value_counts().items()
        },
    }
    logger.info("synthesize: %s", summary)
    return images, labels, summary


def draw_synthesis_sheets(
    plan: pd.DataFrame,
    aligned_faces: dict[str, Callable],
    landmarks: pd.DataFrame,
    lip_templates: pd.DataFrame | None,
    synthesize: SynthesizeConfig,
) -> dict[str, np.ndarray]:
    """Contact sheets (faces × families × severities) of a few training faces, one per view
    of ``contact_sheet.crops`` (e.g. the whole face, the mouth)."""
    synthesize = synthesize.parameters()
    sheet = synthesize["contact_sheet"]
    source_ids = plan.loc[plan["split"] == "train", "source_image_id"].drop_duplicates().head(sheet["faces"]).tolist()
    if not source_ids:
        return {}
    points = landmarks_by_image(landmarks[landmarks["image_id"].isin(source_ids)])
    faces = [(source_id, load_aligned(aligned_faces, source_id)[0], points[source_id]) for source_id in source_ids]
    templates = templates_from_table(lip_templates) if lip_templates is not None else []
    families = [f for f in synthesize["families"] if f != TEMPLATE_FAMILY or templates]
    params = {**synthesize, TEMPLATE_FAMILY: _family_params(synthesize, TEMPLATE_FAMILY, templates)}
    return {
        f"{view}.png": synthetic_contact_sheet(
            faces,
            params,
            families=families,
            severities=synthesize["severities"],
            side=sheet["side"],
            seed=synthesize["seed"],
            tile_px=sheet["tile_px"],
            crop=crop,
        )
        for view, crop in sheet["crops"].items()
    }
