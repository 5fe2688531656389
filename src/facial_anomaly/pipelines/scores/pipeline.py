"""``kedro run --pipeline scores``: the variant grid for every normalized face."""

from kedro.pipeline import Node, Pipeline

from .nodes import export_scores_csv, score_faces, summarize_variants


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                score_faces,
                inputs=[
                    "aligned_faces",
                    "normalized_faces",
                    "normalize_report",
                    "landmarks",
                    "params:normalize",
                    "params:heatmaps",
                    "params:scores",
                ],
                outputs=["scores", "scores_summary"],
                name="score_faces",
                tags="gpu",  # LPIPS variants run on the GPU when one is present
            ),
            Node(export_scores_csv, inputs="scores", outputs="scores_csv", name="export_scores_csv"),
            Node(summarize_variants, inputs="scores", outputs="variant_summary", name="summarize_variants"),
        ],
        tags="scores",
    )
