"""Attacks on a release and the risk report: Eq. 15 leakage as the union of real attacks.

``assess_release(source, release, population, config) -> RiskReport`` is the one entry point
(see ``privhealth.anon.attacks.leakage``); the attacks live in ``direct`` (raw identifiers in
the release), ``reversal`` (dictionary attack on hash pseudonyms), ``linkage`` (a voter-list
join), ``inference`` (homogeneity/skewness) and ``risk`` (ARX-style risk models).
"""

from __future__ import annotations

from typing import Any

__all__ = ["AttackConfig", "RiskReport", "assess_release"]


def __getattr__(name: str) -> Any:  # lazy: safe_harbor imports attack helpers, leakage imports safe_harbor
    if name in __all__:
        from privhealth.anon.attacks import leakage

        return getattr(leakage, name)
    raise AttributeError(f"module 'privhealth.anon.attacks' has no attribute '{name}'")
