"""Nodes of ``train_supervised`` (issue 8): training pairs from the aligned normal faces of
this run, the supervised models (one per seed, best kept), the fusion with the unsupervised
scores fitted on the dev split, the held-out evaluation and sample Grad-CAM images.
The science is in :mod:`facial_anomaly.supervised`; these nodes only wire it."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from facial_anomaly.devices import resolve_device
from facial_anomaly.evaluation import markdown_table
from facial_anomaly.faces.tables import landmarks_by_image
from facial_anomaly.heatmaps import overlay_heatmap
from facial_anomaly.normalizers import build_normalizer
from facial_anomaly.supervised import (
    NormalFace,
    PairSet,
    accuracy_by_subset,
    build_model,
    build_pair_set,
    compare_models,
    fit_fusion,
    grad_cam,
    load_model,
    make_pair,
    model_to_bytes,
    pairs_to_set,
    split_faces,
    train,
)
from facial_anomaly.supervised.evaluation import detection_metrics, nuisance_check_pairs, nuisance_false_positives
from facial_anomaly.supervised.features import (
    UnsupervisedPairScores,
    fusion_features,
    scoring_options,
    supervised_columns,
)
from facial_anomaly.supervised.fusion import Fusion
from facial_anomaly.synthesis.split import subset_from_age

from .._aligned import load_aligned, ok_image_ids
from .._supervised import CHECKPOINT_SUFFIX, checkpoint_sha1
from ..synthesize.nodes import persons_by_image

logger = logging.getLogger(__name__)

SPLITS = ("train", "dev", "test")
NUISANCE_CHECK = "nuisance_check"  # the pair set of unchanged / harmlessly changed normal test faces
FUSED = "fused"


# ---------------------------------------------------------------------------- data


def _face_records(
    face_geometry: pd.DataFrame, aligned_faces: dict, persons: pd.DataFrame | None, synthesize: dict
) -> pd.DataFrame:
    """image_id, image, person, subset (child / adult / None) of every aligned face of this run."""
    known = persons_by_image(persons)
    rows = face_geometry.set_index("image_id").loc[ok_image_ids(face_geometry, aligned_faces), ["image"]].reset_index()
    rows["person"] = [str(known.get(image, {}).get("person", image)) for image in rows["image"]]
    rows["subset"] = [
        subset_from_age(known.get(image, {}).get("age"), synthesize["child_max_age"]) for image in rows["image"]
    ]
    return rows


def _normal_faces(records: pd.DataFrame, aligned_faces: dict, landmarks: pd.DataFrame) -> list[NormalFace]:
    points = landmarks_by_image(landmarks[landmarks["image_id"].isin(set(records["image_id"]))])
    return [
        NormalFace(load_aligned(aligned_faces, image_id)[0], points[image_id], person, image_id)
        for image_id, person in zip(records["image_id"], records["person"])
    ]


def _preset(train_supervised: dict) -> dict:
    name = train_supervised["preset"]
    presets = train_supervised["presets"]
    if name not in presets:
        raise KeyError(f"train_supervised.preset {name!r} is not one of {sorted(presets)}")
    missing = [model for model in train_supervised["models"] if model not in presets[name]]
    if missing:
        raise KeyError(f"preset {name!r} has no configuration for models {missing}; it has {sorted(presets[name])}")
    return presets[name]


def _training_normalizer(train_supervised: dict, normalize: dict):
    try:
        return build_normalizer(train_supervised["normalizer"], normalize["normalizers"])
    except ValueError as error:
        raise ValueError(
            f"train_supervised.normalizer {train_supervised['normalizer']!r} cannot be built without fitted "
            f"models here ({error}); use a normalizer that needs none, such as symmetry"
        ) from error


def build_supervised_pairs(
    face_geometry: pd.DataFrame,
    aligned_faces: dict[str, Callable],
    landmarks: pd.DataFrame,
    persons: pd.DataFrame | None,
    train_supervised: dict,
    normalize: dict,
    synthesize: dict,
    heatmaps: dict,
    scores: dict,
) -> tuple[dict[str, PairSet], pd.DataFrame]:
    """Training, dev and test pairs of the aligned normal faces (split by person), and the
    nuisance check of the test faces, as cached model inputs; plus one table row per pair
    (``split``, ``row`` in its set, ``subset`` child/adult, the pair's labels and the
    unsupervised fusion features measured at full resolution)."""
    preset = _preset(train_supervised)
    specs = list(
        dict.fromkeys(
            spec
            for name in train_supervised["models"]
            for spec in build_model(preset[name]["model"], load_backbone_weights=False).view_specs
        )
    )
    normalizer = _training_normalizer(train_supervised, normalize)
    features = UnsupervisedPairScores(
        train_supervised["normalizer"],
        tuple(train_supervised["fusion"]["unsupervised_variants"]),
        scores["statistic"],
        scoring_options(heatmaps, scores),
    )
    records = _face_records(face_geometry, aligned_faces, persons, synthesize)
    faces = _normal_faces(records, aligned_faces, landmarks)
    seed = int(train_supervised["seed"])
    by_split = split_faces(faces, train_supervised["split"]["fractions"], seed)
    for split in ("train", "dev"):
        if not by_split.get(split):
            raise ValueError(
                f"no person fell into the {split} split ({len(faces)} faces of {records['person'].nunique()} persons): "
                "train_supervised needs more people (name them in a persons table) or other split fractions"
            )
    data = train_supervised["data"]
    sets = {}
    for split in SPLITS:
        if by_split.get(split):
            sets[split] = build_pair_set(
                by_split[split],
                normalizer=normalizer,
                specs=specs,
                params=data,
                synth_params=synthesize,
                seed=seed,
                workers=int(data["workers"]),
                extra_columns=features,
            )
    if by_split.get("test"):
        checks = nuisance_check_pairs(by_split["test"], normalizer=normalizer, params=data["nuisance"], seed=seed)
        sets[NUISANCE_CHECK] = pairs_to_set(checks, specs, features)
    subsets = dict(zip(records["image_id"], records["subset"]))
    tables = []
    for split, pairs in sets.items():
        table = pairs.table.copy()
        table.insert(0, "split", split)
        table.insert(1, "row", np.arange(len(table)))
        table["subset"] = table["face"].map(subsets)
        tables.append(table)
    pair_table = pd.concat(tables, ignore_index=True)
    logger.info("supervised pairs: %s", {split: len(pairs) for split, pairs in sets.items()})
    return sets, pair_table


# ---------------------------------------------------------------------------- training


def _history_columns(name: str, seed: int, history: list[dict]) -> pd.DataFrame:
    rows = []
    for epoch in history:
        row = {
            "step": epoch["epoch"],
            "train_loss": epoch["loss"],
            "train_anomaly_bce": epoch["anomaly_bce"],
            "train_severity_bce": epoch["severity_bce"],
            "dev_auc": epoch["dev_auc"],
            "dev_bce": epoch["dev_bce"],
            "epoch_seconds": epoch["seconds"],
        }
        row.update({f"dev_auc.{family}": value for family, value in epoch["dev_auc_by_family"].items()})
        rows.append(row)
    table = pd.DataFrame(rows)
    return table.rename(columns={c: f"{name}.seed{seed}.{c}" for c in table.columns if c != "step"})


def train_supervised_models(
    supervised_pairs: dict[str, PairSet], train_supervised: dict
) -> tuple[dict[str, bytes], dict[str, bytes], pd.DataFrame, pd.DataFrame, dict]:
    """Train every model of ``train_supervised.models`` once per seed of ``seeds``.

    Returns the checkpoints (``<model>.pt``: the seed with the best dev AUC, loaded with
    ``weights_only=True``), every seed's checkpoint (``<model>.seed<k>.pt``: for the
    paper's mean ± s.d. over seeds on photos scored later), the per-epoch history (``step`` = epoch; losses, dev AUC and
    dev AUC per anomaly family per model and seed → MLflow metric histories), every
    trained model's predictions on every pair set (``model, seed, kept, split, row,
    probability, severity``), and a summary (per model: kept seed, dev AUC, epochs,
    seconds)."""
    preset = _preset(train_supervised)
    device = train_supervised["device"]
    batch_size = int(train_supervised["batch_size"])
    checkpoints, seed_checkpoints, predictions, summary = {}, {}, [], {}
    history = pd.DataFrame({"step": pd.Series(dtype=int)})
    for name in train_supervised["models"]:
        block = preset[name]
        seeds = [int(seed) for seed in train_supervised["seeds"]]
        runs = []
        for seed in seeds:
            started = time.perf_counter()
            result = train(
                block["model"],
                supervised_pairs["train"],
                supervised_pairs["dev"],
                device=device,
                **{**block["training"], "seed": seed},
            )
            seconds = time.perf_counter() - started
            model = result.best_model(device=resolve_device(device))
            logger.info(
                "trained %s seed %d: dev AUC %.3f at epoch %d of %d, %.0f s",
                name,
                seed,
                result.best_auc or float("nan"),
                result.best_epoch,
                result.epochs_run,
                seconds,
            )
            outputs = {
                split: model.predict(pairs.inputs(model.view_specs), batch_size=batch_size)
                for split, pairs in supervised_pairs.items()
            }
            runs.append((seed, result, model, outputs, seconds))
            seed_checkpoints[f"{name}.seed{seed}{CHECKPOINT_SUFFIX}"] = model_to_bytes(model.cpu())
            history = history.merge(_history_columns(name, seed, result.history), on="step", how="outer")
        best = max(runs, key=lambda run: (run[1].best_auc if run[1].best_auc is not None else -1.0, -run[0]))
        checkpoints[f"{name}{CHECKPOINT_SUFFIX}"] = seed_checkpoints[f"{name}.seed{best[0]}{CHECKPOINT_SUFFIX}"]
        for seed, result, _, outputs, _ in runs:
            for split, (probability, severity) in outputs.items():
                predictions.append(
                    pd.DataFrame(
                        {
                            "model": name,
                            "seed": seed,
                            "kept": seed == best[0],
                            "split": split,
                            "row": np.arange(len(probability)),
                            "probability": probability,
                            "severity": severity,
                        }
                    )
                )
        summary[name] = {
            "kept_seed": best[0],
            "dev_auc": best[1].best_auc,
            "best_epoch": best[1].best_epoch,
            "epochs_run": best[1].epochs_run,
            "stopped_early": best[1].stopped_early,
            "seconds": float(sum(run[4] for run in runs)),
            "dev_auc_by_seed": {str(seed): result.best_auc for seed, result, *_ in runs},
            "train_pairs": len(supervised_pairs["train"]),
            "dev_pairs": len(supervised_pairs["dev"]),
        }
    summary["device"] = str(resolve_device(device))
    history = history.sort_values("step").reset_index(drop=True)
    return checkpoints, seed_checkpoints, history, pd.concat(predictions, ignore_index=True), summary


# ---------------------------------------------------------------------------- fusion


def _checkpoint_bytes(checkpoints: dict[str, bytes | Callable[[], bytes]]) -> dict[str, bytes]:
    """``<model>.pt`` → bytes: a saved partitioned dataset loads as lazy callables."""
    return {key: value() if callable(value) else value for key, value in checkpoints.items()}


def _wide_scores(predictions: pd.DataFrame, pair_table: pd.DataFrame, split: str) -> pd.DataFrame:
    """The pairs of ``split`` with the kept models' probability/severity columns, named as
    in the scores table (``supervised.<model>.probability`` ...)."""
    table = pair_table[pair_table["split"] == split].reset_index(drop=True)
    kept = predictions[predictions["kept"] & (predictions["split"] == split)]
    for model, part in kept.groupby("model", sort=False):
        probability, severity = supervised_columns(model)
        ordered = part.set_index("row").loc[table["row"]]
        table[probability] = ordered["probability"].to_numpy()
        table[severity] = ordered["severity"].to_numpy()
    return table


def fit_supervised_fusion(
    supervised_predictions: pd.DataFrame,
    supervised_pair_table: pd.DataFrame,
    supervised_checkpoints: dict[str, bytes],
    train_supervised: dict,
    scores: dict,
) -> dict:
    """The fused ``anomaly_score``: the kept models' probabilities and the unsupervised
    variants of the training normalizer, combined by ``fusion.method`` fitted on the dev
    pairs. The JSON records the checkpoints' SHA-1, the normalizer and the score statistic,
    so that the scores stage uses it only with the models and scores it was fitted on."""
    options = train_supervised["fusion"]
    supervised_checkpoints = _checkpoint_bytes(supervised_checkpoints)
    models = [name for name in train_supervised["models"] if f"{name}{CHECKPOINT_SUFFIX}" in supervised_checkpoints]
    features = fusion_features(models, train_supervised["normalizer"], options["unsupervised_variants"])
    dev = _wide_scores(supervised_predictions, supervised_pair_table, "dev")
    fusion = fit_fusion(
        dev,
        dev["label"].to_numpy(),
        features=features,
        method=options["method"],
        C=options["C"],
        max_iter=options["max_iter"],
        nonnegative=options["nonnegative"],
    )
    fusion.provenance = {
        "normalizer": train_supervised["normalizer"],
        "statistic": scores["statistic"],
        "checkpoint_sha1": {
            name: checkpoint_sha1(supervised_checkpoints[f"{name}{CHECKPOINT_SUFFIX}"]) for name in models
        },
        "dev_pairs": int(len(dev)),
    }
    logger.info(
        "fusion (%s) of %s fitted on %d dev pairs: coefficients %s",
        fusion.method,
        features,
        len(dev),
        fusion.coefficients,
    )
    return fusion.to_dict()


# ---------------------------------------------------------------------------- evaluation


def _scorers(table: pd.DataFrame, fusion: Fusion, models: list[str]) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
    """Scorer name → (scores, severities or None) on the rows of a wide table."""
    out = {}
    for model in models:
        probability, severity = supervised_columns(model)
        out[model] = (table[probability].to_numpy(), table[severity].to_numpy())
    for column in fusion.features:
        if column.startswith(f"{fusion.provenance.get('normalizer', '')}."):
            out[column] = (table[column].to_numpy(dtype=np.float64), None)
    out[FUSED] = (fusion.fuse(table), None)
    return out


def _paper_predictions(predictions: pd.DataFrame, pair_table: pd.DataFrame, threshold: float) -> pd.DataFrame:
    rows = predictions[predictions["split"].isin(SPLITS)].merge(
        pair_table[["split", "row", "label", "family", "subset"]], on=["split", "row"], how="left"
    )
    rows["predicted"] = (rows["probability"] >= threshold).astype(int)
    return rows


def evaluate_supervised(
    supervised_predictions: pd.DataFrame,
    supervised_pair_table: pd.DataFrame,
    supervised_fusion: dict,
    train_supervised: dict,
) -> tuple[pd.DataFrame, pd.DataFrame, dict, str]:
    """Held-out evaluation of every model, every fused unsupervised variant and the fusion.

    Returns a long metrics table (``scorer, split, metric, value``: AUC, AUC per family and
    severity Spearman on dev and test, nuisance false-positive rates), the paper's accuracy
    per subset (mean ± s.d. over seeds: train/dev/test, test per anomaly family, test
    children/adults), a flat summary for MLflow (with the z-test of ``paper_eval.compare``)
    and a Markdown report of the same."""
    fusion = Fusion.from_dict(supervised_fusion, "supervised_fusion")
    models = list(dict.fromkeys(supervised_predictions["model"]))
    specificity = float(train_supervised["evaluation"]["specificity"])
    rows, summary = [], {}
    for split in ("dev", "test"):
        if split not in set(supervised_pair_table["split"]):
            continue
        table = _wide_scores(supervised_predictions, supervised_pair_table, split)
        for scorer, (values, severities) in _scorers(table, fusion, models).items():
            metrics = detection_metrics(values, table, severities)
            rows.append({"scorer": scorer, "split": split, "metric": "auc", "value": metrics["auc"]})
            rows += [
                {"scorer": scorer, "split": split, "metric": f"auc.{family}", "value": value}
                for family, value in metrics["auc_by_family"].items()
            ]
            if "severity_spearman" in metrics:
                rows.append(
                    {
                        "scorer": scorer,
                        "split": split,
                        "metric": "severity_spearman",
                        "value": metrics["severity_spearman"],
                    }
                )
    if NUISANCE_CHECK in set(supervised_pair_table["split"]):
        table = _wide_scores(supervised_predictions, supervised_pair_table, NUISANCE_CHECK)
        for scorer, (values, _) in _scorers(table, fusion, models).items():
            check = nuisance_false_positives(values, table, specificity=specificity)
            rows.append({"scorer": scorer, "split": NUISANCE_CHECK, "metric": "fpr", "value": check["fpr"]})
            rows += [
                {"scorer": scorer, "split": NUISANCE_CHECK, "metric": f"fpr.{name}", "value": value}
                for name, value in check["fpr_by_nuisance"].items()
            ]
    metrics_table = pd.DataFrame(rows, columns=["scorer", "split", "metric", "value"])

    paper = _paper_predictions(
        supervised_predictions, supervised_pair_table, float(train_supervised["paper_eval"]["threshold"])
    )
    accuracy = [accuracy_by_subset(paper.assign(subset=paper["split"]))]
    test = paper[paper["split"] == "test"]
    for grouping in ("family", "subset"):
        grouped = test.dropna(subset=[grouping])
        if not grouped.empty:
            part = accuracy_by_subset(grouped.assign(subset="test." + grouped[grouping].astype(str)))
            accuracy.append(part[part["subset"] != "all"])
    accuracy_table = pd.concat(accuracy, ignore_index=True)

    for row in metrics_table.dropna(subset=["value"]).to_dict("records"):
        summary[f"{row['scorer']}.{row['split']}.{row['metric']}"] = float(row["value"])
    for row in accuracy_table.to_dict("records"):
        summary[f"{row['model']}.accuracy.{row['subset']}.mean"] = row["accuracy_mean"]
    first, second = train_supervised["paper_eval"]["compare"]
    if {first, second} <= set(models) and not test.empty:
        test_rows = test.assign(subset="test")
        comparison = compare_models(test_rows, first, second, subset="test")
        summary[f"z_test.{first}_vs_{second}.z"] = comparison["z"]
        summary[f"z_test.{first}_vs_{second}.p_value"] = comparison["p_value"]
    report = _markdown_report(
        metrics_table, accuracy_table, summary, first, second, int(train_supervised["evaluation"]["report_decimals"])
    )
    return metrics_table, accuracy_table, summary, report


def _markdown_report(
    metrics: pd.DataFrame, accuracy: pd.DataFrame, summary: dict, first: str, second: str, decimals: int
) -> str:
    shown = metrics[
        (metrics["split"] == "test")
        | ((metrics["split"] == "dev") & (metrics["metric"] == "auc"))
        | ((metrics["split"] == NUISANCE_CHECK) & (metrics["metric"] == "fpr"))
    ]
    wide = (
        shown.assign(column=shown["split"] + " " + shown["metric"])
        .pivot_table(index="scorer", columns="column", values="value", sort=False)
        .reset_index()
    )
    # One seed has no spread: say so rather than print ± 0.
    accuracy = accuracy.assign(
        accuracy=[
            f"{m:.{decimals}f}" + ("" if np.isnan(s) else f" ± {s:.{decimals}f}")
            for m, s in zip(accuracy["accuracy_mean"], accuracy["accuracy_std"])
        ],
        images=accuracy["images"].round().astype(int),
    )
    lines = [
        "# Supervised scorer: held-out evaluation",
        "",
        "AUC overall and per anomaly family on the test pairs (and overall on dev), severity Spearman ρ on test "
        "anomalies, and the false-positive rate on nuisance variants of normal test faces (threshold at the "
        "configured specificity of the unchanged faces).",
        "",
        markdown_table(wide, decimals=decimals),
        "",
        "## Accuracy per subset (Rosero et al. 2024), mean ± s.d. over seeds",
        "",
        markdown_table(accuracy[["model", "subset", "accuracy", "seeds", "images"]], decimals=decimals),
        "",
    ]
    key = f"z_test.{first}_vs_{second}"
    if f"{key}.z" in summary:
        lines += [
            f"One-tailed two-proportion z-test, {first} > {second} on the test pairs (seeds pooled): "
            f"z = {summary[f'{key}.z']:.2f}, p = {summary[f'{key}.p_value']:.3g}.",
            "",
        ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------- CAM samples


def draw_supervised_cams(
    supervised_checkpoints: dict[str, bytes],
    supervised_pair_table: pd.DataFrame,
    aligned_faces: dict[str, Callable],
    landmarks: pd.DataFrame,
    train_supervised: dict,
    normalize: dict,
    synthesize: dict,
) -> dict[str, np.ndarray]:
    """Per model, a PNG grid of anomalous test pairs (one per anomaly family in turn, up to
    ``cam.sample_pairs``): the face with the anomaly, its normalized partner and the
    Grad-CAM heat over the face. The pairs are rebuilt exactly (they are deterministic)."""
    cam = train_supervised["cam"]
    style = {key: cam["overlay"][key] for key in ("colormap", "alpha", "vmax")}
    test = supervised_pair_table[(supervised_pair_table["split"] == "test") & (supervised_pair_table["label"] == 1)]
    if test.empty:
        return {}
    # Round-robin over families, so the sample shows each kind of anomaly.
    order = (
        test.assign(turn=test.groupby("family").cumcount())
        .sort_values(["turn", "family"])
        .head(int(cam["sample_pairs"]))
    )
    records = order[["face", "person"]].drop_duplicates("face").rename(columns={"face": "image_id"})
    faces = {face.name: face for face in _normal_faces(records, aligned_faces, landmarks)}
    normalizer = _training_normalizer(train_supervised, normalize)
    pairs = [
        make_pair(
            faces[row["face"]],
            int(row["variant"]),
            normalizer=normalizer,
            params=train_supervised["data"],
            synth_params=synthesize,
            seed=int(train_supervised["seed"]),
        )
        for row in order.to_dict("records")
    ]
    grids = {}
    for key, data in _checkpoint_bytes(supervised_checkpoints).items():
        model = load_model(data)
        rows = []
        for pair in pairs:
            heat = grad_cam(model, pair.original, pair.normalized, pair.landmarks, tap=int(cam["tap"]))
            rows.append(
                np.concatenate([pair.original, pair.normalized, overlay_heatmap(pair.original, heat, **style)], axis=1)
            )
        grids[f"{key.removesuffix(CHECKPOINT_SUFFIX)}.png"] = np.concatenate(rows, axis=0)
    return grids
