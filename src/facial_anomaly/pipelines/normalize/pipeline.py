"""``kedro run --pipelines normalize --params normalize.normalizer=<name>[+<name>...]``."""

from kedro.pipeline import Node, Pipeline

from .nodes import draw_comparison_sheets, run_normalizers


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                run_normalizers,
                inputs=[
                    "preprocess_report",
                    "aligned_faces",
                    "normalized_faces",
                    "models",
                    "params:normalize",
                    "params:executor",
                ],
                outputs=["normalize_report", "normalize_summary"],
                name="normalize_faces",
                tags="gpu",  # StyleGAN2 and the reconstruction models run on the GPU when present
            ),
            Node(
                draw_comparison_sheets,
                inputs=[
                    "normalize_report",
                    "aligned_faces",
                    "normalized_faces",
                    "normalize_sheet_files",
                    "params:normalize",
                ],
                outputs="normalize_sheets",
                name="draw_comparison_sheets",
            ),
        ],
        tags="normalize",
    )
