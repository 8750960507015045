"""Masked fragments as match keys: what a partly masked label still says about the full value.

A mask that keeps part of a value (``*-6789``, ``***-***-1234``, ``****@gmail.com``,
``J*** S****``) leaves characters the attacker can compare with the full values of an
auxiliary file. Each released label is read as a *spec* (which part survives) and a *key*
(the surviving characters); the attacker renders every register value with the same spec and
compares keys by hashing, like any exact field. Specs:

- ``("exact",)``: no mask character; the whole value (text folded, digits only for digit fields);
- ``("ends", a, b)``: the first ``a`` and the last ``b`` characters (digits, for digit fields)
  survive around the masked middle; ``b == "@"`` keeps the whole e-mail domain;
- ``("initials",)``: every word reduced to its first letter (``J*** S****`` → ``j s``).

A label with nothing left (``XXXX``, ``***-**-****``, ``*``) is a wildcard (key None).
Characters kept in the middle of a mask (``***-45-****``) are not used.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from privhealth.anon.attacks.common import on_distinct

# A run of mask characters: '*', '#', '•', or two or more capital X (``XXXX``; one X may be a name's).
MASK_RUN = r"(?:[*#\u2022]|X{2,})+"
# Separators digit identifiers are written with; they carry nothing.
SEPARATORS = r"[\s\-\.\(\)/+]"
GAP = "\x00"  # stands for the masked part inside a key
FRAGMENT_SPECS = ("ends", "initials")


def label_specs(labels: pd.Series, kind: str) -> tuple[list[tuple], pd.Series]:
    """Per released label of a ``text`` or ``digits`` field: its spec and its key (None: wildcard)."""
    def per_label(u: pd.Series) -> pd.DataFrame:
        specs, keys = _specs(u, kind)
        col = np.empty(len(specs), dtype=object)
        col[:] = specs
        return pd.DataFrame({"spec": col, "key": keys.to_numpy(dtype=object)}, index=u.index)

    both = on_distinct(labels, per_label)
    return list(both["spec"]), pd.Series(both["key"].to_numpy(dtype=object), index=labels.index, dtype=object)


def _specs(labels: pd.Series, kind: str) -> tuple[list[tuple], pd.Series]:
    raw = labels.astype("str")
    null = labels.isna().to_numpy()
    if kind == "digits":
        t = raw.str.replace(SEPARATORS, "", regex=True).str.replace(r"\D+", GAP, regex=True)
    else:
        t = _fold(raw.str.replace(MASK_RUN, GAP, regex=True))
    masked = t.str.contains(GAP, regex=False).fillna(False).to_numpy(dtype=bool)
    lead = t.str.extract(f"^([^{GAP}]*){GAP}")[0].fillna("")
    trail = t.str.extract(f"{GAP}([^{GAP}]*)$")[0].fillna("")
    key = (lead + GAP + trail).to_numpy(dtype=object)
    a = lead.str.len().to_numpy()
    b = trail.str.len().to_numpy()
    domain = trail.str.startswith("@").to_numpy() & (kind != "digits")
    initials = np.zeros(len(t), bool)
    if kind != "digits":
        initials = t.str.fullmatch(f"[^\\s{GAP}]{GAP}(?: [^\\s{GAP}]{GAP})+").fillna(False).to_numpy(dtype=bool)
        key = np.where(initials, t.str.replace(GAP, "", regex=False).to_numpy(dtype=object), key)
    exact = t.to_numpy(dtype=object)
    specs: list[tuple] = [
        ("exact",) if not m else ("initials",) if i else ("ends", int(x), "@" if d else int(y))
        for m, i, d, x, y in zip(masked, initials, domain, a, b, strict=True)
    ]
    out = np.where(masked, key, exact)
    nothing = masked & (a == 0) & (b == 0)
    empty = ~masked & (t.str.len().fillna(0).to_numpy() == 0)
    out[null | nothing | empty] = None
    return specs, pd.Series(out, index=labels.index, dtype=object)


def _fold(s: pd.Series) -> pd.Series:
    return s.str.casefold().str.strip().str.replace(r"\s+", " ", regex=True)


def render_fragment(kind: str, spec: tuple, values: pd.Series) -> pd.Series:
    """Register values rendered like a released label of ``spec`` (None where they cannot be)."""
    text = values.astype("str")
    if kind == "digits":
        v = text.str.replace(r"\D", "", regex=True)
    else:
        v = _fold(text)
    n = v.str.len()
    if spec[0] == "exact":
        out = v.where(n > 0)
    elif spec[0] == "initials":
        out = v.str.replace(r"(\S)\S*", r"\1", regex=True).where(n > 0)
    else:
        a, b = int(spec[1]), spec[2]
        head = v.str.slice(0, a)
        if b == "@":
            dom = v.str.extract(r"(@[^@]*)$")[0]
            ok = dom.notna() & (v.str.find("@") >= a)
            out = (head + GAP + dom.fillna("")).where(ok)
        else:
            b = int(b)
            tail = v.str.slice(-b) if b else ""
            out = (head + GAP + tail).where(n >= a + b + 1)
    return out.where(values.notna())
