"""Attacks on a release and the risk report: Eq. 15 leakage as the union of real attacks.

``assess_release(source, release, population, config) -> RiskReport`` is the one entry point
(see ``privhealth.anon.attacks.leakage``); the attacks live in ``direct`` (raw identifiers in
the release), ``reversal`` (dictionary attack on hash pseudonyms), ``linkage`` (a voter-list
join), ``inference`` (homogeneity/skewness) and ``risk`` (ARX-style risk models). Label
parsing they share with the Safe Harbor check lives in ``privhealth.anon.labels``.
"""

from privhealth.anon.attacks.leakage import AttackConfig, RiskReport, assess_release

__all__ = ["AttackConfig", "RiskReport", "assess_release"]
