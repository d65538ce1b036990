"""The collection bench on a version-heavy fleet (`--versions-per-function`): the collector lists $LATEST
only, the bench says so with the pages it paid, and the lower bound counts the same listing; the default
fleet is the one it always was."""

from __future__ import annotations

import pytest

from lambda_tuner.bench.collect import published_versions, run_size
from lambda_tuner.bench.lower_bound import CycleFacts, FunctionFacts, listing_pages, lower_bound
from lambda_tuner.twin.fleet import scaled_fleet

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

FUNCTIONS, VERSIONS = 30, 40  # 1,230 listing entries: 25 pages of FunctionVersion=ALL
FAST_RPS, BUDGET_S = 50.0, 2.0  # 100 control-plane calls, paced ten times faster than the default
# The cap is 10 % of 100 calls: 10 pages, 500 versions. In name order each function is its $LATEST then 40
# versions; the 501st version is the 21st of the 13th function, entry 514: the ALL listing stops after page
# 11, and one page of $LATEST follows.
ABANDONED, LATEST_PAGES = 11, 1
DAY = 739_900


def _lambda_calls(calls: dict[str, int]) -> int:
    return sum(n for op, n in calls.items() if op.startswith("lambda."))


@pytest.fixture(scope="module")
def heavy() -> dict:
    specs = scaled_fleet(FUNCTIONS, versions_per_function=VERSIONS)
    return run_size(FUNCTIONS, specs=specs, control_plane_rps=FAST_RPS, control_plane_budget_s=BUDGET_S)


def test_a_version_heavy_fleet_is_listed_latest_only_and_the_bench_reports_the_pages(heavy):
    cold, warm = heavy["first_cycle"], heavy
    assert heavy["published_versions"] == FUNCTIONS * VERSIONS  # the aliases name versions 1-29 only
    assert heavy["all_versions_listing"]["pages"] == 25
    assert cold["listing"] == {
        "mode": "$LATEST",
        "pages": ABANDONED + LATEST_PAGES,
        "all_versions": ABANDONED,
        "latest_only": LATEST_PAGES,
        "version_heavy_in_state": True,
    }
    # the next day the state says version-heavy: $LATEST directly, no ALL page paid again
    assert warm["listing"] == {
        "mode": "$LATEST",
        "pages": LATEST_PAGES,
        "all_versions": 0,
        "latest_only": LATEST_PAGES,
        "version_heavy_in_state": True,
    }
    for cycle in (cold, warm):
        assert cycle["api_calls"]["lambda.ListFunctions"] == cycle["listing"]["pages"]  # as the twin counted
        assert cycle["lower_bound_listing"]["mode"] == "$LATEST"
        assert cycle["lower_bound_calls"]["lambda.ListFunctions"] == cycle["listing"]["pages"]
    assert cold["lower_bound_listing"]["abandoned_all_pages"] == ABANDONED
    assert warm["lower_bound_listing"]["abandoned_all_pages"] == 0


def test_the_bound_for_a_latest_only_listing_counts_the_detail_reads_the_collector_makes(heavy):
    cold, warm = heavy["first_cycle"], heavy
    # 87 calls after the listing: every function is new, planned at 3 (4 when its series are read); the
    # PC listings not made for those without an alias are planned again, which reads the rest
    assert cold["deferred"] == 0 and cold["refreshed"] == FUNCTIONS
    assert warm["deferred"] == 0
    assert cold["api_calls"].get("lambda.GetFunctionConfiguration", 0) >= 1  # an alias's version, sized once
    assert "lambda.GetFunctionConfiguration" not in warm["api_calls"]  # kept in the state
    for cycle in (cold, warm):
        assert cycle["lower_bound_calls"]["lambda.GetFunction"] == cycle["refreshed"]
        assert cycle["lower_bound_total"] <= cycle["api_calls_total"]
        assert _lambda_calls(cycle["lower_bound_calls"]) <= _lambda_calls(cycle["api_calls"])
        assert cycle["ratio_to_lower_bound"] <= 1.1


def test_the_share_override_measures_the_all_versions_listing_on_the_same_fleet():
    specs = scaled_fleet(FUNCTIONS, versions_per_function=VERSIONS)
    result = run_size(
        FUNCTIONS,
        specs=specs,
        control_plane_rps=FAST_RPS,
        control_plane_budget_s=BUDGET_S,
        version_pages_share=1000.0,
    )
    for cycle in (result["first_cycle"], result):
        assert cycle["listing"] == {
            "mode": "ALL",
            "pages": 25,
            "all_versions": 25,
            "latest_only": 0,
            "version_heavy_in_state": False,
        }
        assert cycle["lower_bound_listing"] == {"mode": "ALL", "pages": 25, "abandoned_all_pages": 0}
        assert "lambda.GetFunctionConfiguration" not in cycle["api_calls"]  # sizes come with the listing
        assert cycle["lower_bound_total"] <= cycle["api_calls_total"]
    # 74 calls left after the listing at 3 each (every function has versions)
    assert result["first_cycle"]["refreshed"] == 24


def test_the_default_fleet_is_unchanged_and_k_versions_change_nothing_else():
    default, zero, heavy = (
        scaled_fleet(200),
        scaled_fleet(200, versions_per_function=0),
        scaled_fleet(200, versions_per_function=35),
    )

    def facts(spec):
        return (
            spec.name,
            spec.memory_mb,
            spec.arch,
            spec.log_format,
            dict(spec.tags),
            spec.aliases,
            spec.invoked,
            spec.noise,
            spec.app_log_bytes,
            spec.mean_ms(1024),
            spec.traffic.counts(0, 1440).sum(),
        )

    assert [facts(s) for s in default] == [facts(s) for s in zero] == [facts(s) for s in heavy]
    assert all(s.published == 0 for s in default)
    with_alias = [s for s in default if s.aliases]
    assert with_alias and all(
        published_versions(s) == s.published_count == int(s.aliases[0].version) for s in with_alias
    )  # as many as the alias needs
    assert all(published_versions(s) == s.published_count == 0 for s in default if not s.aliases)
    assert all(published_versions(s) == 35 for s in heavy)


def test_listing_pages_of_the_bound_counted_by_hand():
    fleet = [FunctionFacts(f"f{i:02d}", versions=VERSIONS) for i in range(FUNCTIONS)]
    assert listing_pages(fleet, CycleFacts(day=DAY, budget_calls=0)).pages == 25  # no cap: ALL
    capped = listing_pages(fleet, CycleFacts(day=DAY, budget_calls=0, version_pages_cap=10))
    assert (capped.pages, capped.abandoned, capped.all_versions) == (ABANDONED + 1, ABANDONED, False)
    assert listing_pages(fleet, CycleFacts(day=DAY, budget_calls=0, version_pages_cap=24)).all_versions
    remembered = listing_pages(
        fleet, CycleFacts(day=DAY, budget_calls=0, version_pages_cap=10, latest_only=True)
    )
    assert (remembered.pages, remembered.abandoned) == (1, 0)


def test_latest_only_detail_reads_of_the_bound_counted_by_hand():
    fleet = [
        FunctionFacts("a", versions=40, aliases=1, alias_versions=frozenset({"7"}), active_hours=100),
        FunctionFacts("b", versions=40),  # idle: its versions are not sized
        FunctionFacts("c", versions=40, active_hours=10),  # read: one size reserved, none to read (no alias)
        FunctionFacts("d", versions=40),
    ]
    # 1 page, GetAccountSettings; 18 calls: a 4, c 4, b 3, d 3 (planned); made: 4 GetFunction, 4 ListAliases,
    # PC for a (its alias), version 7's size
    roomy = lower_bound(fleet, CycleFacts(day=DAY, budget_calls=0, control_plane_calls=20, latest_only=True))
    assert {k: v for k, v in roomy.calls.items() if k.startswith("lambda.")} == {
        "lambda.ListFunctions": 1,
        "lambda.GetAccountSettings": 1,
        "lambda.GetFunction": 4,
        "lambda.ListAliases": 4,
        "lambda.ListProvisionedConcurrencyConfigs": 1,
        "lambda.GetFunctionConfiguration": 1,
    }
    # 10 calls: a (4) and c (4), busiest first, 2 left; c has no alias, so its PC listing is not made: 3
    # left, planned again: b (3), whose PC listing is not made either: 1 left, too few for d, which waits
    tight = lower_bound(fleet, CycleFacts(day=DAY, budget_calls=0, control_plane_calls=12, latest_only=True))
    assert (tight.calls["lambda.GetFunction"], tight.calls["lambda.ListAliases"]) == (3, 3)
    # the next day a's size is stored, and b, c, d are known with no alias: GetFunction alone for them
    known = CycleFacts(
        day=DAY + 1,
        budget_calls=0,
        control_plane_calls=20,
        latest_only=True,
        known=frozenset("abcd"),
        last_read_day=dict.fromkeys("abcd", DAY - 7),
        with_aliases=frozenset("a"),
        sized_versions={"a": frozenset({"7"})},
    )
    warm = lower_bound(fleet, known)
    assert warm.calls["lambda.GetFunction"] == 4 and warm.calls["lambda.ListAliases"] == 1
    assert "lambda.GetFunctionConfiguration" not in warm.calls
