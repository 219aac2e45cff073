"""What a model's tokens cost: a shipped price table, overridable by a user file."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from minutebook.core.errors import ConfigError
from minutebook.core.llm import Usage

SHIPPED = Path(__file__).resolve().parent / "prices.json"
log = logging.getLogger("minutebook.prices")
_MILLION = Decimal(1_000_000)


@dataclass(frozen=True)
class Price:
    input: Decimal
    cached_input: Decimal
    output: Decimal


class PriceTable:
    def __init__(self, prices: dict[str, Price]) -> None:
        self.prices = prices
        self._warned: set[str] = set()

    @classmethod
    def load(cls, override: Path | None = None) -> PriceTable:
        table = _read(SHIPPED)
        if override is not None:
            table.update(_read(override))
        return cls(table)

    def price(self, model: str) -> Price | None:
        if model in self.prices:
            return self.prices[model]
        # dated snapshots ("gpt-4o-mini-2024-07-18") cost what their family costs
        family = max((m for m in self.prices if model.startswith(m + "-")), key=len, default=None)
        return self.prices[family] if family else None

    def cost(self, model: str, usage: Usage) -> Decimal | None:
        """Dollars for this usage; None (never 0) when the model's price is unknown."""
        price = self.price(model)
        if price is None:
            if model not in self._warned:
                self._warned.add(model)
                log.warning("no price known for model %r: its cost is recorded as unknown", model)
            return None
        cached = min(usage.cached_tokens, usage.prompt_tokens)
        fresh = usage.prompt_tokens - cached
        return (fresh * price.input + cached * price.cached_input + usage.completion_tokens * price.output) / _MILLION


def _read(path: Path) -> dict[str, Price]:
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read prices from {path}: {exc}") from exc
    table: dict[str, Price] = {}
    for model, entry in raw.items():
        if model.startswith("_"):
            continue
        try:
            table[model] = Price(
                Decimal(str(entry["input"])),
                Decimal(str(entry.get("cached_input", entry["input"]))),
                Decimal(str(entry["output"])),
            )
        except (KeyError, TypeError, ArithmeticError) as exc:
            raise ConfigError(f"{path}: price for {model!r} needs input and output per 1M tokens") from exc
    return table
