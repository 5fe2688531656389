"""``kedro run --pipelines fit_normal_models --params input_dir=<normal faces>``: preprocess, then fit."""

from kedro.pipeline import Node, Pipeline

from ..preprocess import create_pipeline as create_preprocess_pipeline
from .nodes import fit_appearance_model, fit_normal_variation_maps, fit_padim_model, fit_shape_model


def create_pipeline(**kwargs) -> Pipeline:
    fitting = Pipeline(
        [
            Node(
                fit_shape_model,
                inputs=["preprocess_report", "landmarks", "params:fit_normal_models"],
                outputs=["shape_model", "shape_model_summary"],
                name="fit_shape_model",
            ),
            Node(
                fit_appearance_model,
                inputs=["aligned_face_images", "preprocess_report", "landmarks", "params:fit_normal_models"],
                outputs=["appearance_model", "appearance_model_summary"],
                name="fit_appearance_model",
            ),
            Node(
                fit_padim_model,
                inputs=["aligned_face_images", "preprocess_report", "landmarks", "params:fit_normal_models"],
                outputs=["padim_model", "padim_model_summary"],
                name="fit_padim_model",
                tags="gpu",
            ),
            Node(
                fit_normal_variation_maps,
                inputs=[
                    "aligned_face_images",
                    "preprocess_report",
                    "landmarks",
                    "params:fit_normal_models",
                    "params:normalize",
                    "params:heatmaps",
                ],
                outputs=["normal_variation_model", "normal_variation_model_summary"],
                name="fit_normal_variation_maps",
                tags="gpu",
            ),
        ],
        tags="fit_normal_models",
    )
    return create_preprocess_pipeline() + fitting
