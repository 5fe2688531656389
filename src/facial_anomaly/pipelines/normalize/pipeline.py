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
                ],
                outputs=["normalized_faces", "normalize_report"],
                name="normalize_faces",
            ),
            Node(
                draw_comparison_sheets,
                inputs=["aligned_faces", "normalized_faces", "normalize_report", "params:normalize", "params:normalize_sheets"],
                outputs="normalize_sheets",
                name="draw_comparison_sheets",
            ),
        ],
        tags="normalize",
    )
