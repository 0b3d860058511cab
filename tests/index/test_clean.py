"""Boilerplate cleaning: page chrome and template lines go, reporting stays."""

from __future__ import annotations

from index.clean import BoilerplateCleaner, is_chrome


def test_chrome_lines_are_recognised() -> None:
    for line in [
        "Video player was slow to load content Video content never loaded Ad froze or did not finish loading",
        "Sign up for our morning newsletter here",
        "SPORTS NEWSLETTER:Sign up now for daily updates sent to your inbox",
        "Follow Jane Doe on Twitter: @janedoe",
        "Contact John Roe at jroe@example.com.",
        "Advertisement",
        "Read More",
        "© 2022 Example Media. All rights reserved.",
        "Subscribe to our print edition here.",
    ]:
        assert is_chrome(line), line


def test_reporting_is_not_chrome() -> None:
    for line in [
        "More than 2 million people signed up for health insurance this year.",
        "Netflix lost 200,000 subscribers in the first quarter, the company said.",
        "Visitors must download the health app prior to arrival.",
        "The senator said she would follow the committee's advice.",
        # A long paragraph that mentions a newsletter is reporting, not a call to action.
        "The company, which started as an email newsletter in 2015 and now employs 40 reporters, "
        "said on Monday that subscribers would be asked to sign up again after a data breach "
        "exposed the addresses of about 90,000 readers, according to a statement released by its founder.",
    ]:
        assert not is_chrome(line), line


TOPICS = ["budget", "flooding", "elections", "vaccines", "tariffs", "wildfires", "transit", "housing"]


def _story(i: int, extra: list[str]) -> str:
    topic = TOPICS[i]
    lines = [f"Story opening paragraph about the {topic} debate with fresh details."]
    lines += extra
    lines += [f"Closing remarks on {topic} from the officials involved in the matter."]
    return "\n\n".join(lines)


TEMPLATE = "This content partner offers financial news and commentary produced independently of us."


def test_template_lines_in_unrelated_articles_are_removed() -> None:
    texts = [_story(i, [TEMPLATE]) for i in range(5)]
    cleaner = BoilerplateCleaner(min_articles=4).fit(texts)
    cleaned = cleaner.clean(texts[0])
    assert TEMPLATE not in cleaned
    assert "budget debate" in cleaned and "Closing remarks on budget" in cleaned
    assert "\n\n\n" not in cleaned
    assert cleaner.report.lines["template"] == 1


def test_multi_line_template_block_is_removed() -> None:
    block = [f"Consent notice line {w} explains how your data is used and stored." for w in "abcdef"]
    texts = [_story(i, block) for i in range(5)]
    cleaned = BoilerplateCleaner(min_articles=4).fit(texts).clean(texts[2])
    assert "Consent notice" not in cleaned


def test_syndicated_story_keeps_its_shared_paragraphs() -> None:
    shared = [f"Shared reporting paragraph {j} on the flood response in the valley." for j in range(4)]
    # The same story under four URLs: repeated lines with the same neighbours.
    texts = ["\n\n".join(["Intro of the wire story."] + shared + ["End of the wire story."]) for _ in range(4)]
    texts += [_story(i, []) for i in range(3)]
    cleaned = BoilerplateCleaner(min_articles=4).fit(texts).clean(texts[0])
    assert all(p in cleaned for p in shared)


def test_short_repeated_lines_such_as_list_labels_are_kept() -> None:
    texts = [_story(i, ["Ohio", "Most popular name: Liam"]) for i in range(6)]
    cleaned = BoilerplateCleaner(min_articles=4).fit(texts).clean(texts[0])
    assert "Ohio" in cleaned


def test_clean_without_boilerplate_returns_text_unchanged() -> None:
    text = "Line one.\n\n\n\nLine two."
    assert BoilerplateCleaner().fit([text]).clean(text) == text
