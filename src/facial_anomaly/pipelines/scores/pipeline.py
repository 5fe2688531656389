"""``kedro run --pipeline scores``: the variant grid for every normalized face."""

from kedro.pipeline import Node, Pipeline

from .nodes import export_scores_csv, fuse_scores, score_faces, score_supervised, summarize_variants


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
                outputs=["unsupervised_scores", "unsupervised_scores_summary"],
                name="score_faces",
                tags="gpu",  # LPIPS variants run on the GPU when one is present
            ),
            Node(
                score_supervised,
                inputs=[
                    "aligned_faces",
                    "normalized_faces",
                    "normalize_report",
                    "landmarks",
                    "supervised_checkpoints_if_trained",
                    "params:train_supervised",
                ],
                outputs=["supervised_scores", "supervised_checkpoint_sha1"],
                name="score_supervised",
                tags="gpu",
            ),
            Node(
                fuse_scores,
                inputs=[
                    "unsupervised_scores",
                    "unsupervised_scores_summary",
                    "supervised_scores",
                    "supervised_fusion_if_fitted",
                    "supervised_checkpoint_sha1",
                    "params:train_supervised",
                    "params:scores",
                ],
                outputs=["scores", "scores_summary"],
                name="fuse_scores",
            ),
            Node(export_scores_csv, inputs="scores", outputs="scores_csv", name="export_scores_csv"),
            Node(summarize_variants, inputs="scores", outputs="variant_summary", name="summarize_variants"),
        ],
        tags="scores",
    )
