"""Kedro pipelines: one package per stage, thin wiring over the library."""
