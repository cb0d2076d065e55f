"""Experiments run on the model: replications, sweeps and their collation, validation."""
