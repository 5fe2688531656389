"""Kedro project settings."""

import warnings

from facial_anomaly.hooks import EmbeddedSampleHook, MlflowTrackingHook, untracked_pipelines

# Hooks run in this order; kedro-mlflow's own hook is registered by its plugin entry point.
HOOKS = (EmbeddedSampleHook(), MlflowTrackingHook())

CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "config_patterns": {"mlflow": ["mlflow*", "mlflow*/**"]},
    "custom_resolvers": {"fa.untracked_pipelines": untracked_pipelines},
}

# Third-party deprecation chatter that says nothing about this project's run.
warnings.filterwarnings("ignore", message=r"register_new_resolver\(\) is deprecated", category=UserWarning)
warnings.filterwarnings("ignore", message=r".*Add type hints to the `predict` method", category=UserWarning)
