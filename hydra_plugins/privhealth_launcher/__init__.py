"""Hydra plugin: ``hydra/launcher=privhealth_parallel`` (see ``privhealth.experiments.launcher``)."""
