"""The chat's HTML: markers link to their passages, text is escaped, supporting spans marked."""

from __future__ import annotations

from rag.types import Answer, Citation, Passage, SentenceVerdict, Support
from ui.render import answer_html, panel_html, passages_html

HOSTILE = "<script>alert(1)</script> Officials said 22 militants were killed."


def _answer(text: str = "22 militants were killed [1].", status: str = "answered") -> Answer:
    passage = Passage(1, "a:0", HOSTILE, "a", "https://news.example/a", "Title <b>", "Outlet", "2026-02-04",
                      0, len(HOSTILE), 0.9)
    start = HOSTILE.index("Officials")
    cited = status == "answered"
    return Answer(
        question="How many <militants>?",
        standalone_question="How many militants?",
        text=text,
        status=status,  # type: ignore[arg-type]
        sentences=(
            SentenceVerdict("22 militants were killed [1].", "supported", (1,), (Support(1, start, len(HOSTILE), 0.9),)),
            SentenceVerdict("The army lost 5 <men> [1].", "unsupported", (1,), (), "number 5 not in passage"),
        ),
        citations=(Citation(1, passage, ((start, len(HOSTILE)),)),) if cited else (),
        passages=(passage,),
        generator="extractive",
        timings={"total_ms": 120.0},
    )


def test_markers_link_to_the_passage_of_their_turn() -> None:
    html = answer_html(_answer(), turn=3)
    assert '<a class="rag-cite" href="#rag-c-3-1" title="Title &lt;b&gt;">[1]</a>' in html
    panel = passages_html(_answer(), turn=3)
    assert 'id="rag-c-3-1"' in panel and 'href="https://news.example/a#:~:text=' in panel


def test_everything_is_escaped_and_the_span_marked() -> None:
    panel = passages_html(_answer(), 0)
    assert "<script>" not in panel and "&lt;script&gt;" in panel
    assert "<mark>Officials said 22 militants were killed.</mark>" in panel
    assert "&lt;militants&gt;" in panel and "Outlet · 2026-02-04" in panel


def test_removed_sentences_are_visibly_marked() -> None:
    html = answer_html(_answer(), 0)
    assert "1 sentence removed" in html and "<s>The army lost 5 &lt;men&gt; [1].</s>" in html
    assert "number 5 not in passage" in html and "Answered by extractive · 0.1 s" in html


def test_refusal_lists_closest_passages_unmarked() -> None:
    refusal = _answer("The articles do not say.", status="refused")
    assert "Closest passages" in answer_html(refusal, 0)
    panel = passages_html(refusal, 0)
    assert "do not answer the question" in panel and "<mark>" not in panel


def test_panel_keeps_turn_numbers_across_failed_turns() -> None:
    panel = panel_html([_answer(), None, _answer()])
    assert 'id="rag-c-0-1"' in panel and 'id="rag-c-2-1"' in panel and "rag-c-1-" not in panel
    assert panel.index("rag-c-2-1") < panel.index("rag-c-0-1")  # newest first
    assert panel.count("<details open>") == 1
    assert "appear here" in panel_html([])


def test_only_web_links_become_links() -> None:
    import dataclasses

    answer = _answer()
    hostile = dataclasses.replace(answer.passages[0], url="javascript:alert(1)")
    bad = dataclasses.replace(answer, citations=(Citation(1, hostile, ((0, 5),)),))
    panel = passages_html(bad, 0)
    assert "javascript:" not in panel and "<a " not in panel


def test_a_kept_conversation_that_cannot_be_read_is_dropped() -> None:
    from ui.chat import _restored

    assert _restored(None) == ([], [])
    assert _restored({"messages": [{"role": "user", "content": "q"}], "answers": [{"question": "q"}]}) == ([], [])
    assert _restored({"messages": [{"role": "user", "content": "q"}], "answers": []}) == ([], [])
