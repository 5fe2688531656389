"""The scoring contract, the default pipeline: ``kedro run --pipelines score_photos --params
"input_dir=DIR,output_dir=OUT[,labels=LABELS.csv]"`` → ``OUT/scores.csv`` and ``OUT/08_reporting/report.html``."""

from kedro.pipeline import Pipeline

from ..heatmaps import create_pipeline as heatmaps
from ..normalize import create_pipeline as normalize
from ..preprocess import create_pipeline as preprocess
from ..report import create_pipeline as report
from ..scores import create_pipeline as scores


def create_pipeline(**kwargs) -> Pipeline:
    return preprocess() + normalize() + heatmaps() + scores() + report()
