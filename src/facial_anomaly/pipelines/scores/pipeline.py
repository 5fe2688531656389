"""``kedro run --pipelines scores``: the scores table and the contract's scores.csv from the stage reports."""

from kedro.pipeline import Node, Pipeline

from .nodes import assemble_scores, export_scores_csv, summarize_variants


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                assemble_scores,
                inputs=["preprocess_report", "normalize_report", "heatmaps_report", "params:scores"],
                outputs=["scores", "scores_summary"],
                name="assemble_scores",
            ),
            Node(export_scores_csv, inputs="scores", outputs="scores_csv", name="export_scores_csv"),
            Node(summarize_variants, inputs="scores", outputs="variant_summary", name="summarize_variants"),
        ],
        tags="scores",
    )
