"""Citation verification on hand-made cases."""

from __future__ import annotations

from rag.types import Passage
from rag.verify import LexicalJudge, split_claim, verify

P1 = ("Officials said the operation was launched after militants carried out attacks on Saturday. "
      "Security forces killed 22 more militants in Balochistan, raising the death toll to 177.")
P2 = "Defence minister Khawaja Asif said on Monday that more troops were needed in the province."
P3 = "The football season ended with a record crowd of 90,000 at the final in London."


def passages() -> list[Passage]:
    return [
        Passage(i, f"c{i}", t, f"a{i}", f"https://n.example/{i}", f"T{i}", "n.example", "2026-02-04", 0, len(t), 0.1)
        for i, t in enumerate([P1, P2, P3], start=1)
    ]


J = LexicalJudge()


def test_judge_accepts_support_and_rejects_changed_facts() -> None:
    assert J.judge("Security forces killed 22 more militants in Balochistan.", P1).supported
    assert J.judge("The death toll in Balochistan rose to 177.", P1).supported
    assert not J.judge("Security forces killed 23 more militants in Balochistan.", P1).supported
    assert not J.judge("Security forces killed twenty more militants in Balochistan.", P1).supported
    assert not J.judge("Afghan forces killed 22 more militants in Balochistan.", P1).supported
    assert not J.judge("Security forces did not kill militants in Balochistan.", P1).supported
    assert not J.judge("The football final drew a record crowd.", P1).supported


def test_judge_reports_the_supporting_sentence_span() -> None:
    j = J.judge("Security forces killed 22 more militants.", P1)
    assert P1[j.span[0]:j.span[1]].startswith("Security forces killed 22")


def test_split_claim() -> None:
    assert split_claim("Troops were sent [2][3].") == ("Troops were sent.", (2, 3))
    assert split_claim("Troops were sent [2, 3] and more [2].") == ("Troops were sent and more.", (2, 3))


def test_verify_keeps_supported_reattaches_and_drops() -> None:
    answer = ("Security forces killed 22 more militants in Balochistan [1]. "
              "Khawaja Asif said more troops were needed [1]. "  # wrong citation: P2 supports it
              "A record crowd of 90,000 attended [7]. "  # out of range: P3 supports it
              "The minister resigned on Tuesday [2]. "  # supported by nothing
              "Here is what I found.")
    v = verify(answer, passages(), J)
    statuses = [(s.status, s.citations) for s in v.sentences]
    assert statuses == [("supported", (1,)), ("reattached", (2,)), ("reattached", (3,)), ("unsupported", (2,))]
    assert v.text == ("Security forces killed 22 more militants in Balochistan [1]. "
                      "Khawaja Asif said more troops were needed [2]. A record crowd of 90,000 attended [3].")
    assert "resigned" not in v.text
    assert [c.n for c in v.citations] == [1, 2, 3]
    span = v.citations[0].spans[0]
    assert P1[span[0]:span[1]].startswith("Security forces killed 22")
    assert v.citations[0].deep_link.startswith("https://n.example/1#:~:text=Security%20forces")


def test_verify_checks_the_stated_date() -> None:
    ok = verify("As of 4 Feb 2026, security forces killed 22 more militants [1].", passages(), J)
    assert ok.sentences[0].status == "supported"
    wrong = verify("As of 5 Mar 2026, security forces killed 22 more militants [1].", passages(), J)
    assert wrong.sentences[0].status == "unsupported" and wrong.text == ""


def test_combined_citations_support_what_neither_does_alone() -> None:
    v = verify("Khawaja Asif said more troops were needed after militants carried out attacks on Saturday [1][2].",
               passages(), J)
    assert v.sentences[0].status == "supported" and v.sentences[0].citations == (1, 2)


def test_answer_with_no_claims_is_empty() -> None:
    v = verify("Sure. Here you go.", passages(), J)
    assert v.text == "" and v.sentences == ()


def test_a_marker_and_full_stop_end_a_sentence_the_splitter_would_run_on() -> None:
    # A chunk cut mid-sentence starts in lower case; a widget line starts with a symbol.
    cut = "more troops were needed in the province, the defence minister said on Monday."
    text = P1 + " " + cut
    ps = [Passage(1, "c1", text, "a1", "", "T", "s", "2026-02-04", 0, len(text), 0.1)]
    answer = f"Security forces killed 22 more militants in Balochistan [1]. {cut[:-1]} [1]."
    v = verify(answer, ps, J)
    assert [s.status for s in v.sentences] == ["supported", "supported"]
    assert v.text == answer
