"""What a question asks for: the kind of answer, and the time it is about.

A news question names its subject and asks for one kind of thing about it: a
person ("who"), a number ("how many"), a date ("when"), a place ("where",
"which country"), an organisation ("which company"), a title ("which show").
The answer reader prefers sentences that hold a thing of that kind the
question does not already name, and a question whose kind no relevant
sentence holds is a near miss: the articles cover the topic but do not say.

Time words ("this week", "recently", "last month", "in 2021") are read
against the reference date (the question's date in evals, today in the chat).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

AnswerKind = Literal["person", "number", "date", "place", "organisation", "title", "name", "thing"]

# spaCy entity labels that can answer each kind. "Who" is often answered by an
# organisation or a group ("Who won ...?" -> "the Golden State Warriors").
ENTITY_LABELS: dict[AnswerKind, frozenset[str]] = {
    "person": frozenset({"PERSON", "ORG", "NORP"}),
    "number": frozenset({"CARDINAL", "QUANTITY", "MONEY", "PERCENT", "DATE", "TIME", "ORDINAL"}),
    "date": frozenset({"DATE", "TIME", "EVENT"}),
    "place": frozenset({"GPE", "LOC", "FAC", "NORP"}),
    "organisation": frozenset({"ORG", "PERSON", "PRODUCT", "NORP", "GPE", "FAC"}),
    "title": frozenset({"WORK_OF_ART", "ORG", "PRODUCT", "PERSON", "EVENT", "FAC", "LAW"}),
    # "Which menu item ...?": some named thing, of a kind the question does not say.
    "name": frozenset({"PERSON", "ORG", "NORP", "GPE", "LOC", "FAC", "PRODUCT", "EVENT", "WORK_OF_ART", "LAW"}),
    "thing": frozenset(),
}

_NUMBER_Q = re.compile(
    r"\bhow (many|much|long|old|far|high|tall|big|large|fast|often)\b"
    r"|\bwhat (percentage|percent|share|number|age|amount|sum|price|cost|rate|proportion|fraction|size)\b"
    r"|\b(by )?how much\b",
    re.IGNORECASE,
)
_DATE_Q = re.compile(r"\bwhen\b|\b(what|which) (year|day|date|month|time)\b", re.IGNORECASE)
_PLACE_Q = re.compile(r"\bwhere\b", re.IGNORECASE)
_PERSON_Q = re.compile(r"\b(who|whom|whose)\b", re.IGNORECASE)
_WHICH = re.compile(r"\b(?:which|what)\s+((?:[\w'-]+\s*){1,4})", re.IGNORECASE)
# Words that end the noun phrase after "which": "Which tennis star | pulled out ...".
_PHRASE_END = frozenset(
    "is are was were has have had did does do will would could can should to of in on at for by from "
    "that who which with about after before during as".split()
)

_HEAD_KIND: dict[str, AnswerKind] = {}
for _kind, _words in (
    ("place", "country nation city state region province island continent town capital county village "
              "territory neighborhood area location venue port border airport destination"),
    ("organisation", "company firm brand team organization organisation agency group network party league "
                     "club retailer airline bank automaker carrier maker chain startup giant manufacturer "
                     "outlet newspaper publication university school college court committee union "
                     "institution department ministry government service platform app website streamer "
                     "studio label store restaurant business corporation conglomerate nonprofit charity"),
    ("title", "show film movie book series song album game novel documentary play musical podcast "
              "franchise sitcom drama episode title word term phrase name nickname slogan dish product "
              "car vehicle phone device drug vaccine law bill act treaty program programme award prize"),
    ("person", "person man woman star actor actress singer rapper player athlete president leader ceo "
               "senator governor minister official celebrity musician artist author writer director "
               "founder executive chef judge host comedian politician candidate lawmaker billionaire "
               "entrepreneur coach quarterback pitcher golfer boxer champion king queen prince princess "
               "pope justice mayor rep representative secretary spokesperson journalist anchor influencer "
               "model designer scientist doctor astronaut pilot suspect victim general commander "
               "monarch chancellor premier legend icon figure member owner winner"),
    ("number", "percentage percent number amount age price cost rate total figure count tally share"),
    ("date", "year day date month decade century season"),
):
    for _w in _words.split():
        _HEAD_KIND[_w] = _kind  # type: ignore[assignment]


def answer_kind(question: str) -> AnswerKind:
    """The kind of thing ``question`` asks for ("thing" when it does not say)."""
    if _NUMBER_Q.search(question):
        return "number"
    if _DATE_Q.search(question):
        return "date"
    for m in _WHICH.finditer(question):
        # "Which wildly popular show was ...": the head noun ends the noun phrase
        # after "which", so the last known noun before a verb or preposition wins.
        found: AnswerKind | None = None
        for w in m.group(1).lower().split():
            if w in _PHRASE_END:
                break
            w = w.removesuffix("'s")
            w = w if w in _HEAD_KIND else w.removesuffix("s")
            if w in _HEAD_KIND:
                found = _HEAD_KIND[w]
        if found is not None:
            return found
    if _PLACE_Q.search(question):
        return "place"
    if _PERSON_Q.search(question):
        return "person"
    if _WHICH_NOUN.search(question):
        return "name"
    return "thing"


# "Which menu item", "what new rule": a noun after which/what (not "what is", "what happened").
_WHICH_NOUN = re.compile(
    r"\bwhich\b(?! of)|\bwhat (?!(is|are|was|were|did|does|do|has|have|had|will|would|could|can|should|happened|"
    r"caused|made|led|if|about|else|kind|type|sort)\b)[a-z]+\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class TimeFrame:
    """The days a question is about (both ends included)."""

    start: date
    end: date

    def holds(self, day: date) -> bool:
        """Is ``day`` inside the frame?"""
        return self.start <= day <= self.end

    def distance(self, day: date) -> int:
        """Days from the frame to ``day`` (0 inside it)."""
        if day < self.start:
            return (self.start - day).days
        if day > self.end:
            return (day - self.end).days
        return 0


_YEAR = re.compile(r"\b(?:in|of|during|since|for)\s+((?:19|20)\d\d)\b", re.IGNORECASE)
_RELATIVE: tuple[tuple[re.Pattern[str], int], ...] = (
    (re.compile(r"\b(today|yesterday|tonight|this morning)\b", re.IGNORECASE), 2),
    (re.compile(r"\b(this|last|past|previous) week(end)?\b|\bdays? ago\b|\bthis past\b", re.IGNORECASE), 8),
    (re.compile(r"\b(recent(ly)?|latest|newly|just|now|currently|this year's)\b", re.IGNORECASE), 14),
    (re.compile(r"\b(this|last|past|previous) month\b|\bweeks ago\b", re.IGNORECASE), 35),
)
# A dated question with no time word is about the week before its date, as
# news quizzes and chat users mean it: the default frame.
DEFAULT_DAYS = 8


def time_frame(question: str, reference: date | None) -> TimeFrame | None:
    """The days ``question`` is about, read against ``reference``; None without a reference date."""
    m = _YEAR.search(question)
    if m:
        year = int(m.group(1))
        end = date(year, 12, 31)
        if reference is not None:
            end = min(end, reference)
        return TimeFrame(date(year, 1, 1), end)
    if reference is None:
        return None
    for pattern, days in _RELATIVE:
        if pattern.search(question):
            return TimeFrame(reference - timedelta(days=days), reference + timedelta(days=1))
    return TimeFrame(reference - timedelta(days=DEFAULT_DAYS), reference + timedelta(days=1))
