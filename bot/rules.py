"""Recording rules and workspace policy: which meetings get a bot, decided in words. Pure.

Evaluation order, first answer wins:
1. Hard rules nothing overrides: all-day, cancelled, declined and link-less events are never recorded.
2. Workspace policy "never record meetings titled ...".
3. The member's rules, in order, first match wins (`Rule.conditions` must all hold).
4. The default: the workspace policy's default action if it has one, else `ask` for meetings
   the member organises and `skip` for the rest.
Then "external meetings need approval" turns a `record` into an `ask` when outsiders attend.

Every verdict carries a reason a person can read ("rule 2: title contains 'demo'").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Annotated, Any, Literal, Union

import re2
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Action = Literal["record", "ask", "skip"]
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
PLATFORMS = ("zoom", "meet", "teams", "webex", "goto", "chime", "whereby", "jitsi", "other")
RESPONSES = ("accepted", "tentative", "declined", "needsAction", "organizer")
MAX_PATTERN_LENGTH = 200


@dataclass(frozen=True)
class MeetingFacts:
    """What rules may look at, for one event on one member's calendar (times in the member's tz)."""

    title: str = ""
    description: str = ""
    organizer_email: str | None = None
    organizer_self: bool = False
    attendee_count: int = 0
    has_external: bool = False
    platform: str | None = None
    meeting_url: str | None = None
    calendar_id: int | None = None
    calendar_name: str | None = None
    is_recurring: bool = False
    my_response: str | None = None
    local_start: datetime | None = None
    all_day: bool = False
    status: str = "confirmed"


class _Condition(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def matches(self, facts: MeetingFacts) -> bool:  # pragma: no cover - every subclass overrides
        raise NotImplementedError

    def describe(self) -> str:  # pragma: no cover
        raise NotImplementedError


class TitleContains(_Condition):
    type: Literal["title_contains"] = "title_contains"
    text: str = Field(min_length=1, max_length=200)
    include_description: bool = False

    def matches(self, facts: MeetingFacts) -> bool:
        needle = self.text.casefold()
        haystack = facts.title + ("\n" + facts.description if self.include_description else "")
        return needle in haystack.casefold()

    def describe(self) -> str:
        where = "title or description" if self.include_description else "title"
        return f"{where} contains '{self.text}'"


class TextMatches(_Condition):
    """A regular expression (case-insensitive) on the title, the description or either."""

    type: Literal["matches"] = "matches"
    pattern: str = Field(min_length=1, max_length=MAX_PATTERN_LENGTH)
    field: Literal["title", "description", "any"] = "title"

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        compile_pattern(value)
        return value

    def matches(self, facts: MeetingFacts) -> bool:
        regex = compile_pattern(self.pattern)
        # Descriptions are bounded so that no pattern can spend long on a huge body.
        texts = {"title": [facts.title], "description": [facts.description[:20000]],
                 "any": [facts.title, facts.description[:20000]]}[self.field]
        return any(regex.search(text) for text in texts)

    def describe(self) -> str:
        return f"{'title or description' if self.field == 'any' else self.field} matches /{self.pattern}/"


class OrganizerIsMe(_Condition):
    type: Literal["organizer_is_me"] = "organizer_is_me"
    value: bool = True

    def matches(self, facts: MeetingFacts) -> bool:
        return facts.organizer_self == self.value

    def describe(self) -> str:
        return "you organise it" if self.value else "someone else organises it"


class OrganizerDomain(_Condition):
    type: Literal["organizer_domain"] = "organizer_domain"
    domains: list[str] = Field(min_length=1, max_length=50)

    @field_validator("domains")
    @classmethod
    def _clean(cls, value: list[str]) -> list[str]:
        cleaned = [d.strip().lower().lstrip("@") for d in value if d.strip()]
        if not cleaned:
            raise ValueError("give at least one domain")
        return cleaned

    def matches(self, facts: MeetingFacts) -> bool:
        domain = (facts.organizer_email or "").rpartition("@")[2].lower()
        return bool(domain) and any(domain == d or domain.endswith("." + d) for d in self.domains)

    def describe(self) -> str:
        return "organiser is from " + " or ".join(self.domains)


class HasExternalGuests(_Condition):
    type: Literal["has_external_guests"] = "has_external_guests"
    value: bool = True

    def matches(self, facts: MeetingFacts) -> bool:
        return facts.has_external == self.value

    def describe(self) -> str:
        return "has external guests" if self.value else "has no external guests"


class AttendeeCount(_Condition):
    type: Literal["attendee_count"] = "attendee_count"
    min: int | None = Field(default=None, ge=0)
    max: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _range(self) -> "AttendeeCount":
        if self.min is None and self.max is None:
            raise ValueError("give a minimum, a maximum or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("the minimum is above the maximum")
        return self

    def matches(self, facts: MeetingFacts) -> bool:
        return (self.min is None or facts.attendee_count >= self.min) and \
               (self.max is None or facts.attendee_count <= self.max)

    def describe(self) -> str:
        if self.min is not None and self.max is not None:
            return f"{self.min}–{self.max} attendees"
        if self.min is not None:
            return f"at least {self.min} attendees"
        return f"at most {self.max} attendees"


class PlatformIs(_Condition):
    type: Literal["platform"] = "platform"
    platforms: list[Literal["zoom", "meet", "teams", "webex", "goto", "chime", "whereby", "jitsi", "other"]] = \
        Field(min_length=1)

    def matches(self, facts: MeetingFacts) -> bool:
        return facts.platform in self.platforms

    def describe(self) -> str:
        return "on " + " or ".join(_PLATFORM_NAMES.get(p, p) for p in self.platforms)


class CalendarIs(_Condition):
    type: Literal["calendar"] = "calendar"
    calendar_ids: list[int] = Field(min_length=1)
    label: str | None = None  # the calendar's name when the rule was made, for descriptions

    def matches(self, facts: MeetingFacts) -> bool:
        return facts.calendar_id in self.calendar_ids

    def describe(self) -> str:
        return f"on calendar {self.label}" if self.label else "on the chosen calendar"


class Recurring(_Condition):
    type: Literal["recurring"] = "recurring"
    value: bool = True

    def matches(self, facts: MeetingFacts) -> bool:
        return facts.is_recurring == self.value

    def describe(self) -> str:
        return "is recurring" if self.value else "is a one-off"


class MyResponse(_Condition):
    type: Literal["my_response"] = "my_response"
    responses: list[Literal["accepted", "tentative", "declined", "needsAction", "organizer"]] = Field(min_length=1)

    def matches(self, facts: MeetingFacts) -> bool:
        return (facts.my_response or "needsAction") in self.responses

    def describe(self) -> str:
        return "you answered " + " or ".join(_RESPONSE_NAMES[r] for r in self.responses)


class TimeWindow(_Condition):
    """Weekdays (0 = Monday) and a time-of-day window in the member's time zone, end exclusive."""

    type: Literal["time_window"] = "time_window"
    weekdays: list[int] = Field(default_factory=lambda: [0, 1, 2, 3, 4])
    start: time = time(0, 0)
    end: time | None = None  # None: until midnight

    @field_validator("weekdays")
    @classmethod
    def _days(cls, value: list[int]) -> list[int]:
        if not value or any(d not in range(7) for d in value):
            raise ValueError("weekdays are 0 (Monday) to 6 (Sunday), at least one")
        return sorted(set(value))

    @field_validator("start", "end")
    @classmethod
    def _local(cls, value: time | None) -> time | None:
        # The window is read on the member's own clock, so an offset would silently mean nothing.
        if value is not None and value.tzinfo is not None:
            raise ValueError("times are on the member's own clock; leave out the UTC offset")
        return value

    @model_validator(mode="after")
    def _order(self) -> "TimeWindow":
        if self.end is not None and self.end <= self.start:
            raise ValueError("the window must end after it starts")
        return self

    def matches(self, facts: MeetingFacts) -> bool:
        if facts.local_start is None:
            return False
        moment = facts.local_start
        clock = moment.time().replace(tzinfo=None)
        return moment.weekday() in self.weekdays and clock >= self.start and \
            (self.end is None or clock < self.end)

    def describe(self) -> str:
        days = ", ".join(WEEKDAYS[d] for d in self.weekdays)
        if self.weekdays == [0, 1, 2, 3, 4]:
            days = "weekdays"
        elif self.weekdays == list(range(7)):
            days = "any day"
        until = self.end.strftime("%H:%M") if self.end else "midnight"
        return f"{days} {self.start.strftime('%H:%M')}–{until}"


Condition = Annotated[
    Union[TitleContains, TextMatches, OrganizerIsMe, OrganizerDomain, HasExternalGuests, AttendeeCount,
          PlatformIs, CalendarIs, Recurring, MyResponse, TimeWindow],
    Field(discriminator="type"),
]


class BotOverrides(BaseModel):
    """Per-rule or per-meeting bot settings; unset fields fall back to the policy."""

    model_config = ConfigDict(extra="forbid")

    bot_name: str | None = Field(default=None, min_length=1, max_length=100)
    entry_message: str | None = Field(default=None, max_length=500)
    recording_mode: Literal["speaker_view", "gallery_view", "audio_only"] | None = None
    speech_to_text: bool | None = None


class Rule(BaseModel):
    """All conditions must hold (no conditions: always). First matching rule decides."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="", max_length=100)
    conditions: list[Condition] = Field(default_factory=list, max_length=20)
    action: Action
    bot: BotOverrides = Field(default_factory=BotOverrides)

    def matches(self, facts: MeetingFacts) -> bool:
        return all(condition.matches(facts) for condition in self.conditions)

    def describe_conditions(self) -> str:
        return " and ".join(c.describe() for c in self.conditions) or "any meeting"

    def describe(self) -> str:
        return f"{self.describe_conditions()} → {self.action}"


class Policy(BaseModel):
    """The workspace's layer above member rules (`workspaces.policy`)."""

    model_config = ConfigDict(extra="ignore")

    bot_name: str = Field(default="calbot recorder", min_length=1, max_length=100)
    entry_message: str | None = Field(default="Hi! I'm recording this meeting for my team.", max_length=500)
    recording_mode: Literal["speaker_view", "gallery_view", "audio_only"] = "speaker_view"
    speech_to_text: bool = True
    default_action: Action | None = None          # None: ask if you organise it, else skip
    external_needs_approval: bool = False
    never_record_titles: list[str] = Field(default_factory=list, max_length=50)

    def bot_config(self, *layers: BotOverrides | None) -> dict[str, Any]:
        """Bot settings: policy, then each layer that sets something (rule, then meeting)."""
        config: dict[str, Any] = {
            "bot_name": self.bot_name, "entry_message": self.entry_message,
            "recording_mode": self.recording_mode, "speech_to_text": self.speech_to_text,
        }
        for layer in layers:
            if layer is not None:
                config.update(layer.model_dump(exclude_none=True))
        return config


@dataclass(frozen=True)
class Verdict:
    action: Action
    reason: str
    rule_index: int | None = None           # 1-based position of the deciding rule
    hard: bool = False                       # decided by a hard rule: no person may override
    bot: BotOverrides | None = field(default=None, compare=False)


def hard_rule(facts: MeetingFacts) -> Verdict | None:
    """The rules nothing overrides — not a member rule, not a click, not the API."""
    if facts.status == "cancelled":
        return Verdict("skip", "the meeting is cancelled", hard=True)
    if facts.all_day:
        return Verdict("skip", "all-day events are never recorded", hard=True)
    if facts.my_response == "declined":
        return Verdict("skip", "you declined it", hard=True)
    if not facts.meeting_url:
        return Verdict("skip", "no meeting link to join", hard=True)
    return None


def evaluate(facts: MeetingFacts, rules: list[Rule], policy: Policy | None = None) -> Verdict:
    """What should happen to this meeting for this member, and why."""
    policy = policy or Policy()
    hard = hard_rule(facts)
    if hard is not None:
        return hard
    title = facts.title.casefold()
    for banned in policy.never_record_titles:
        if banned.strip() and banned.strip().casefold() in title:
            return Verdict("skip", f"policy: never record meetings titled '{banned.strip()}'", hard=True)
    verdict = _first_rule(facts, rules) or _default(facts, policy)
    if verdict.action == "record" and policy.external_needs_approval and facts.has_external:
        return Verdict("ask", "policy: external meetings need approval", verdict.rule_index, bot=verdict.bot)
    return verdict


def _first_rule(facts: MeetingFacts, rules: list[Rule]) -> Verdict | None:
    for position, rule in enumerate(rules, start=1):
        if rule.matches(facts):
            label = f"rule {position}" + (f" ({rule.name})" if rule.name else "")
            return Verdict(rule.action, f"{label}: {rule.describe_conditions()}", position, bot=rule.bot)
    return None


def _default(facts: MeetingFacts, policy: Policy) -> Verdict:
    if policy.default_action is not None:
        return Verdict(policy.default_action, f"policy default: {policy.default_action}")
    if facts.organizer_self:
        return Verdict("ask", "default: you organise it")
    return Verdict("skip", "default: you don't organise it")


def parse_rules(raw: list[dict] | list[Rule]) -> list[Rule]:
    return [r if isinstance(r, Rule) else Rule.model_validate(r) for r in raw]


_PLATFORM_NAMES = {"zoom": "Zoom", "meet": "Google Meet", "teams": "Microsoft Teams", "webex": "Webex",
                   "goto": "GoTo", "chime": "Amazon Chime", "whereby": "Whereby", "jitsi": "Jitsi",
                   "other": "another platform"}
_RESPONSE_NAMES = {"accepted": "yes", "tentative": "maybe", "declined": "no",
                   "needsAction": "nothing yet", "organizer": "as organiser"}


def platform_name(platform: str | None) -> str:
    return _PLATFORM_NAMES.get(platform or "", "no link")


# Patterns come from members and the API and run against every meeting title on the engine's
# event loop: a backtracking engine would let "(a+)+$" freeze the whole server on one title.
# RE2 matches in linear time; what it cannot do (backreferences, lookaround) is refused up front.
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.case_sensitive = False
_RE2_OPTIONS.log_errors = False
_REGEX_CACHE: dict[str, Any] = {}


def compile_pattern(pattern: str):
    """The compiled (case-insensitive, linear-time) pattern, or ValueError saying what is wrong."""
    regex = _REGEX_CACHE.get(pattern)
    if regex is None:
        try:
            regex = re2.compile(pattern, _RE2_OPTIONS)
        except re2.error as exc:
            reason = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
            raise ValueError(f"not a valid regular expression: {reason} (no backreferences or lookaround: "
                             f"patterns must run in linear time)") from None
        if len(_REGEX_CACHE) > 1000:
            _REGEX_CACHE.clear()
        _REGEX_CACHE[pattern] = regex
    return regex
