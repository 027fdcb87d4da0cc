"""What the insight services take and give: periods, score breakdowns, dashboard tables, survey input."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from pydantic import BaseModel, Field, field_validator

from kernel.i18n import LOCAL_TZ


@dataclass(frozen=True)
class Period:
    """Whole local (Asia/Ho_Chi_Minh) days from `start` to `end`, both included."""

    start: date
    end: date

    @property
    def since(self) -> datetime:
        return datetime.combine(self.start, time.min, LOCAL_TZ)

    @property
    def until(self) -> datetime:
        return datetime.combine(self.end + timedelta(days=1), time.min, LOCAL_TZ)

    @classmethod
    def months_back(cls, months: int, end: date) -> Period:
        """The `months` months that end with `end`: 29/11/2025–28/11/2026 for 12 months to 28/11/2026."""
        year, month = end.year, end.month - months
        while month < 1:
            month += 12
            year -= 1
        day = min(end.day, _days_in_month(year, month))
        return cls(date(year, month, day) + timedelta(days=1), end)


def _days_in_month(year: int, month: int) -> int:
    following = date(year + (month == 12), month % 12 + 1, 1)
    return (following - timedelta(days=1)).day


@dataclass(frozen=True)
class MonthRange:
    """Calendar months from `first` to `last` (each the 1st of its month), both included."""

    first: date
    last: date

    @property
    def period(self) -> Period:
        return Period(self.first, date(self.last.year, self.last.month, _days_in_month(self.last.year, self.last.month)))

    def months(self) -> list[str]:
        """'YYYY-MM' keys of every month in the range, in order."""
        keys, year, month = [], self.first.year, self.first.month
        while (year, month) <= (self.last.year, self.last.month):
            keys.append(f"{year:04d}-{month:02d}")
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return keys

    @staticmethod
    def month_start(value: date) -> date:
        return value.replace(day=1)

    @classmethod
    def last_months(cls, count: int, today: date) -> MonthRange:
        last = today.replace(day=1)
        year, month = last.year, last.month - (count - 1)
        while month < 1:
            month += 12
            year -= 1
        return cls(date(year, month, 1), last)


@dataclass
class Input:
    """One figure a component was computed from, with how it is shown."""

    key: str
    label: str
    value: Any
    kind: str = "number"  # number / vnd / percent / text


@dataclass
class ComponentScore:
    key: str
    label: str
    weight: int
    score: float  # 0–100, one decimal
    inputs: list[Input]
    formula: str  # how the score follows from the inputs, with the numbers filled in

    @property
    def points(self) -> float:
        return round(self.weight * self.score / 100, 2)


@dataclass
class CooperativeScore:
    cooperative_id: int
    name: str
    province_code: int
    period: Period
    components: list[ComponentScore]
    total: float
    grade: str  # good / fair / average / weak
    latest_survey: Any = None
    rank: int | None = None

    def component(self, key: str) -> ComponentScore:
        return next(c for c in self.components if c.key == key)


@dataclass
class Table:
    """A table shown on the dashboard and offered as CSV/XLSX; `rows` hold raw values."""

    key: str
    title: str
    header: list[str]
    rows: list[list[Any]]
    kinds: list[str] = field(default_factory=list)  # per column: text / number / vnd / month / date


class SurveyFindingCreate(BaseModel):
    survey_date: date
    surveyor: str = Field(min_length=2, max_length=120)
    findings: str = Field(min_length=5, max_length=4000)
    assessed_class: str | None = Field(default=None, pattern="^(good|fair|average|weak)$")

    @field_validator("surveyor", "findings", mode="before")
    @classmethod
    def _strip(cls, value):
        return value.strip() if isinstance(value, str) else value

    @field_validator("assessed_class", mode="before")
    @classmethod
    def _empty_is_none(cls, value):
        return value or None
