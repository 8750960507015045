"""What a pipeline job produces (``PipelineResult``, one ``ModelOutcome`` per model): plain data that
the pipeline fills and ``artifacts`` logs, so neither module imports the other."""

from __future__ import annotations

from dataclasses import dataclass, field

from privhealth.anon.attacks import RiskReport
from privhealth.anon.privacy import PrivacyReport
from privhealth.anon.release import Release
from privhealth.experiments.cache import CachedRisk
from privhealth.models.evaluation import TaskResult, retained_fraction


@dataclass
class ModelOutcome:
    """One model trained on the release (and on the raw data, same folds, patients and seed).

    ``anon`` is the first protocol's result; ``protocols`` holds each asked protocol's
    (``release``, ``deploy``); ``deltas`` the paired differences anonymized − raw.
    """

    name: str
    anon: TaskResult
    raw: TaskResult | None
    run_id: str | None = None
    protocols: dict[str, TaskResult] = field(default_factory=dict)
    deltas: dict[str, float] = field(default_factory=dict)
    risk: dict[str, float] = field(default_factory=dict)  # risk/mia_*, privacy/train_* (experiments/mia.py)

    def retained(self) -> dict[str, float]:
        if self.raw is None:
            return {}
        return {
            f"utility/{m}_retained": retained_fraction(self.anon.metrics[m], self.raw.metrics[m])
            for m in ("f1", "auroc", "accuracy", "auprc")
        }


@dataclass
class PipelineResult:
    """Everything a job produced: what the summary prints and a sweep or study reads."""

    dataset: str
    release: Release
    privacy: PrivacyReport
    metrics: dict[str, float]
    models: list[ModelOutcome]
    timings: dict[str, float] = field(default_factory=dict)
    risk: RiskReport | CachedRisk | None = None
    cache_hit: bool = False
    risk_hit: bool = False
    run_ids: list[str] = field(default_factory=list)
