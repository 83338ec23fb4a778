"""Rule sets of the health status: named, versioned configurations (contract: docs/contract/health-status.md).

Provinces and the Ministry changed the rules often; each rule set is a frozen value here, keyed by its name,
and chosen by ``COVIDSYNC_RULE_SET`` (default ``hb-2021-11``). A new rule is a new entry with a new name,
never an edit of an existing one (bump ``version`` only to fix a mistake in how an entry expresses its own
rules). The numbers are passed to the SQL in ``sql/status/`` as parameters.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field

from covidsync.errors import CovidsyncError

DEFAULT_RULE_SET = "hb-2021-11"


class UnknownRuleSet(CovidsyncError):
    pass


@dataclass(frozen=True)
class RuleSet:
    name: str
    version: int
    description: str
    # §2: days after the last primary dose before a person is fully vaccinated
    fully_vaccinated_days: int = 14
    # primary series length by product code, where it differs from core.vaccine_product.primary_doses
    primary_doses_override: dict[str, int] = field(default_factory=dict)
    # §3: two positive antigen tests within this many hours make an F0
    antigen_pair_hours: int = 8
    # §3: a positive antigen test sampled at t is F0 when the person is a candidate of another person's F0
    # episode that began before t, through a scan in the 14 days before t: [t - this many days, t)
    contact_lookback_days: int = 14
    # §3: recovery at the latest this many days after f0_since
    recovery_days: int = 14
    # §4 card colour: green when recovered within these days; yellow for a dose this many days old or a
    # negative RT-PCR sampled within these hours
    green_recovery_days: int = 180
    yellow_dose_days: int = 14
    yellow_rt_pcr_hours: int = 72
    # §5: the transmission window opens this many days before f0_since; scans within dwell_minutes
    window_before_days: int = 2
    dwell_minutes: int = 30
    # §6: the published flag: a candidate scan within the last this many days
    candidate_flag_days: int = 14

    def sql_params(self) -> dict:
        import json

        params = {k: v for k, v in asdict(self).items() if k not in ("description", "primary_doses_override")}
        params["rule_set"] = params.pop("name")
        params["primary_doses_override"] = json.dumps(self.primary_doses_override, sort_keys=True)
        return params

    @property
    def horizon_days(self) -> int:
        """How far back a record's date can still change a status as ``as_of`` moves (for incremental)."""
        return self.green_recovery_days + self.recovery_days + 2


RULE_SETS: dict[str, RuleSet] = {
    "hb-2021-11": RuleSet(
        name="hb-2021-11",
        version=1,
        description="Hòa Bình, November 2021, card colours after Khánh Hòa's October 2021 rule",
    ),
}


def get(name: str | None = None) -> RuleSet:
    """The rule set ``name``, else ``COVIDSYNC_RULE_SET``, else the default."""
    name = name or os.environ.get("COVIDSYNC_RULE_SET") or DEFAULT_RULE_SET
    try:
        return RULE_SETS[name]
    except KeyError:
        known = ", ".join(sorted(RULE_SETS))
        raise UnknownRuleSet(f"unknown rule set {name!r} (COVIDSYNC_RULE_SET); known: {known}") from None
