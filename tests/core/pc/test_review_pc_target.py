"""Where a PC recommendation's change is made: on the alias, or on the version it serves when the PC
sits there (the collector reads such PC as `pc_on_versions`, the alias itself having no config)."""

from __future__ import annotations

from pc_support import NOW, alias, function, observations, sparse_calls

from lambda_tuner.core.models import AliasInfo
from lambda_tuner.core.pc_objective import parse_objective
from lambda_tuner.core.pc_policy import decide_pc
from lambda_tuner.core.pc_prices import pc_prices


def _idle_rec(
    fn_pc_on_versions: dict[str, int], on_alias: int | None
) -> tuple[dict[str, object], str | None]:
    conc, calls = sparse_calls(3, 30)
    fn = function(pc_on_versions=fn_pc_on_versions)
    target = alias(on_alias) if on_alias is not None else AliasInfo(name="live", function_version="7")
    rec = decide_pc(
        fn, target, observations(conc, calls, 100.0), parse_objective(None), pc_prices("x86_64"), NOW, "r"
    )
    assert rec.proposed == {"pc": 0}
    return dict(rec.current), rec.qualifier


def test_pc_on_the_served_version_is_changed_on_that_version_and_watched_on_the_alias() -> None:
    current, qualifier = _idle_rec({"7": 10}, None)
    assert current == {"pc": 10, "pc_version": "7"}
    assert qualifier == "live"


def test_pc_on_the_alias_is_changed_on_the_alias() -> None:
    current, qualifier = _idle_rec({}, 10)
    assert current == {"pc": 10}
    assert qualifier == "live"


def test_pc_on_a_version_the_alias_no_longer_serves_is_not_taken_for_the_aliases() -> None:
    conc, calls = sparse_calls(3, 30)
    fn = function(pc_on_versions={"6": 10})
    rec = decide_pc(
        fn,
        AliasInfo(name="live", function_version="7"),
        observations(conc, calls, 100.0),
        parse_objective(None),
        pc_prices("x86_64"),
        NOW,
        "r",
    )
    assert "pc_version" not in rec.current
