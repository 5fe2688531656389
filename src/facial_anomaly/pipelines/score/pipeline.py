"""``kedro run --pipeline score --params "input_dir=DIR,output_dir=OUT"`` → ``OUT/scores.csv``."""

from kedro.pipeline import Pipeline

from ..heatmaps import create_pipeline as heatmaps
from ..normalize import create_pipeline as normalize
from ..preprocess import create_pipeline as preprocess
from ..scores import create_pipeline as scores


def create_pipeline(**kwargs) -> Pipeline:
    return preprocess() + normalize() + heatmaps() + scores()
