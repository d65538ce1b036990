"""PC that sits on the version an alias serves (not on the alias) is changed where it sits: a proposal to
remove or resize it must act on that version, or the apply reports success while the PC, and its bill,
stay. From the policy's recommendation to the twin's Lambda PC over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from approval_support import AUDIT, NOW, STATE
from botocore.exceptions import ClientError
from twin_support import Live

from lambda_tuner.adapters import aws
from lambda_tuner.adapters.applier import Applier
from lambda_tuner.adapters.apply_flow import ApplyFlow
from lambda_tuner.adapters.notifier import Notifier
from lambda_tuner.adapters.store import Store
from lambda_tuner.core.models import AliasInfo, ConcurrencySeries, Epoch, FunctionConfig, Observations
from lambda_tuner.core.pc_objective import parse_objective
from lambda_tuner.core.pc_policy import decide_pc
from lambda_tuner.core.pc_prices import pc_prices

FN, ALIAS, VERSION = "checkout", "live", "1"  # the twin's checkout: alias live serves version 1
MONDAY = datetime(2026, 11, 2, tzinfo=UTC)


def _pc(qualifier: str) -> int:
    try:
        got = aws.client("lambda").get_provisioned_concurrency_config(FunctionName=FN, Qualifier=qualifier)
    except ClientError:
        return 0
    return int(got["RequestedProvisionedConcurrentExecutions"])


def _idle(days: int = 3) -> Observations:
    """One short call every 30 minutes: PC 10 there is idle."""
    calls = tuple(1.0 if m % 30 == 0 else 0.0 for m in range(days * 1440))
    end = MONDAY + timedelta(days=days)
    return Observations(
        function=FN,
        qualifier=ALIAS,
        window_start=MONDAY,
        window_end=end,
        epochs=(
            Epoch(
                memory_mb=1024,
                arch="x86_64",
                start=MONDAY,
                end=end,
                invocations=int(sum(calls)),
                duration_avg_ms=100.0,
                duration_p99_ms=200.0,
            ),
        ),
        concurrency=ConcurrencySeries(
            start=MONDAY, period_s=60, max_concurrency=calls, invocations=calls, pc_utilization_max=()
        ),
    )


def test_idle_pc_on_the_version_an_alias_serves_is_removed_from_that_version(live: Live) -> None:
    # Given PC 10 on version 1, which alias live serves (the alias itself has no PC config), as the
    # collector reads it
    aws.client("lambda").put_provisioned_concurrency_config(
        FunctionName=FN, Qualifier=VERSION, ProvisionedConcurrentExecutions=10
    )
    assert _pc(VERSION) == 10
    fn = FunctionConfig.model_validate(
        {
            "name": FN,
            "arn": f"arn:aws:lambda:us-east-1:123456789012:function:{FN}",
            "memory_mb": 1024,
            "timeout_s": 30,
            "log_group": f"/aws/lambda/{FN}",
            "pc_on_versions": {VERSION: 10},
        }
    )
    alias = AliasInfo(name=ALIAS, function_version=VERSION)
    # When the agent proposes to remove it and the proposal is applied
    rec = decide_pc(
        fn, alias, _idle(), parse_objective(None), pc_prices("x86_64"), MONDAY + timedelta(days=3), "r-1"
    )
    assert (rec.kind, rec.current["pc"], rec.proposed) == ("provisioned_concurrency", 10, {"pc": 0})
    store = Store(STATE, AUDIT)
    store.put_recommendation(rec.model_copy(update={"status": "APPROVED"}))
    flow = ApplyFlow(
        store, Applier(sleep=lambda _: None, poll_delay_s=1), Notifier(live.deployed.account.topic_arn)
    )
    result = flow.apply(rec.id, "approval", NOW)
    # Then the PC is gone from where it was, and nothing was put on the alias instead
    assert result.ok, result.message
    assert (_pc(VERSION), _pc(ALIAS)) == (0, 0)
    # ...and a revert puts it back where it was
    flow.revert(NOW - timedelta(minutes=1), FN, NOW + timedelta(minutes=5))
    assert (_pc(VERSION), _pc(ALIAS)) == (10, 0)
