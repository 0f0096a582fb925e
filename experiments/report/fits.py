"""Which rating fit produced a set of ratings, and whether a model and its experts are comparable.

ratings.json and population.json carry a top-level "fit" object (docs/contracts.md), e.g.
`{"method": "bradley-terry-mle", "prior_draws": 0, "anchors_fixed": true, "interval": "bootstrap-95",
"n_boot": 1000}`. The model clears the best expert's rating only meaningfully when both were rated by
the same fit; older files without "fit" still load, reported as "fit not recorded".
"""
from __future__ import annotations

DIFFERENT_FITS = "experts and model were rated by different fits: not comparable"
NOT_RECORDED = "fit not recorded"
# n_boot changes only the Monte-Carlo precision of an interval, not what is estimated, so it does not
# make two fits incomparable; every other field (method, prior, anchors, interval kind) does.
PRECISION_ONLY = frozenset({"n_boot"})


def describe_fit(fit: dict | None) -> str:
    """One line in words, e.g. "bradley-terry-mle, anchors fixed, no prior, bootstrap-95 (1000 resamples)"."""
    if fit is None:
        return NOT_RECORDED
    parts = [str(fit.get("method", "method not recorded"))]
    if "anchors_fixed" in fit:
        parts.append("anchors fixed" if fit["anchors_fixed"] else "anchors free")
    if "prior_draws" in fit:
        draws = fit["prior_draws"]
        parts.append("no prior" if not draws else f"prior: {draws:g} virtual draw(s) with each anchor")
    if "interval" in fit:
        resamples = f" ({fit['n_boot']} resamples)" if "n_boot" in fit else ""
        parts.append(f"{fit['interval']}{resamples}")
    known = {"method", "anchors_fixed", "prior_draws", "interval", "n_boot"}
    parts += [f"{key}={value}" for key, value in sorted(fit.items()) if key not in known]
    return ", ".join(parts)


def same_fit(a: dict, b: dict) -> bool:
    return {k: v for k, v in a.items() if k not in PRECISION_ONLY} == {k: v for k, v in b.items() if k not in PRECISION_ONLY}


def compare_fits(model_fit: dict | None, population: dict | None) -> dict:
    """The fits behind a run's ratings and its experts' (None without a synthetic population), in words.

    `comparable` is True or False when both fits are recorded, None when that cannot be checked.
    """
    out = {"model": model_fit, "model_text": describe_fit(model_fit),
           "experts": None, "experts_text": None, "comparable": None, "note": None}
    if population is None:
        return out
    experts_fit = population.get("fit")
    out.update(experts=experts_fit, experts_text=describe_fit(experts_fit))
    if experts_fit is None and population.get("rating_prior"):  # older population.json: the prior in words
        out["experts_text"] = f"{NOT_RECORDED} (population.json: rating prior {population['rating_prior']})"
    missing = [who for who, fit in (("the model's ratings", model_fit), ("the experts' ratings", experts_fit))
               if fit is None]
    if missing:
        out["note"] = f"cannot check that experts and model were rated by the same fit: {NOT_RECORDED} for " + \
                      " and ".join(missing)
    else:
        out["comparable"] = same_fit(model_fit, experts_fit)
        out["note"] = None if out["comparable"] else DIFFERENT_FITS
    return out
