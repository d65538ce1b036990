"""Provisioned-concurrency configs and account settings, which moto does not implement at all.

Lifecycle like AWS: Put answers IN_PROGRESS; the config is READY on the next read (or the next
`Twin.advance`), and only then does the World serve traffic from it. A request larger than the account's
unreserved concurrency ends FAILED with a StatusReason and never reaches the World.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lambda_tuner.twin.faults import function_of
from lambda_tuner.twin.lambda_api import backend, lambda_error, not_found, paged, simulated, timestamp
from lambda_tuner.twin.wire import Call, Reply

if TYPE_CHECKING:
    from lambda_tuner.twin.server import Twin

ACCOUNT_CONCURRENCY = 1000


@dataclass
class PcConfig:
    requested: int
    status: str  # IN_PROGRESS | READY | FAILED
    last_modified: str
    reason: str | None = None

    @property
    def allocated(self) -> int:
        return self.requested if self.status == "READY" else 0

    def to_json(self, arn: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "RequestedProvisionedConcurrentExecutions": self.requested,
            "AvailableProvisionedConcurrentExecutions": self.allocated,
            "AllocatedProvisionedConcurrentExecutions": self.allocated,
            "Status": self.status,
            "LastModified": self.last_modified,
        }
        if self.reason:
            out["StatusReason"] = self.reason
        if arn:
            out["FunctionArn"] = arn
        return out


def unreserved(twin: Twin, excluding: tuple[str, str] | None = None) -> int:
    """ConcurrentExecutions minus reserved concurrency minus PC of functions without a reservation."""

    reserved: dict[str, int] = {}
    for fn in backend(twin).list_functions():
        if fn.reserved_concurrency:
            reserved[fn.function_name] = int(fn.reserved_concurrency)
    pc = sum(
        c.requested
        for key, c in twin.lambdas.pc.items()
        if key != excluding and c.status != "FAILED" and key[0] not in reserved
    )
    return ACCOUNT_CONCURRENCY - sum(reserved.values()) - pc


def _pc_target(twin: Twin, call: Call) -> tuple[str, str] | Reply:

    name, qualifier = function_of(call) or "", call.query("Qualifier") or ""
    if name not in twin.lambdas.latest:
        return not_found(name)
    if not qualifier or qualifier == "$LATEST":
        return lambda_error(
            400,
            "InvalidParameterValueException",
            "Provisioned Concurrency Configs cannot be applied to unpublished function versions.",
        )
    return name, qualifier


def _qualifier_exists(twin: Twin, name: str, qualifier: str) -> bool:

    versions = {str(fn.version) for fn in backend(twin).list_versions_by_function(name)}
    aliases = {a.name for a in backend(twin).list_aliases(name)}
    return qualifier in versions or qualifier in aliases


def put_config(twin: Twin, call: Call) -> Reply:

    with twin.lock:
        target = _pc_target(twin, call)
        if isinstance(target, Reply):
            return target
        if not _qualifier_exists(twin, *target):
            return lambda_error(404, "ResourceNotFoundException", f"Cannot find alias or version {target[1]}")
        level = int(call.json().get("ProvisionedConcurrentExecutions", 0))
        if level < 1:
            return lambda_error(
                400, "InvalidParameterValueException", "ProvisionedConcurrentExecutions must be >= 1"
            )
        available = unreserved(twin, excluding=target)
        config = PcConfig(level, "IN_PROGRESS", timestamp(twin))
        if level > available:
            config.status = "FAILED"
            config.reason = (
                f"Requested {level} provisioned concurrency exceeds the account's unreserved "
                f"concurrency of {available}."
            )
        twin.lambdas.pc[target] = config
        return Reply.of_json(config.to_json(), 202)


def get_config(twin: Twin, call: Call) -> Reply:

    with twin.lock:
        target = _pc_target(twin, call)
        if isinstance(target, Reply):
            return target
        config = twin.lambdas.pc.get(target)
        if config is None:
            return lambda_error(
                404,
                "ProvisionedConcurrencyConfigNotFoundException",
                "No Provisioned Concurrency Config found for this function",
            )
        reply = Reply.of_json(config.to_json())
        _settle_one(twin, target, config)
        return reply


def delete_config(twin: Twin, call: Call) -> Reply:
    with twin.lock:
        target = _pc_target(twin, call)
        if isinstance(target, Reply):
            return target
        config = twin.lambdas.pc.pop(target, None)
        if config is not None and config.status == "READY" and simulated(twin, target[0]):
            twin.world.set_pc(target[0], target[1], 0, at=twin.world.now)
        return Reply(204, [("Content-Length", "0")], b"")


def list_configs(twin: Twin, call: Call) -> Reply:

    name = function_of(call) or ""
    with twin.lock:
        if name not in twin.lambdas.latest:
            return not_found(name)
        arn = backend(twin).get_function(name).function_arn
        mine = sorted((key, c) for key, c in twin.lambdas.pc.items() if key[0] == name)
        reply = paged(call, "ProvisionedConcurrencyConfigs", [c.to_json(f"{arn}:{q}") for (_, q), c in mine])
        for key, config in mine:
            _settle_one(twin, key, config)
        return reply


def _settle_one(twin: Twin, key: tuple[str, str], config: PcConfig) -> None:
    """IN_PROGRESS becomes READY once it has been seen; from then on the World serves it."""
    if config.status == "IN_PROGRESS":
        config.status = "READY"
        if simulated(twin, key[0]):
            twin.world.set_pc(key[0], key[1], config.requested, at=twin.world.now)


def settle(twin: Twin) -> None:
    for key, config in twin.lambdas.pc.items():
        _settle_one(twin, key, config)


def account_settings(twin: Twin, call: Call) -> Reply:

    with twin.lock:
        functions = list(backend(twin).list_functions())
        return Reply.of_json(
            {
                "AccountLimit": {
                    "TotalCodeSize": 80_530_636_800,
                    "CodeSizeUnzipped": 262_144_000,
                    "CodeSizeZipped": 52_428_800,
                    "ConcurrentExecutions": ACCOUNT_CONCURRENCY,
                    "UnreservedConcurrentExecutions": unreserved(twin),
                },
                "AccountUsage": {
                    "TotalCodeSize": sum(int(fn.code_size) for fn in functions),
                    "FunctionCount": len(functions),
                },
            }
        )


ROUTES = {
    "lambda.PutProvisionedConcurrencyConfig": put_config,
    "lambda.GetProvisionedConcurrencyConfig": get_config,
    "lambda.DeleteProvisionedConcurrencyConfig": delete_config,
    "lambda.ListProvisionedConcurrencyConfigs": list_configs,
    "lambda.GetAccountSettings": account_settings,
}
