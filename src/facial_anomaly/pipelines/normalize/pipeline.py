"""``kedro run --pipeline normalize --params normalize.normalizer=<name>[+<name>...]``."""

from kedro.pipeline import Node, Pipeline

from .nodes import draw_comparison_sheets, normalize_faces


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                normalize_faces,
                inputs=[
                    "aligned_faces",
                    "face_geometry",
                    "landmarks",
                    "shape_model_if_fitted",
                    "appearance_model_if_fitted",
                    "params:normalize",
                    "params:stylegan2",
                    "params:stylegan2_presets",
                    "reconstruction_checkpoints_if_trained",
                    "params:train_reconstruction",
                ],
                outputs=["normalized_faces", "normalize_report"],
                name="normalize_faces",
                tags="gpu",  # StyleGAN2 (and later learned normalizers) run on the GPU when present
            ),
            Node(
                draw_comparison_sheets,
                inputs=[
                    "aligned_faces",
                    "normalized_faces",
                    "normalize_report",
                    "params:normalize",
                    "params:normalize_sheets",
                ],
                outputs="normalize_sheets",
                name="draw_comparison_sheets",
            ),
        ],
        tags="normalize",
    )
