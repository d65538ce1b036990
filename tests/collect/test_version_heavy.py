"""A version-heavy account (every deploy publishes a version): once the versions would take more than their
share of the control-plane budget the listing is of $LATEST only, the state remembers it, and a function's
versions are known through the aliases that name them. A version-light account is collected as before."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from collect_helpers import EPOCH, NOW, P, clients, record_requests, run_collect

from lambda_tuner.adapters import inventory
from lambda_tuner.collect import CollectResult
from lambda_tuner.core.models import Epoch
from lambda_tuner.twin.server import Twin
from lambda_tuner.twin.shapes import cpu_bound, io_bound
from lambda_tuner.twin.spec import AliasSpec, FunctionSpec
from lambda_tuner.twin.traffic import rare, steady
from lambda_tuner.twin.world import World

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

RPS = 5.0
TIGHT_S = 20.0  # 100 control-plane calls: the listing may spend 10 pages (500 versions) on versions
ROOMY_S = 60.0  # 300 calls: 30 pages (1,500 versions), more than the account has
TIGHT_BUDGET = int(TIGHT_S * RPS)
VERSIONS = 30  # published by each function's deploys; its alias "live" is on the last one
FILLERS = 30
FUNCTIONS = FILLERS + 3
# Name order: canaried (32 entries: $LATEST and 31 versions), then f00... (31 each). After 10 pages (500
# entries, 17 of them $LATEST) 483 versions; after 11 (550 entries, 18 $LATEST) 532: past the cap of 500.
ABANDONED_PAGES = 11
START = NOW - timedelta(days=2)  # the account as provisioned, and the canary's start
CANARY_MB, MAIN_MB, LATEST_MB = 512, 1024, 2048
DAY = timedelta(days=1)


def _heavy_fleet() -> list[FunctionSpec]:
    live = (AliasSpec("live", str(VERSIONS)),)
    return [
        # Behind "live" on version 30 at 1 GB; it will route 10 % to a version at 512 MB, while $LATEST
        # (2 GB) is not deployed: only the versions' sizes say what ran. Its log group is shared.
        FunctionSpec(
            "canaried",
            cpu_bound(300.0, fixed_ms=20.0),
            steady(40.0),
            MAIN_MB,
            aliases=live,
            invoked=(("live", 1.0),),
            log_group="/shared/pair",
        ),
        FunctionSpec("neighbour", io_bound(20.0), steady(20.0, seed=1), 256, log_group="/shared/pair"),
        # Tagged off; served by "live" on version 30 at 1 GB, while its $LATEST will be changed to 2 GB. Its
        # JSON logs at WARN hide the REPORT lines, which would say what ran: only the versions' sizes do
        FunctionSpec(
            "switched-off",
            io_bound(20.0),
            steady(30.0, seed=2),
            MAIN_MB,
            tags={f"{P}mode": "off"},
            aliases=live,
            invoked=(("live", 1.0),),
            log_format="JSON",
            system_log_level="WARN",
        ),
        # Two in three with a call a minute, billed under the mark even at their 1 s timeout; the rest idle.
        # Neither kind's observations split by memory size: their versions' sizes are not read.
        *(
            FunctionSpec(
                f"f{i:02d}",
                io_bound(20.0),
                steady(1.0, seed=i) if i % 3 else rare(0.0),
                timeout_s=1,
                aliases=live,
            )
            for i in range(FILLERS)
        ),
    ]


def _heavy_account(twin: Twin) -> None:
    """The account provisioned two days ago, when a canary started on `canaried` and `switched-off`'s
    $LATEST was changed (not deployed to its alias); now is NOW."""
    twin.reset(World(_heavy_fleet(), seed=3, epoch=EPOCH, now=START))
    lam = clients(twin)["lambda_client"]
    lam.update_function_configuration(FunctionName="canaried", MemorySize=CANARY_MB)
    lam.get_waiter("function_updated_v2").wait(FunctionName="canaried", WaiterConfig={"Delay": 1})
    trial = lam.publish_version(FunctionName="canaried")["Version"]
    assert trial == str(VERSIONS + 1)
    lam.update_function_configuration(FunctionName="canaried", MemorySize=LATEST_MB)
    lam.update_alias(
        FunctionName="canaried",
        Name="live",
        FunctionVersion=str(VERSIONS),
        RoutingConfig={"AdditionalVersionWeights": {trial: 0.1}},
    )
    lam.update_function_configuration(FunctionName="switched-off", MemorySize=LATEST_MB)
    twin.advance(NOW)


Requests = list[tuple[str, dict[str, Any]]]


def _cycle(
    twin: Twin, now: datetime, state: dict[str, Any], budget_s: float
) -> tuple[CollectResult, Requests]:
    if now > twin.world.now:
        twin.advance(now)
    made = clients(twin)
    seen = record_requests(made["lambda_client"])
    result = run_collect(
        twin, now=now, state=state, control_plane_rps=RPS, control_plane_budget_s=budget_s, **made
    )
    return result, seen


def _listings(seen: Requests) -> tuple[int, int]:
    """ListFunctions pages with FunctionVersion=ALL, and without."""
    pages = [params for op, params in seen if op == "ListFunctions"]
    every = sum(1 for p in pages if p.get("FunctionVersion") == "ALL")
    return every, len(pages) - every


def _version_reads(seen: Requests) -> set[tuple[str, str]]:
    return {(p["FunctionName"], p["Qualifier"]) for op, p in seen if op == "GetFunctionConfiguration"}


def _read(seen: Requests, operation: str = "GetFunction") -> set[str]:
    return {p["FunctionName"] for op, p in seen if op == operation}


def _lambda_calls(result: CollectResult) -> int:
    return sum(n for op, n in result.stats.api_calls.items() if op.startswith("lambda."))


def _canary_pair(result: CollectResult) -> dict[int, Epoch]:
    """The two sizes `canaried` ran at over the canary's window, by memory size."""
    obs = result.observations["canaried"]
    assert obs.status == "ok" and obs.qualifier == "live", obs.reason
    windows: dict[tuple[datetime, datetime], list[Epoch]] = {}
    for e in obs.epochs:
        windows.setdefault((e.start, e.end), []).append(e)
    (pair,) = [es for es in windows.values() if len(es) > 1]
    return {e.memory_mb: e for e in pair}


def _policy(result: CollectResult, name: str) -> Any:
    return next(f for f in result.inventory.functions if f.name == name).policy


@pytest.fixture(scope="module")
def heavy(twin: Twin) -> Iterator[dict[str, tuple[CollectResult, Requests]]]:
    """Cycles on the version-heavy account: NOW, the next day, six days on (still within the week), seven
    days on (the ALL listing tried again: still too many) and, fourteen days on, with a budget the versions
    fit in."""
    _heavy_account(twin)
    cycles: dict[str, tuple[CollectResult, Requests]] = {}
    state: dict[str, Any] = {}
    for key, at, budget_s in (
        ("first", NOW, TIGHT_S),
        ("next", NOW + DAY, TIGHT_S),
        ("day6", NOW + 6 * DAY, TIGHT_S),
        ("day7", NOW + 7 * DAY, TIGHT_S),
        ("roomy", NOW + 14 * DAY, ROOMY_S),
    ):
        cycles[key] = _cycle(twin, at, state, budget_s)
        state = cycles[key][0].state
    yield cycles


def test_past_the_cap_the_listing_falls_back_to_latest_and_the_state_remembers_the_day(heavy):
    first, seen = heavy["first"]
    # Then the ALL listing stopped at the cap (its pages paid) and one $LATEST page listed every function
    assert _listings(seen) == (ABANDONED_PAGES, 1)
    assert first.stats.api_calls["lambda.ListFunctions"] == ABANDONED_PAGES + 1
    assert first.stats.functions == FUNCTIONS
    assert first.state["lm"] == NOW.date().toordinal()
    # And every Lambda call of the cycle, version sizes included, stayed within the budget
    assert _lambda_calls(first) <= TIGHT_BUDGET


def test_details_are_read_within_the_budget_left_by_the_listing(heavy):
    first, seen = heavy["first"]
    # 100 - 12 pages - GetAccountSettings = 87 calls. A new function is planned at 4 (GetFunction,
    # ListAliases, ListProvisionedConcurrencyConfigs, one version size) when its series are read, else at
    # 3: the 3 busy ones and 25 of the 30 others fit; 99 calls were made in all
    assert first.stats.refreshed == 28 and first.stats.deferred == FUNCTIONS - 28
    assert _lambda_calls(first) == 99
    assert {"canaried", "switched-off", "neighbour"} <= _read(seen)
    assert _policy(first, "switched-off").mode == "off"  # its tag is seen
    # a function listed $LATEST only has its aliases read when new: neighbour has none, so no PC read
    assert "neighbour" in _read(seen, "ListAliases")
    assert "neighbour" not in _read(seen, "ListProvisionedConcurrencyConfigs")
    # And the next day the deferred ones are read
    following, _ = heavy["next"]
    assert not [f.name for f in following.inventory.functions if f.policy.errors]


def test_an_aliases_versions_are_sized_once_and_its_canary_is_told_apart(heavy):
    first, seen = heavy["first"]
    # Then the versions the alias names were read once each and kept
    assert {q for n, q in _version_reads(seen) if n == "canaried"} == {"30", "31"}
    assert first.state["functions"]["canaried"]["vm"] == {"30": MAIN_MB, "31": CANARY_MB}
    # And the alias's traffic is observed at the versions' sizes ($LATEST's 2 GB never ran), split over
    # the canary's window
    pair = _canary_pair(first)
    assert sorted(pair) == [CANARY_MB, MAIN_MB]
    share = pair[CANARY_MB].invocations / (pair[CANARY_MB].invocations + pair[MAIN_MB].invocations)
    assert 0.08 < share < 0.12
    assert {e.memory_mb for e in first.observations["canaried"].epochs} == {CANARY_MB, MAIN_MB}
    # And the REPORT rows of the shared log group at 512 MB are the canary's (only its version runs there)
    assert pair[CANARY_MB].reports is not None and pair[CANARY_MB].reports.invocations > 0
    assert not any("/shared/pair is shared" in p for p in first.stats.partial)
    # And a function served by an alias is observed at the size of the alias's version, not $LATEST's
    assert ("switched-off", "30") in _version_reads(seen)
    served = first.observations["switched-off"]
    assert served.qualifier == "live" and {e.memory_mb for e in served.epochs} == {MAIN_MB}


def test_the_next_cycles_list_latest_directly_and_take_version_sizes_from_the_state(heavy):
    for key in ("next", "day6"):
        result, seen = heavy[key]
        assert _listings(seen) == (0, 1), key  # no ALL page paid again within the week
        assert result.state["lm"] == NOW.date().toordinal()
        # the sizes read on the first day are not read again, and still split the canary and its rows
        assert not {n for n, _ in _version_reads(seen)} & {"canaried", "switched-off"}
        assert result.state["functions"]["canaried"]["vm"] == {"30": MAIN_MB, "31": CANARY_MB}
        pair = _canary_pair(result)
        assert sorted(pair) == [CANARY_MB, MAIN_MB] and pair[CANARY_MB].reports is not None
        assert _lambda_calls(result) <= TIGHT_BUDGET


def test_after_a_week_the_all_listing_is_tried_again(heavy):
    # Seven days after the cap was hit, the ALL listing is tried again: still too many, so again $LATEST
    day7, seen = heavy["day7"]
    assert _listings(seen) == (ABANDONED_PAGES, 1)
    assert day7.state["lm"] == (NOW + 7 * DAY).date().toordinal()
    # With a budget the versions fit in (a week later again), the account is listed with its versions
    roomy, seen = heavy["roomy"]
    every, latest_only = _listings(seen)
    assert every == 20 and latest_only == 0  # 33 $LATEST + 961 versions = 994 entries
    assert "lm" not in roomy.state and not _version_reads(seen)
    assert not any("vm" in entry for entry in roomy.state["functions"].values())
    assert sorted(_canary_pair(roomy)) == [CANARY_MB, MAIN_MB]


def test_switching_to_latest_only_does_not_make_every_function_changed(twin):
    # Given an account collected with its versions (the budget had room), every function read
    _heavy_account(twin)
    listed, seen = _cycle(twin, NOW, {}, ROOMY_S)
    assert "lm" not in listed.state and _listings(seen) == (20, 0) and len(_read(seen)) == FUNCTIONS
    # When the next day's budget is too small for its versions
    switched, seen = _cycle(twin, NOW + DAY, listed.state, TIGHT_S)
    # Then it is listed $LATEST only, and only the functions due in the weekly refresh are read again
    # (nothing changed: each was last modified before the day of its read)
    assert _listings(seen) == (ABANDONED_PAGES, 1)
    day, read_day = (NOW + DAY).date().toordinal(), NOW.date().toordinal()
    due = {n for n in listed.state["functions"] if inventory.is_due(n, day, read_day)}
    assert _read(seen) == due
    # And the canary the stored alias routes is still told apart: its versions sized in this cycle
    assert {q for n, q in _version_reads(seen) if n == "canaried"} == {"30", "31"}
    assert sorted(_canary_pair(switched)) == [CANARY_MB, MAIN_MB]
    assert _lambda_calls(switched) <= TIGHT_BUDGET


def test_a_function_deleted_after_the_latest_listing_is_reported_deleted(twin):
    _heavy_account(twin)
    made = clients(twin)
    admin = clients(twin)["lambda_client"]
    seen = record_requests(made["lambda_client"])

    def delete_after_listing(**_: Any) -> None:
        if seen and seen[-1] == ("ListFunctions", {}):  # the $LATEST-only listing, just made
            admin.delete_function(FunctionName="switched-off")

    made["lambda_client"].meta.events.register("after-call.lambda.ListFunctions", delete_after_listing)
    result = run_collect(twin, control_plane_rps=RPS, control_plane_budget_s=TIGHT_S, **made)
    assert _listings(seen) == (ABANDONED_PAGES, 1)
    assert "deleted during the cycle" in result.inventory.errors["switched-off"]
    assert "switched-off" not in {f.name for f in result.inventory.functions}
    obs = result.observations["switched-off"]
    assert obs.status == "insufficient" and "deleted" in (obs.reason or "")
    assert "switched-off" not in result.state["functions"]
    assert "switched-off" not in _read(seen, "ListAliases") | {n for n, _ in _version_reads(seen)}


def _light_fleet() -> list[FunctionSpec]:
    return [
        FunctionSpec(
            "aliased",
            io_bound(20.0),
            steady(5.0),
            aliases=(AliasSpec("live", "2", routing=(("1", 0.1),)),),
            invoked=(("live", 1.0),),
        ),
        FunctionSpec("plain", io_bound(20.0), steady(5.0, seed=1), 512),
        FunctionSpec("quiet", io_bound(20.0), rare(0.0)),
    ]


def test_a_version_light_account_is_listed_read_and_stored_as_before(twin):
    twin.reset(World(_light_fleet(), seed=3, epoch=EPOCH, now=NOW))
    made = clients(twin)
    seen = record_requests(made["lambda_client"])
    result = run_collect(twin, **made)
    # One ALL page (3 functions, 2 versions); GetFunction each, aliases and PC for the one with versions
    assert _listings(seen) == (1, 0)
    lambda_calls = {op: n for op, n in result.stats.api_calls.items() if op.startswith("lambda.")}
    assert lambda_calls == {
        "lambda.ListFunctions": 1,
        "lambda.GetAccountSettings": 1,
        "lambda.GetFunction": 3,
        "lambda.ListAliases": 1,
        "lambda.ListProvisionedConcurrencyConfigs": 1,
    }
    assert result.observations["aliased"].qualifier == "live"
    # And the state is as before: no version-heavy day, no $LATEST-only fingerprints, no version sizes,
    # and the fingerprint of a function with versions covers its version set
    assert "lm" not in result.state
    assert not any({"fl", "vm"} & set(e) for e in result.state["functions"].values())
    listed = made["lambda_client"].list_functions(FunctionVersion="ALL")["Functions"]
    aliased = next(f for f in listed if f["FunctionName"] == "aliased" and f["Version"] == "$LATEST")
    assert result.state["functions"]["aliased"]["fp"] == inventory.fingerprint(aliased, ["1", "2"])


def _entry(name: str, modified: str) -> dict[str, Any]:
    return {"FunctionName": name, "RevisionId": "r1", "LastModified": modified, "CodeSha256": "c1"}


def test_a_read_stored_from_one_listing_kind_is_compared_by_the_other_on_latest_alone():
    day = NOW.date().toordinal()
    before, same_day = "2026-11-10T08:00:00.000+0000", NOW.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    every = inventory.Listing(
        latest={"a": _entry("a", before), "b": _entry("b", same_day)},
        versions={"a": {"1": {}, "2": {}}, "b": {"1": {}}},
    )
    latest_only = inventory.Listing(latest=every.latest, all_versions=False)
    # Read from the ALL listing: its fingerprint covers the versions, which a $LATEST-only listing lacks
    stored = {n: {**inventory.fingerprints(n, every), "day": day} for n in every.latest}
    assert all(inventory.unchanged(n, stored[n], every) for n in every.latest)
    # ... so a $LATEST-only listing takes $LATEST as unchanged when it was modified before the day of the read
    assert inventory.unchanged("a", stored["a"], latest_only)
    assert not inventory.unchanged("b", stored["b"], latest_only)  # the same day: cannot tell, read again
    # Read from a $LATEST-only listing: either kind compares $LATEST's fingerprint, which a change moves
    stored = {n: {**inventory.fingerprints(n, latest_only), "day": day} for n in every.latest}
    assert all(
        inventory.unchanged(n, stored[n], listing) for n in every.latest for listing in (every, latest_only)
    )
    changed = inventory.Listing(latest={"a": {**_entry("a", before), "RevisionId": "r2"}}, all_versions=False)
    assert not inventory.unchanged("a", stored["a"], changed)
