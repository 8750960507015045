"""Anonymizers that enforce privacy models: optimal full-domain generalization and Mondrian.

Both first apply the identifier steps (pseudonymize IDs, mask or drop direct identifiers),
then enforce k-anonymity, l-diversity and t-closeness on the quasi-identifiers with a
suppression limit, and finally re-measure the release independently: a release that does
not satisfy the requested model is refused (PrivacyModelError), never returned.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from privhealth.anon.criteria import (
    Criterion,
    DistinctL,
    EntropyL,
    KAnonymity,
    RecursiveCL,
    TCloseness,
)
from privhealth.anon.derive import RoleIdentifiers, default_hierarchies
from privhealth.anon.hierarchy import Hierarchy, build_hierarchy
from privhealth.anon.loss_metrics import LossMetric, resolve_metric
from privhealth.anon.missing import MISSING_LABEL, apply_missing_policy, remaining_limit
from privhealth.anon.mondrian import mondrian
from privhealth.anon.privacy import measure
from privhealth.anon.recipe import Recipe
from privhealth.anon.release import Release, make_release
from privhealth.anon.search import optimal_generalization
from privhealth.anon.t_distances import TDistance
from privhealth.anon.transforms import Generalizer, RuleSet, Step
from privhealth.data.schema import Dataset
from privhealth.errors import ConfigError, PrivacyModelError

L_VARIANTS = ("distinct", "entropy", "recursive")
METHODS = ("optimal", "mondrian")


def build_criteria(
    k: int | None = None,
    l: float | None = None,  # noqa: E741 - the privacy model's name
    l_variant: str = "distinct",
    c: float | None = None,
    t: float | None = None,
    t_distance: str | None = None,
) -> list[Criterion]:
    """The criteria for a (k, l, t) request; ``None`` leaves a model out."""
    crits: list[Criterion] = []
    if k is not None:
        crits.append(KAnonymity(int(k)))
    if l is not None:
        if l_variant not in L_VARIANTS:
            raise ConfigError(f"l_variant must be one of {', '.join(L_VARIANTS)}, got '{l_variant}'")
        if l_variant == "distinct":
            crits.append(DistinctL(l))
        elif l_variant == "entropy":
            crits.append(EntropyL(l))
        else:
            if c is None:
                raise ConfigError("recursive (c,l)-diversity needs c")
            crits.append(RecursiveCL(c, l))
    if t is not None:
        crits.append(TCloseness(float(t), distance=t_distance or "ordered"))
    if not crits:
        raise ConfigError("no privacy model requested: set at least one of k, l, t")
    return crits


def sensitive_columns(dataset: Dataset, sensitive: Sequence[str] | None, target_is_sensitive: bool) -> list[str]:
    """Sensitive attributes: explicit, else the schema's (plus the target if asked)."""
    cols = list(sensitive) if sensitive else list(dataset.schema.sensitive)
    tgt = dataset.schema.target
    if target_is_sensitive and tgt and tgt not in cols:
        cols.append(tgt)
    return cols


def build_hierarchies(
    specs: Mapping[str, Mapping[str, Any] | Hierarchy], frame: pd.DataFrame, quasi: Sequence[str]
) -> dict[str, Hierarchy]:
    """Hierarchies for every quasi-identifier (``flat`` for those without a spec), built on the data."""
    unknown = sorted(set(specs) - set(quasi))
    if unknown:
        raise ConfigError(f"hierarchies given for column(s) that are not quasi-identifiers: {unknown}")
    out: dict[str, Hierarchy] = {}
    for q in quasi:
        spec = specs.get(q, {"type": "flat"})
        out[q] = spec if isinstance(spec, Hierarchy) else build_hierarchy(q, spec, frame[q])
    return out


class EnforcedAnonymizer:
    """Pseudonymize/mask identifiers, then enforce (k, l, t) on the QIs by ``method``.

    ``method='optimal'`` searches the full-domain generalization lattice for the node of
    least ``metric`` loss (ARX-style); ``method='mondrian'`` partitions multidimensionally
    (strict Mondrian). ``suppression`` is the fraction of patients that may be removed.
    """

    def __init__(
        self,
        method: str = "optimal",
        identifiers: RuleSet | RoleIdentifiers | Sequence[Step] | None = None,
        hierarchies: Mapping[str, Mapping[str, Any]] | None = None,
        k: int | None = 5,
        l: float | None = None,  # noqa: E741
        l_variant: str = "distinct",
        c: float | None = None,
        t: float | None = None,
        t_distance: str | None = None,
        suppression: float = 0.02,
        metric: str | LossMetric = "arx_loss",
        max_levels: Mapping[str, int] | None = None,
        quasi: Sequence[str] | None = None,
        sensitive: Sequence[str] | None = None,
        target_is_sensitive: bool = True,
        name: str | None = None,
        missing: str | Mapping[str, str] | None = "value",
        missing_label: str = MISSING_LABEL,
    ) -> None:
        if method not in METHODS:
            raise ConfigError(f"unknown anonymization method '{method}' (expected one of {', '.join(METHODS)})")
        if not 0.0 <= float(suppression) <= 1.0:
            raise ConfigError(f"suppression limit must be a fraction in [0, 1], got {suppression}")
        self.method = method
        if identifiers is None:
            identifiers = RuleSet([])
        if not isinstance(identifiers, RuleSet | RoleIdentifiers):
            identifiers = RuleSet(list(identifiers))
        self.identifiers: RuleSet | RoleIdentifiers = identifiers
        self.hierarchy_specs = dict(hierarchies or {})
        self.criteria = build_criteria(k, l, l_variant, c, t, t_distance)
        self.k = k
        self.suppression = float(suppression)
        self.metric = resolve_metric(metric)  # chosen once: a bad name fails here, naming the valid ones
        self.max_levels = dict(max_levels) if max_levels else None
        self.quasi = list(quasi) if quasi else None
        self.sensitive = list(sensitive) if sensitive else None
        self.target_is_sensitive = target_is_sensitive
        self.name = name or method
        self.missing = missing
        self.missing_label = missing_label

    def anonymize(self, dataset: Dataset) -> Release:
        schema = dataset.schema
        quasi = self.quasi or schema.quasi
        if not quasi:
            raise ConfigError(f"dataset '{dataset.name}' declares no quasi-identifier to anonymize")
        sens = sensitive_columns(dataset, self.sensitive, self.target_is_sensitive)
        entity = schema.entity
        unknown = sorted(set(self.hierarchy_specs) - set(quasi))
        if unknown:
            raise ConfigError(f"hierarchies given for column(s) that are not quasi-identifiers: {unknown}")
        implied = default_hierarchies(schema, dataset.frame, [q for q in quasi if q not in self.hierarchy_specs],
                                      dataset.hierarchies)
        hierarchies = build_hierarchies({**implied, **self.hierarchy_specs}, dataset.frame, quasi)
        idents = self.identifiers
        if isinstance(idents, RoleIdentifiers):
            idents = idents.for_schema(schema)
        frame = idents.fit_transform(dataset.frame)
        missing = [q for q in quasi if q not in frame.columns]
        if missing:
            raise ConfigError(f"identifier steps removed quasi-identifier(s) {missing}")
        gaps = apply_missing_policy(frame, hierarchies, self.missing, entity, self.missing_label)
        limit = remaining_limit(self.suppression, dataset.n_entities, gaps.n_suppressed)
        if self.method == "optimal":
            res = optimal_generalization(
                gaps.frame, gaps.hierarchies, self.criteria, sensitive=sens, entity=entity,
                suppression_limit=limit, metric=self.metric, max_levels=self.max_levels,
            )
            details: dict[str, Any] = {"search": {k: v for k, v in res.to_dict().items() if k != "utility"}}
            specs = {**implied, **self.hierarchy_specs}  # specs, not built tables: a recipe stores no data value
            gen = Generalizer({q: specs[q] for q in quasi}, res.levels)
            gen.hierarchies = dict(gaps.hierarchies)
            recipe = Recipe([copy.deepcopy(idents), gen])
        else:
            res = mondrian(
                gaps.frame, quasi, self.criteria, hierarchies=gaps.hierarchies, sensitive=sens, entity=entity,
                suppression_limit=limit,
            )
            details = {"mondrian": {k: v for k, v in res.to_dict().items() if k != "utility"}}
            recipe = Recipe([copy.deepcopy(idents)], boxes=res.boxes)
        details["missing"] = gaps.columns
        details["utility"] = res.utility.to_dict()
        details["criteria"] = [c.label() for c in self.criteria]
        release = make_release(
            dataset, res.release, self.name,
            [*idents.describe()["steps"], {"step": self.method, "criteria": details["criteria"],
                                                      "suppression_limit": self.suppression,
                                                      "missing": gaps.columns}],
            recipe=recipe, **details,
        )
        verify_release(release, self.criteria, quasi, sens, reference=gaps.frame, suppression_limit=self.suppression)
        return release


def verify_release(
    release: Release,
    criteria: Sequence[Criterion],
    quasi: Sequence[str],
    sensitive: Sequence[str],
    reference: pd.DataFrame | None = None,
    suppression_limit: float | None = None,
) -> dict[str, bool]:
    """Re-measure a release independently and refuse it (PrivacyModelError) if any criterion fails."""
    distance: dict[str, TDistance] = {}
    hierarchies: dict[str, Hierarchy] = {}
    c = None
    for crit in criteria:
        if isinstance(crit, RecursiveCL):
            c = crit.c
        if isinstance(crit, TCloseness) and crit.ground.emd:  # KL is always measured (t_kl)
            for a in [crit.attribute] if crit.attribute else sensitive:
                distance[a] = crit.ground
                if crit.hierarchy is not None:
                    hierarchies[a] = crit.hierarchy
    report = measure(
        release.frame, quasi, sensitive, entity=release.schema.entity, c=c,
        distance=distance or None, hierarchies=hierarchies or None,
        reference=reference, per_class=False,
    )
    verdict = report.check(criteria)
    failed = [label for label, ok in verdict.items() if not ok]
    if failed:
        raise PrivacyModelError(
            f"release '{release.method}' refused: re-measured, it fails {', '.join(failed)}"
        )
    if suppression_limit is not None and release.suppressed_fraction > suppression_limit + 1e-12:
        raise PrivacyModelError(
            f"release '{release.method}' refused: {release.suppressed_fraction:.2%} of patients suppressed, "
            f"over the limit of {suppression_limit:.2%}"
        )
    return verdict
