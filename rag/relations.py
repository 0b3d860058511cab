"""A support judge that reads relations, not only words.

The lexical judge (:class:`rag.verify.LexicalJudge`) checks that a claim's
numbers, names and most content words stand in the passage, close together.
That misses what language models get wrong most often while reusing the
passage's own words: who did what to whom, which number belongs to which
thing, a reversed direction ("rose" for "fell"), and a plan or an accusation
told as a deed ("convicted" for "charged", "suspended" for "called on Congress
to suspend"). :class:`RelationJudge` runs the lexical judge first (fast, and
the span it finds is the passage's sentences that match the claim) and then
compares the dependency parses of the claim and of those sentences (spaCy,
:mod:`rag.nlp`):

* **roles**: a verb the two share must not have its subject and object
  swapped (passives and relative clauses resolved);
* **values**: a number, date or place that stands in both must hang on the
  same word (a noun or verb) in both, when the passage hangs it elsewhere and
  gives the claim's word another value;
* **polarity**: a claim word whose opposite stands in the passage's matching
  sentences, and not the word itself (a curated list of the opposites news
  turns on: rise/fall, win/lose, approve/reject, more/fewer, ...), or a
  negation on one side of a shared verb or noun only;
* **modality and attribution**: a verb the passage only plans, expects,
  proposes, alleges or puts under "could"/"would" must not be asserted as
  done; a stronger verb must not replace a weaker one ("convicted" for
  "charged"); who said something must be who the passage says said it.

Every check names what differs, in words a reader understands ("the passage
says 'drop', not 'rise'"), and each was kept only where it catches more wrong
claims than it loses right ones on the labelled fixture (README).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rag.nlp import parse, parse_many
from rag.verify import Judgement, LexicalJudge, SupportJudge

_SUBJ = {"nsubj", "csubj", "expl"}
_PASSIVE_SUBJ = {"nsubjpass", "csubjpass"}
_OBJ = {"dobj", "obj", "attr", "oprd", "dative"}
_CONTENT_POS = {"NOUN", "PROPN", "NUM", "ADJ"}
_REPORTING = frozenset(
    "say tell claim state add note argue announce write warn insist explain report confirm deny "
    "accuse allege testify acknowledge admit".split()
)
# Verbs that attribute words to a speaker ("add", "report", "note" often report events).
_SPEECH = frozenset("say tell claim state argue announce write warn insist explain testify acknowledge admit".split())
_LIGHT_VERBS = frozenset("be have do get make go take become".split())
# Verbs whose complement is not (yet) a fact: "plans to suspend", "called on
# Congress to suspend", "is expected to rise".
_UNREALISED = frozenset(
    "plan expect aim propose want seek threaten hope try intend consider call urge vow pledge promise "
    "prepare set push ask demand suggest allege predict forecast project schedule weigh mull".split()
)
# "Will" is left out: news states decided future events with it ("the ban will be
# suspended from Saturday"), and a claim in the past tense about them is a tense
# slip, not an invented deed.
_MODALS = frozenset("could may might would should".split())
_HEDGES = frozenset("allegedly possibly potentially".split())

# Opposites news turns on (lemmas). A claim using one where the passage's
# matching sentences use the other, and not the claim's word, reverses it.
_OPPOSITES: tuple[tuple[str, str], ...] = tuple(
    tuple(pair.split("/"))  # type: ignore[misc]
    for pair in """rise/fall rise/drop rise/decline rise/slip rise/sink increase/decrease increase/decline
    increase/drop increase/fall increase/cut increase/reduce increase/lower raise/lower raise/cut
    raise/reduce grow/shrink grow/decline expand/shrink expand/contract gain/lose gain/loss win/lose
    win/loss victory/defeat beat/lose more/fewer more/less most/least higher/lower high/low up/down
    above/below over/under approve/reject accept/reject accept/decline pass/fail pass/reject
    succeed/fail success/failure allow/ban allow/prohibit allow/block permit/ban permit/prohibit
    legal/illegal lift/impose ease/tighten loosen/tighten relax/tighten open/close open/shut
    start/end begin/end start/stop start/finish begin/finish launch/end hire/fire hire/lay buy/sell
    import/export support/oppose favor/oppose agree/disagree confirm/deny include/exclude join/leave
    enter/leave enter/exit before/after first/last last/next early/late
    earlier/later past/future largest/smallest biggest/smallest best/worst strong/weak
    strengthen/weaken surge/plunge surge/slump jump/plunge jump/drop jump/fall soar/plunge soar/plummet
    rise/plunge rise/plummet boost/cut boost/reduce add/remove add/cut add/lose acquit/convict
    guilty/innocent positive/negative majority/minority profit/loss surplus/deficit
    north/south east/west northern/southern eastern/western inside/outside domestic/foreign
    public/private young/old new/old cheap/expensive rich/poor long/short wide/narrow fast/slow
    hot/cold wet/dry heavy/light many/few few/large few/massive more/less several/zero some/zero any/zero likely/unlikely
    possible/impossible able/unable concede/refuse agree/refuse accept/refuse win/trail lead/trail
    ahead/behind maximum/minimum minimum/maximum full/empty full/partial permanent/temporary
    increase/slow rise/slow higher/slower upward/downward upward/down rising/falling
    gain/drop gain/fall gain/decline""".split()
)
_OPPOSITE: dict[str, frozenset[str]] = {}
for _a, _b in _OPPOSITES:
    _OPPOSITE[_a] = _OPPOSITE.get(_a, frozenset()) | {_b}
    _OPPOSITE[_b] = _OPPOSITE.get(_b, frozenset()) | {_a}

# A verb that claims more than the passage's: (claimed, what the passage says).
_STRONGER: frozenset[tuple[str, str]] = frozenset(
    tuple(pair.split(">"))  # type: ignore[misc]
    for pair in """convict>charge convict>accuse convict>indict convict>arrest convict>try sentence>charge
    sentence>convict prove>suggest prove>indicate prove>show confirm>suggest confirm>report confirm>claim
    approve>propose approve>consider approve>debate pass>propose pass>introduce pass>debate
    sign>propose sign>support sign>back kill>injure kill>wound kill>attack die>injure die>hospitalize
    ban>restrict ban>limit ban>consider ban>propose win>nominate win>lead win>contest arrest>question
    arrest>identify arrest>seek find>search complete>begin complete>start finish>begin finish>start
    end>pause end>suspend resign>consider cancel>delay cancel>postpone cancel>suspend""".split()
)

_NUMBER_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "dozen": 12, "twenty": 20, "thirty": 30,
    "forty": 40, "fifty": 50, "hundred": 100, "thousand": 1000, "million": 10**6, "billion": 10**9,
}


@dataclass(frozen=True)
class _Frame:
    """One verb of a sentence with the content words of its subject and object."""

    lemma: str
    subj: frozenset[str]
    obj: frozenset[str]
    negated: bool
    unrealised: str
    """Why the verb's event is not asserted as fact ("could", "plans to"), or ""."""
    passive: bool
    """The subject undergoes the verb ("was swept by")."""
    asserted: bool
    """A finite verb of a main or reported clause: the sentence says its event happened
    (not "to receive", "keep climbing", "demanding that ...")."""


class RelationJudge(SupportJudge):
    """The lexical judge, then checks of roles, values, polarity and modality."""

    name = "relations"

    def __init__(self, *, first: SupportJudge | None = None, checks: Iterable[str] | None = None) -> None:
        """``first``: the fast word-level pass (the lexical judge by default); ``checks``:
        the relation checks to run (all by default; the fixture report runs each alone)."""
        self.first = first or LexicalJudge(negation=False)
        self.checks = tuple(checks) if checks is not None else tuple(CHECKS)
        # First-pass judgements made by prepare(), used once by judge().
        self._prepared: dict[tuple[str, str], Judgement] = {}

    def prepare(self, pairs: Sequence[tuple[str, str]]) -> None:
        """Parse, in one batch, the claims and the passage sentences the first pass matches."""
        self._prepared = {pair: self.first.judge(*pair) for pair in dict.fromkeys(pairs)}
        texts = []
        for (claim, passage), j in self._prepared.items():
            if j.supported and not _quoted(claim, passage):
                texts += [claim, passage[j.span[0] : j.span[1]] if j.span[1] > j.span[0] else passage]
        if texts:
            parse_many(texts)

    def judge(self, claim: str, passage: str) -> Judgement:
        """Judge ``claim`` against ``passage``: the first pass, then the relation checks."""
        j = self._prepared.pop((claim, passage), None) or self.first.judge(claim, passage)
        if not j.supported or _quoted(claim, passage):
            return j  # a verbatim quote cannot misread the passage's relations
        window = passage[j.span[0] : j.span[1]] if j.span[1] > j.span[0] else passage
        problem = relation_problem(claim, window, passage, self.checks)
        if problem:
            return Judgement(False, j.score, j.span, problem)
        return j


def relation_problem(claim: str, window: str, passage: str, checks: Iterable[str] | None = None) -> str:
    """Why ``claim`` misreads ``window`` (the passage sentences that match it), or "".
    ``checks`` names the checks to run (all of :data:`CHECKS` by default)."""
    # Checks take texts and look parses up by text: a Doc's own .text joins its
    # tokens anew on every call, which cost more than the checks. The whole passage
    # is parsed only when a check needs it (a speaker named outside the matching
    # sentences): parsing is most of the judge's cost.
    pdoc = _PassageText(passage)
    for name in checks if checks is not None else CHECKS:
        problem = CHECKS[name](claim, window, pdoc)
        if problem:
            return problem
    return ""


class _PassageText:
    """A passage's text, and its lower case for word look-ups."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.lower = text.lower()


def _quoted(claim: str, passage: str) -> bool:
    squash = lambda t: re.sub(r"\s+", " ", t).strip().rstrip(".!?").lower()  # noqa: E731
    return squash(claim) in squash(passage)


# --- frames -----------------------------------------------------------------


def _words(tok: object) -> frozenset[str]:
    """Content lemmas of a token's phrase: its subtree without the clauses of its own
    ("the BLA, which protects smugglers" is the BLA, not the smugglers)."""
    out = set()
    stack = [tok]
    while stack:
        t = stack.pop()
        if t.pos_ in _CONTENT_POS and not t.is_stop:  # type: ignore[attr-defined]
            out.add(t.lemma_.lower())  # type: ignore[attr-defined]
        stack += [c for c in t.children if c.dep_ not in _OWN_CLAUSE]  # type: ignore[attr-defined]
    return frozenset(out)


_OWN_CLAUSE = frozenset({"relcl", "acl", "advcl", "ccomp", "xcomp", "conj", "cc", "punct"})


@functools.lru_cache(maxsize=4096)
def _frames(text: str) -> list[_Frame]:
    doc = parse(text)
    frames = []
    for tok in doc:  # type: ignore[attr-defined]
        if tok.pos_ not in ("VERB", "AUX") or tok.lemma_.lower() in _LIGHT_VERBS and tok.pos_ == "AUX":
            continue
        subj: frozenset[str] = frozenset()
        obj: frozenset[str] = frozenset()
        for child in tok.children:
            if child.dep_ in _SUBJ:
                subj |= _words(_antecedent(child, tok))
            elif child.dep_ in _PASSIVE_SUBJ:
                obj |= _words(_antecedent(child, tok))
            elif child.dep_ in _OBJ:
                obj |= _words(child)
            elif child.dep_ == "agent":
                for g in child.children:
                    if g.dep_ == "pobj":
                        subj |= _words(g)
        passive = any(c.dep_ in _PASSIVE_SUBJ or c.dep_ == "auxpass" for c in tok.children) or (
            # "with nearly 100 people rescued": a bare participle is passive.
            tok.tag_ == "VBN" and tok.dep_ in ("advcl", "acl", "ccomp", "pcomp")
            and not any(c.dep_ in ("aux", "auxpass") for c in tok.children)
        )
        if not subj and not obj and tok.dep_ in ("xcomp", "conj") and tok.head.pos_ in ("VERB", "AUX"):
            # "The Fed raised rates ... and is expected to": a verb with no subject of its
            # own shares its head's (as the undergoer when it is passive).
            for child in tok.head.children:
                if child.dep_ in _SUBJ:
                    shared = _words(_antecedent(child, tok.head))
                    obj, subj = (obj | shared, subj) if passive else (obj, subj | shared)
        if tok.dep_ == "relcl" and not subj:
            subj = _words(tok.head)
        if passive and subj and not obj and not any(c.dep_ == "agent" for c in tok.children):
            subj, obj = frozenset(), subj
        asserted = tok.tag_ in ("VBD", "VBZ", "VBP") or (
            tok.tag_ == "VBN" and any(c.dep_ in ("aux", "auxpass") for c in tok.children)
        )
        asserted = asserted and tok.dep_ in ("ROOT", "ccomp", "conj", "relcl", "advcl")
        frames.append(_Frame(tok.lemma_.lower(), subj, obj, _negated(tok), _unrealised(tok), passive, asserted))
    return frames


def _antecedent(subject: object, verb: object) -> object:
    """The noun a relative pronoun stands for ("the BLA, which protects ..." -> BLA)."""
    if subject.tag_ in ("WDT", "WP") and verb.dep_ == "relcl":  # type: ignore[attr-defined]
        head = verb.head  # type: ignore[attr-defined]
        # "the Baloch Liberation Army (BLA), which protects": the name, not its abbreviation.
        return head.head if head.dep_ == "appos" else head
    return subject


def _negated(tok: object) -> bool:
    for child in tok.children:  # type: ignore[attr-defined]
        if child.dep_ == "neg" or child.lower_ in ("never", "no"):
            return True
        if child.dep_ in _OBJ | _PASSIVE_SUBJ | _SUBJ:
            if any(g.lower_ in ("no", "zero", "none") and g.dep_ in ("det", "nummod") for g in child.children):
                return True
    return False


def _unrealised(tok: object) -> str:
    """Why the verb's event is only possible, planned or alleged in its sentence, or ""."""
    if tok.dep_ == "conj" and tok.head is not tok:  # type: ignore[attr-defined]
        # "said it would reduce overbooking, raise the cap ...": the list shares the modal.
        inherited = _unrealised(tok.head)  # type: ignore[attr-defined]
        if inherited:
            return inherited
    if tok.dep_ == "xcomp" and any(c.dep_ == "aux" and c.lower_ == "to" for c in tok.children):  # type: ignore[attr-defined]
        return f"{tok.head.text} ... to"  # type: ignore[attr-defined]  # "called on Congress to suspend"
    for child in tok.children:  # type: ignore[attr-defined]
        if child.dep_ == "aux" and child.lower_ in _MODALS:
            return child.lower_
        if child.dep_ == "advmod" and child.lower_ in _HEDGES:
            return child.lower_
    head = tok
    for _ in range(3):  # "is expected to", "called on Congress to", "plans to"
        if head.dep_ not in ("xcomp", "ccomp", "advcl", "acl", "pcomp", "pobj", "prep") or head.head is head:  # type: ignore[attr-defined]
            break
        head = head.head  # type: ignore[attr-defined]
        if head.lemma_.lower() in _UNREALISED:  # type: ignore[attr-defined]
            return f"{head.text} ... to"  # type: ignore[attr-defined]
    return ""


# --- checks -----------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _lemmas_of(text: str) -> frozenset[str]:
    return frozenset(t.lemma_.lower() for t in parse(text) if not t.is_punct)


def _says(passage: _PassageText, tok: object) -> bool:
    """Does the passage use the token's word (in this form or as its lemma)?"""
    for form in {tok.lower_, tok.lemma_.lower()}:  # type: ignore[attr-defined]
        if re.search(rf"\b{re.escape(form)}", passage.lower):
            return True
    return False


def _polarity(claim: str, window: str, pdoc: _PassageText) -> str:
    wdoc = parse(window)
    for tok in parse(claim):
        lemma = tok.lemma_.lower()
        if lemma not in _OPPOSITE or _says(pdoc, tok):
            continue
        around = _around(tok)
        for other in wdoc:
            # The opposite must say something of the same thing: a word they share
            # beside them ("energy costs rise" / "a drop in energy costs").
            if other.lemma_.lower() in _OPPOSITE[lemma] and around & _around(other):
                return f"the passage says '{other.text}', not '{tok.text}'"
    # A negation on one side only of a verb both share ("had no symptoms" / "showed symptoms").
    wframes = _frames(window)
    for cf in _frames(claim):
        if cf.unrealised:
            continue  # "may not attend": a modal claim is not a plain negation
        same = [wf for wf in wframes if wf.lemma == cf.lemma and (wf.obj & cf.obj or wf.subj & cf.subj)]
        if same and all(wf.negated != cf.negated for wf in same):
            verb = cf.lemma
            return f"the passage says it did {'' if cf.negated else 'not '}{verb}" if cf.lemma not in _LIGHT_VERBS \
                else "negation differs from the passage"
    return ""


def _around(tok: object) -> frozenset[str]:
    """Content lemmas of the words a token hangs on or that hang on it (two steps, and
    through a preposition: "large numbers of troops")."""
    near = [tok.head, *tok.children]  # type: ignore[attr-defined]
    near += [g for t in list(near) for g in t.children if g is not tok]
    near += [g for t in list(near) if t.dep_ == "prep" for g in t.children]
    near += [tok.head.head]  # type: ignore[attr-defined]
    return frozenset(t.lemma_.lower() for t in near if t is not tok and t.pos_ in _CONTENT_POS | {"VERB"} and not t.is_stop)


def _roles(claim: str, window: str, pdoc: _PassageText) -> str:
    """Who does what to whom: a verb both use must not have its doer and undergoer swapped."""
    wframes = _frames(window)
    for cf in _frames(claim):
        if cf.lemma in _REPORTING or not (cf.subj or cf.obj):
            continue
        same = [wf for wf in wframes if wf.lemma == cf.lemma and (wf.subj or wf.obj)]
        if not same or any(cf.subj & wf.subj or cf.obj & wf.obj for wf in same):
            continue  # the passage has the claim's doer (or undergoer) in its place
        for wf in same:
            # The claim's doer undergoes it in the passage ("Edmonton swept the Jets" /
            # "Edmonton was swept by the Jets"), or its undergoer does it.
            if (cf.subj & wf.obj and (wf.subj or wf.passive)) or (cf.obj & wf.subj):
                doer = _phrase(wf.subj) if wf.subj else "someone else"
                return f"in the passage {doer} is the one who does '{cf.lemma}', not the other way round"
    return ""


def _modality(claim: str, window: str, pdoc: _PassageText) -> str:
    wframes = _frames(window)
    window_lemmas = _lemmas_of(window)
    for cf in _frames(claim):
        if not cf.asserted or cf.unrealised or cf.lemma in _LIGHT_VERBS or cf.lemma in _REPORTING:
            continue
        same = [wf for wf in wframes if wf.lemma == cf.lemma]
        if same and all(wf.unrealised for wf in same):
            return f"the passage says only '{same[0].unrealised} {cf.lemma}', not that it happened"
        if not same:
            weaker = [w for (s, w) in _STRONGER if s == cf.lemma and w in window_lemmas]
            if weaker:
                return f"the passage says '{weaker[0]}', not '{cf.lemma}'"
    return ""


def _values(claim: str, window: str, pdoc: _PassageText) -> str:
    """A number must count the same thing in claim and passage: flagged when the
    passage puts the claim's number on other words and the claim's word on another
    number ("killed 177 militants" where 22 were killed and 177 is the toll)."""
    passage_values = _value_anchors(window)
    if not passage_values:
        return ""
    claim_values = _value_anchors(claim)
    for value, anchors in claim_values.items():
        there = passage_values.get(value)
        if not there or not anchors or anchors & there:
            continue
        # A word the passage gives another number that the claim does not also give it
        # ("two days" in both is no clash for "177 over two days").
        clash = {
            a for other, words in passage_values.items() if other != value
            for a in words & anchors if a not in claim_values.get(other, frozenset())
        }
        if clash:
            return f"the passage gives {value} for {_phrase(there)}, not for {_phrase(clash)}"
    return ""


@functools.lru_cache(maxsize=4096)
def _value_anchors(text: str) -> dict[str, frozenset[str]]:
    """Each number with the words it counts: the noun it modifies, or the verb its
    phrase hangs on with that verb's subject and object."""
    doc = parse(text)
    out: dict[str, set[str]] = {}
    for phrase in _number_phrases(doc):
        key = _value_key(" ".join(t.text for t in phrase))
        if not key:
            continue
        anchors: set[str] = set()
        inside = {t.i for t in phrase}
        head = phrase[-1]
        for _ in range(4):
            if head.head is head:
                break
            head = head.head
            if head.i in inside or head.is_stop or head.lemma_.lower() in _LIGHT_VERBS:
                continue
            if head.pos_ in ("NOUN", "PROPN"):
                anchors.add(head.lemma_.lower())
                if head.dep_ in _SUBJ | _PASSIVE_SUBJ | _OBJ and head.head.pos_ == "VERB":
                    anchors.add(head.head.lemma_.lower())  # "killed 177 militants": the killing too
                break
            if head.pos_ == "VERB":
                anchors.add(head.lemma_.lower())
                anchors |= {c.lemma_.lower() for c in head.children
                            if c.dep_ in _SUBJ | _PASSIVE_SUBJ | _OBJ and c.pos_ in ("NOUN", "PROPN")}
                break
        out.setdefault(key, set()).update(anchors)
    return {k: frozenset(v) for k, v in out.items()}


def _number_phrases(doc: object) -> list[list[object]]:
    """Runs of number tokens with their currency and scale words ("$ 60 billion", "22")."""
    phrases: list[list[object]] = []
    for tok in doc:  # type: ignore[attr-defined]
        number = tok.tag_ == "CD" or tok.like_num
        if number and tok.text.lower() not in ("one",) and not _YEARISH.fullmatch(tok.text):
            if phrases and phrases[-1][-1].i == tok.i - 1:  # type: ignore[attr-defined]
                phrases[-1].append(tok)
            else:
                phrases.append([tok])
        elif tok.text in ("%", "percent") and phrases and phrases[-1][-1].i == tok.i - 1:  # type: ignore[attr-defined]
            phrases[-1].append(tok)
    return phrases


# Years date a claim; the time check reads them, the number check does not.
_YEARISH = re.compile(r"(?:19|20)\d\d")


def _value_key(text: str) -> str:
    t = text.lower().replace(",", "").replace("the ", "").strip()
    digits = re.findall(r"\d+(?:\.\d+)?(?:\s+(?:million|billion|trillion))?", t)
    if digits:
        return " ".join(digits)
    words = [str(_NUMBER_WORDS[w]) for w in re.findall(r"[a-z]+", t) if w in _NUMBER_WORDS]
    return " ".join(words) if words else t


def _speaker(claim: str, window: str, pdoc: _PassageText) -> str:
    """Who said it in the claim must be who said it in the passage."""
    claimed = _speakers_of(claim)
    if not claimed:
        return ""
    told = _speakers_of(window) or _speakers_of(pdoc.text)
    if not told:
        return ""
    if any(c & t for c in claimed for t in told):
        return ""
    if any(not t for t in told):
        return ""  # a pronoun speaker ("he said") could be anyone the claim names
    return f"the passage attributes it to {_phrase(sorted(told, key=len)[-1])}"


@functools.lru_cache(maxsize=4096)
def _speakers_of(text: str) -> tuple[frozenset[str], ...]:
    """Who says something in ``text``: subjects of reporting verbs, and "according to X"."""
    doc = parse(text)
    out = []
    for tok in doc:  # type: ignore[attr-defined]
        if tok.lemma_.lower() in _SPEECH and tok.pos_ == "VERB":
            for child in tok.children:
                if child.dep_ in _SUBJ:
                    out.append(_words(child))
        if tok.lower_ == "according" and tok.i + 1 < len(doc):  # type: ignore[arg-type]
            for g in doc[tok.i + 1].children:  # type: ignore[index]
                if g.dep_ == "pobj":
                    out.append(_words(g))
    return tuple(out)


CHECKS = {"polarity": _polarity, "roles": _roles, "modality": _modality, "values": _values, "speaker": _speaker}


def _phrase(words: Iterable[str]) -> str:
    return "'" + " ".join(sorted(words)) + "'"

