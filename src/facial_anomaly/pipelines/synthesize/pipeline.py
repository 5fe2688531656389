"""``kedro run --pipelines synthesize --params "input_dir=<normal faces>[,persons=persons.csv]"``."""

from kedro.pipeline import Node, Pipeline

from ..preprocess import create_pipeline as create_preprocess_pipeline
from .nodes import draw_synthesis_sheets, plan_synthesis, synthesize_faces


def create_pipeline(**kwargs) -> Pipeline:
    synthesis = Pipeline(
        [
            Node(
                plan_synthesis,
                inputs=["preprocess_report", "aligned_face_images", "synthesis_persons", "params:synthesize"],
                outputs="synthesis_plan",
                name="plan_synthesis",
            ),
            Node(
                synthesize_faces,
                inputs=[
                    "synthesis_plan",
                    "preprocess_report",
                    "aligned_faces",
                    "lip_templates_if_extracted",
                    "params:synthesize",
                    "params:executor",
                ],
                outputs=["synthetic_faces", "synthetic_labels", "synthesis_summary"],
                name="synthesize_faces",
            ),
            Node(
                draw_synthesis_sheets,
                inputs=[
                    "synthesis_plan",
                    "aligned_face_images",
                    "landmarks",
                    "lip_templates_if_extracted",
                    "params:synthesize",
                ],
                outputs="synthesis_sheets",
                name="draw_synthesis_sheets",
            ),
        ],
        tags="synthesize",
    )
    return create_preprocess_pipeline() + synthesis
