"""Which tags are stale: decided per repository (`verdicts`, pure), stored on the Tag
rows (`refresh`), previewed for the rules page (`figures`).

The dashboard's stale list has to be one indexed query over 100,000 tags, so the
verdicts are computed in Python and written to Tag (is_stale, is_protected,
stale_reason, subject_digest) by `refresh_staleness`, after every sync and
whenever an admin changes a registry's StalenessRules. `evaluate_tags` is the
whole rule set and touches no database; `preview_staleness` runs it on rules an
admin has not saved yet, for the rules page, and writes nothing.

The first rule that applies gives the tag its verdict and its reason:

1. its name matches a protected pattern: protected, never stale;
2. it is a signature, attestation or SBOM tag (`sha256-<hex>.sig`, the OCI
   referrers fallback): it goes with the image it points at, never stale itself;
3. it shares its digest with a protected tag: never stale, because deleting the
   digest would delete the protected tag too;
4. a branch pattern is set and the name does not match it: not stale;
5. it is younger than `max_age_days`: not stale;
6. when `unpulled_days` is set: its image was pulled within that many days, or
   pull tracking has not begun (no notification has come from the registry yet):
   not stale. An image nobody pulled since tracking began counts from then, or
   from when the tag was first seen if that is later;
7. it is among the newest `keep_newest` candidates (tags that reach rule 3 or
   later, i.e. not protected, not referrers, matching the branch pattern) of its
   repository, or of its branch when the branch pattern names a `branch` group:
   not stale;
8. otherwise: stale.

Age and "newest" both count from the image's created date, or from when the
dashboard first saw the tag (`age_basis`); an image whose created date is
unknown counts from first seen. Ties in "newest" go by name in natural order
(build-10 is newer than build-9).

A registry connected to GitLab (with its GitLab rules on) judges the tags tied to
GitLab first: one that a live environment runs is protected after rule 1, and one
tied to a branch or merge request is judged by them after rule 3, before the branch
pattern and age (registry.gitlab.verdicts; the ties come from registry.gitlab.ties).
"""

from .figures import StaleFigures, preview_staleness, stale_figures
from .refresh import refresh_staleness, stale_tag_ids
from .verdicts import (
    REFERRER_TAG,
    TagFacts,
    Verdict,
    evaluate_tags,
    natural_key,
    protection_check,
    rules_for,
)

__all__ = [
    "REFERRER_TAG",
    "StaleFigures",
    "TagFacts",
    "Verdict",
    "evaluate_tags",
    "natural_key",
    "preview_staleness",
    "protection_check",
    "refresh_staleness",
    "rules_for",
    "stale_figures",
    "stale_tag_ids",
]
