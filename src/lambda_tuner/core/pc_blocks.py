"""A PC level per 5-minute block of the coming hour, chosen per function by a causal backtest.

PC is billed in 5-minute increments and Application Auto Scaling takes minute-resolution cron, so the
plan for the coming hour need not be one level. Three rules propose a plan for the coming hour from the
past only:
- `hourly`: `pc_plan.plan_hour`, one level for the whole hour (best where the past predicts little);
- `slot`: for each block of the hour (:00–:05, :05–:10, …), the level with the lowest objective summed
  over that block in every past hour — right for functions that burst at the same minutes every hour
  (cron jobs, polling), wrong for bursts that wander;
- `hourly+slot`: the larger of the two in every block, the hourly level plus the recurring bumps.
Which rule fits a function is itself learnt from the past: each rule is replayed over the last
`backtest_hours` hours, each replayed hour planned from the data before it only. The block rule with
the lowest objective there plans the coming hour if its mean gain per hour over the hourly rule
exceeds one standard error of that gain; otherwise the hourly rule does. So a block plan is used only
where it has already done better consistently, not thanks to one lucky hour (on a steady function
the block levels only fit noise).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from lambda_tuner.core.pc_model import FloatArray, LevelTables, ModelParams, level_tables, need
from lambda_tuner.core.pc_plan import BoolArray, HourPlan, PlannerConfig, idle_hour_cost, plan_hour
from lambda_tuner.core.pc_prices import PcPrices

IntArray = NDArray[np.int_]
RULES = ("hourly", "slot", "hourly+slot")


@dataclass(frozen=True)
class BlockConfig:
    block_min: int = 5  # PC billing increment
    backtest_hours: int = 8  # results are alike for 4..12 on the shared trace and its variants
    planner: PlannerConfig = field(default_factory=PlannerConfig)

    def __post_init__(self) -> None:
        if self.block_min <= 0 or 60 % self.block_min or self.backtest_hours < 1:
            raise ValueError(f"block_min must divide 60 and backtest_hours be positive: {self}")

    @property
    def blocks_per_hour(self) -> int:
        return 60 // self.block_min


@dataclass(frozen=True)
class BlockPlan:
    levels: tuple[int, ...]  # one per block of the coming hour
    rule: str  # one of RULES
    hourly: HourPlan  # what the hourly rule proposed
    backtest_usd: tuple[float, ...]  # objective of each rule over the backtest window, in RULES order

    @property
    def constant(self) -> bool:
        return len(set(self.levels)) == 1


def hourly_tables(blocks: LevelTables, blocks_per_hour: int) -> LevelTables:
    """Whole-hour tables from block tables (exact: an hour's cost is the sum of its blocks')."""
    return LevelTables(
        cost=_by_hour(blocks.cost, blocks_per_hour).sum(axis=2),
        cold=_by_hour(blocks.cold, blocks_per_hour).sum(axis=2),
    )


def slot_levels(blocks: LevelTables, lam: float, blocks_per_hour: int) -> IntArray:
    """Per block of the hour, the level with the lowest objective summed over all past hours."""
    obj = _by_hour(blocks.objective(lam), blocks_per_hour)
    return np.asarray(obj.sum(axis=1).argmin(axis=0), dtype=int)


def plan_block_hours(
    blocks: LevelTables,
    active: BoolArray,
    lam: float,
    idle_cost: FloatArray,
    hours: range,
    *,
    config: BlockConfig = BlockConfig(),
) -> list[BlockPlan]:
    """The plan of each hour in `hours`, each made from the blocks and activity before that hour only.

    `blocks` are causal block tables (level × block, `pc_model.level_tables(block_min=…)`) covering at
    least the hours before the last hour planned; `active[h]` says whether hour h had calls. Planning
    a range at once shares the replay between neighbouring hours; each plan equals the plan made with
    the tables cut at its hour.
    """
    bph = config.blocks_per_hour
    if hours.start < 0 or hours.step != 1 or not hours:
        raise ValueError(f"hours must be a non-empty forward range from 0 or later, got {hours}")
    first = max(1, hours.start - config.backtest_hours)
    last = hours.stop - 1  # every rule is replayed from `first` up to the last hour planned
    have = blocks.cost.shape[1] // bph
    if last > have or len(active) < last:
        raise ValueError(f"planning hour {last} needs {last} hours of history, got {have}")
    obj = _by_hour(blocks.objective(lam)[:, : last * bph], bph)  # level × hour × block
    cut = LevelTables(blocks.cost[:, : last * bph], blocks.cold[:, : last * bph])
    replayed = range(first, last + 1)
    proposals = _proposals(obj, hourly_tables(cut, bph), active, lam, idle_cost, replayed, config)
    # scores[g][r]: the objective rule r's plan for hour g had in hour g (known for hours before `last`)
    scores = {g: obj[rules, g, np.arange(bph)].sum(axis=1) for g, (_, rules) in proposals.items() if g < last}
    plans = []
    for h in hours:
        if h == 0:
            plans.append(BlockPlan((0,) * bph, RULES[0], HourPlan(0, 0.0, 0.0), (0.0,) * len(RULES)))
            continue
        replay = [scores[g] for g in range(max(first, h - config.backtest_hours), h)]
        window = np.array(replay, dtype=float).reshape(len(replay), len(RULES))
        totals = window.sum(axis=0)
        r = _chosen_rule(window)
        hp, rules = proposals[h]
        levels = tuple(int(v) for v in rules[r])
        plans.append(BlockPlan(levels, RULES[r], hp, tuple(float(t) for t in totals)))
    return plans


def _chosen_rule(window: FloatArray) -> int:
    """Index of the rule to use, given each rule's objective (columns) in the backtest hours (rows)."""
    r = int(window.sum(axis=0).argmin())  # the first (hourly) wins ties
    if r == 0 or len(window) < 2:
        return 0
    gain = window[:, 0] - window[:, r]
    stderr = float(gain.std(ddof=1)) / np.sqrt(len(gain))
    return r if float(gain.mean()) > stderr else 0


def _proposals(  # noqa: PLR0917 - the planner's inputs, passed through
    obj: FloatArray,
    hourly: LevelTables,
    active: BoolArray,
    lam: float,
    idle_cost: FloatArray,
    hours: range,
    config: BlockConfig,
) -> dict[int, tuple[HourPlan, IntArray]]:
    """Per hour g, the hourly plan and each rule's block levels (rule × block), from hours before g."""
    bph = config.blocks_per_hour
    cum = np.concatenate([np.zeros_like(obj[:, :1]), np.cumsum(obj, axis=1)], axis=1)
    out: dict[int, tuple[HourPlan, IntArray]] = {}
    for g in hours:
        past = LevelTables(hourly.cost[:, :g], hourly.cold[:, :g])
        hp = plan_hour(past, active[:g], lam, idle_cost, config.planner)
        slot = np.asarray(cum[:, g].argmin(axis=0), dtype=int)  # = slot_levels of the hours before g
        flat = np.full(bph, hp.level)
        out[g] = (hp, np.stack([flat, slot, np.maximum(flat, slot)]))
    return out


def plan_blocks_from_counts(
    counts: FloatArray,
    mean_ms: float,
    lam: float,
    *,
    prices: PcPrices,
    params: ModelParams,
    config: BlockConfig = BlockConfig(),
) -> BlockPlan:
    """The block plan for the hour after `counts` (per-minute calls, whole hours)."""
    counts = np.asarray(counts, dtype=float)
    if len(counts) % 60:
        raise ValueError(f"{len(counts)} minutes is not a whole number of hours")
    top = int(need(counts, mean_ms).max(initial=0.0))
    blocks = level_tables(counts, mean_ms, prices, params, block_min=config.block_min, max_level=top)
    active = counts.reshape(-1, 60).sum(axis=1) > 0
    idle = idle_hour_cost(top, prices, params)
    hour = len(counts) // 60
    return plan_block_hours(blocks, active, lam, idle, range(hour, hour + 1), config=config)[0]


def _by_hour(obj: FloatArray, blocks_per_hour: int) -> FloatArray:
    levels, cols = obj.shape
    if cols % blocks_per_hour:
        raise ValueError(f"{cols} blocks is not a whole number of {blocks_per_hour}-block hours")
    return obj.reshape(levels, cols // blocks_per_hour, blocks_per_hour)
