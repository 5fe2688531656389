"""Kedro project settings."""

import warnings

from facial_anomaly.hooks import (
    EmbeddedSampleHook,
    MlflowTrackingHook,
    ProjectMlflowHook,
    RunGuardHook,
    untracked_pipelines,
)

# The run guard checks the run's folders and locks the output before anything else
# (tryfirst); kedro-mlflow's hook is wrapped so mlflow is imported only by runs that track.
HOOKS = (RunGuardHook(), EmbeddedSampleHook(), ProjectMlflowHook(), MlflowTrackingHook())
DISABLE_HOOKS_FOR_PLUGINS = ("kedro-mlflow", "kedro_mlflow")

CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "config_patterns": {"mlflow": ["mlflow*", "mlflow*/**"]},
    "custom_resolvers": {"fa.untracked_pipelines": untracked_pipelines},
    # Environments (conf/smoke_test, conf/gpu, conf/paper) change single values of a block,
    # not whole blocks: `train_supervised: {preset: gpu}` keeps the base split and columns.
    "merge_strategy": {"parameters": "soft"},
}

# Third-party deprecation chatter that says nothing about this project's run.
warnings.filterwarnings("ignore", message=r"register_new_resolver\(\) is deprecated", category=UserWarning)
warnings.filterwarnings("ignore", message=r".*Add type hints to the `predict` method", category=UserWarning)
