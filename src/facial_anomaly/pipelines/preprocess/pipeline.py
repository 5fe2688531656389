"""Preprocess pipeline: ``kedro run --pipeline preprocess``."""

from kedro.pipeline import Node, Pipeline

from .nodes import (
    build_preprocess_tables,
    locate_faces,
    render_aligned_faces,
    summarize_preprocess,
)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                locate_faces,
                inputs=["raw_images", "face_geometry_previous", "params:preprocess", "params:alignment_presets"],
                outputs="face_geometry",
                name="locate_faces",
            ),
            Node(
                render_aligned_faces,
                inputs=[
                    "raw_images",
                    "face_geometry",
                    "aligned_faces_existing",
                    "params:preprocess",
                    "params:alignment_presets",
                ],
                outputs="aligned_faces",
                name="render_aligned_faces",
            ),
            Node(
                build_preprocess_tables,
                inputs="face_geometry",
                outputs=["preprocess_report", "alignment", "landmarks"],
                name="build_preprocess_tables",
            ),
            Node(
                summarize_preprocess,
                inputs="preprocess_report",
                outputs="preprocess_summary",
                name="summarize_preprocess",
            ),
        ],
        tags="preprocess",
    )
