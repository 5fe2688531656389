"""``kedro run --pipelines scores``: the scores table and the contract's scores.csv from the stage
reports, and the per-variant table (with metrics when ``labels`` is given)."""

from kedro.pipeline import Node, Pipeline, pipeline

from ..evaluate.pipeline import evaluation_nodes
from .nodes import assemble_scores, export_scores_csv


def create_pipeline(**kwargs) -> Pipeline:
    scoring = Pipeline(
        [
            Node(
                assemble_scores,
                inputs=[
                    "preprocess_report",
                    "normalize_report",
                    "heatmaps_report",
                    "score_fusion_if_fitted",
                    "params:scores",
                ],
                outputs=["scores", "scores_summary"],
                name="assemble_scores",
            ),
            Node(export_scores_csv, inputs="scores", outputs="scores_csv", name="export_scores_csv"),
        ],
        tags="scores",
    )
    evaluation = pipeline(
        evaluation_nodes(),
        inputs={"scores_table": "scores", "labels_table": "labels_if_given"},
        parameters={"params:evaluate": "params:evaluate"},
    )
    return scoring + evaluation
