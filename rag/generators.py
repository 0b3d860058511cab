"""Answer generators: extractive (offline default), OpenAI-compatible, local GGUF.

A generator turns a question and numbered passages into answer text with
``[n]`` markers. Whatever it writes is verified afterwards (:mod:`rag.verify`),
so a generator is trusted for nothing.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from datetime import date
from typing import Any, ClassVar

from rag.backends import Backend, Registry
from rag.errors import BackendError, BackendUnavailable, ConfigError
from rag.openai_client import make_client, mapped_errors
from rag.reader import ANSWERABLE, Reader, Reading, adjacent
from rag.prompt import CONDENSE, REFUSAL, build_prompt
from rag.settings import Settings
from rag.types import Passage
from rag.verify import STOPWORDS, with_markers

_MAX_SENTENCES = 3
# Further sentences must rank at least this share of the best one.
_SECOND_SENTENCE = 0.5


class Generator(ABC):
    """Writes an answer from numbered passages."""

    name: ClassVar[str]

    @abstractmethod
    def stream(self, question: str, passages: Sequence[Passage], *, reference: date | None = None) -> Iterator[str]:
        """Yield the answer text in pieces as it is produced; ``reference`` is the day the
        question is asked ("this week" is the week before it)."""

    def generate(self, question: str, passages: Sequence[Passage], *, reference: date | None = None) -> str:
        """The whole answer text."""
        return "".join(self.stream(question, passages, reference=reference))

    def condense(self, question: str, history: Sequence[tuple[str, str]]) -> str | None:
        """Rewrite a follow-up into a standalone question, or None to use the offline rewrite."""
        return None


def format_date(iso: str) -> str:
    """``2026-02-04`` -> ``4 Feb 2026``."""
    d = date.fromisoformat(iso)
    return f"{d.day} {d.strftime('%b')} {d.year}"


class ExtractiveGenerator(Generator):
    """Quotes the passage sentences that answer the question, or says the articles do
    not (:mod:`rag.reader` decides both). Deterministic."""

    name = "extractive"

    def __init__(self, *, reader: Reader | None = None, answerable: float = ANSWERABLE) -> None:
        """``reader`` (with the corpus's embedder) reads the passages; ``answerable`` is
        the reader's answerability below which the answer is that the articles do not say."""
        self.reader = reader or Reader()
        self.answerable = answerable

    def stream(self, question: str, passages: Sequence[Passage], *, reference: date | None = None) -> Iterator[str]:
        """Yield one sentence at a time."""
        read = self.reader.read(question, passages, reference)
        if not read.readings or read.answerability < self.answerable:
            yield REFUSAL
            return
        best = read.readings[0]
        chosen = [best]
        if read.answer and read.answer not in best.answers:
            # The sentence that matches the question best does not name the answer
            # the passages agree on: lead with the best sentence that does.
            # (Answerability already required it to be relevant enough.)
            named = next((r for r in read.readings if read.answer in r.answers), None)
            if named is not None:
                pair = [named, best]
                chosen = sorted(pair, key=lambda r: r.sentence.start) if adjacent(named.sentence, best.sentence) else pair
        elif read.kind != "thing" and not best.holds_kind:
            # News names its subject in one sentence and says what happened in the
            # next: the sentence beside the best one may hold what it lacks.
            beside = _beside(best, read.readings)
            if beside is not None:
                chosen = sorted([best, beside], key=lambda r: r.sentence.start)
        for cand in read.readings[1:]:
            if len(chosen) >= _MAX_SENTENCES or cand.score < _SECOND_SENTENCE * best.score:
                break
            if cand in chosen or any(_overlap(cand.sentence.stems, c.sentence.stems) > 0.5 for c in chosen):
                continue
            if read.kind != "thing" and not cand.holds_kind:
                continue  # a second sentence must bring an answer, not repeat the subject
            chosen.append(cand)
        for i, r in enumerate(chosen):
            text = r.sentence.text
            if i == 0 and r.passage.published:
                text = f"As of {format_date(r.passage.published)}, {_lower_first(text)}"
            yield (" " if i else "") + with_markers(text, [r.passage.n])


def _beside(best: Reading, readings: Sequence[Reading]) -> Reading | None:
    """The sentence just before or after ``best`` in its passage that holds the kind of
    thing asked for (the one before first: a lead names, the next explains)."""
    siblings = sorted((r for r in readings if r.passage == best.passage), key=lambda r: r.sentence.start)
    at = siblings.index(best)
    for i in (at - 1, at + 1):
        if 0 <= i < len(siblings) and siblings[i].holds_kind and adjacent(siblings[i].sentence, best.sentence):
            return siblings[i]
    return None


def _overlap(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / max(1, min(len(a), len(b)))


def _lower_first(text: str) -> str:
    first, _, rest = text.partition(" ")
    if first.lower() in STOPWORDS and not first.isupper():
        return first.lower() + " " + rest
    return text


class OpenAIGenerator(Generator):
    """Any OpenAI-compatible chat API: OpenAI, vLLM, Ollama, llama.cpp's server."""

    name = "openai"

    def __init__(self, *, settings: Settings, client: Any | None = None) -> None:
        """``client`` (an ``openai.OpenAI``) may be given; else one is built from settings."""
        self.settings = settings
        if client is None:
            client = make_client(settings)
        self.client = client

    def stream(self, question: str, passages: Sequence[Passage], *, reference: date | None = None) -> Iterator[str]:
        """Stream the model's answer; passages are fitted to the context window."""
        prompt = build_prompt(
            question, passages, context_tokens=self.settings.llm_context_tokens,
            answer_tokens=self.settings.llm_max_tokens, reference=reference,
        )
        with mapped_errors(self.settings):
            chunks = self.client.chat.completions.create(
                model=self.settings.llm_model,
                messages=prompt.messages,
                max_tokens=self.settings.llm_max_tokens,
                temperature=0.0,
                stream=True,
            )
            seen = False
            for chunk in chunks:
                if not getattr(chunk, "choices", None):
                    continue
                seen = True
                delta = chunk.choices[0].delta.content
                if delta:
                    yield delta
        if not seen:
            # A proxy error page or a non-OpenAI server parses as an empty stream; without
            # this every question would silently become a refusal.
            where = self.settings.openai_base_url or "api.openai.com"
            raise BackendError(f"The LLM server at {where} sent no completion: is it OpenAI-compatible?")

    def condense(self, question: str, history: Sequence[tuple[str, str]]) -> str | None:
        """Ask the model for a standalone question (one short completion)."""
        convo = "\n".join(f"User: {q}\nAssistant: {a}" for q, a in history[-3:])
        with mapped_errors(self.settings):
            res = self.client.chat.completions.create(
                model=self.settings.llm_model,
                messages=[{"role": "user", "content": CONDENSE.format(history=convo, question=question)}],
                max_tokens=64,
                temperature=0.0,
            )
        text = (res.choices[0].message.content or "").strip().split("\n")[0].strip()
        return text or None


class LocalGenerator(OpenAIGenerator):
    """A GGUF model run in-process by llama-cpp-python (``pip install 'newsrag[local]'``)."""

    name = "local"

    def __init__(self, *, settings: Settings, client: Any | None = None) -> None:
        """Load ``llm_model_path`` with llama-cpp-python."""
        if client is None:
            try:
                from llama_cpp import Llama
            except ImportError as exc:
                raise BackendUnavailable("The local generator needs llama-cpp-python: pip install 'newsrag[local]'") from exc
            if not settings.llm_model_path:
                raise ConfigError("The local generator needs llm_model_path (a .gguf file)")
            llama = Llama(model_path=settings.llm_model_path, n_ctx=settings.llm_context_tokens, verbose=False)
            client = _LlamaAsOpenAI(llama)
        super().__init__(settings=settings, client=client)


class _LlamaAsOpenAI:
    """Adapts ``llama_cpp.Llama`` to the slice of the OpenAI client we use."""

    def __init__(self, llama: Any) -> None:
        self.chat = self
        self.completions = self
        self._llama = llama

    def create(self, *, model: str, messages: list[dict[str, str]], max_tokens: int, temperature: float,
               stream: bool = False) -> Any:
        from types import SimpleNamespace

        out = self._llama.create_chat_completion(
            messages=messages, max_tokens=max_tokens, temperature=temperature, stream=stream
        )
        if not stream:
            return SimpleNamespace(
                choices=[SimpleNamespace(message=SimpleNamespace(content=out["choices"][0]["message"]["content"]))]
            )
        return (
            SimpleNamespace(choices=[SimpleNamespace(delta=SimpleNamespace(content=c["choices"][0]["delta"].get("content")))])
            for c in out
        )


def _openai_label(settings: Settings) -> str:
    where = f"at {settings.openai_base_url}" if settings.openai_base_url else ""
    return f"openai · {settings.llm_model} {where}".strip()


GENERATORS: Registry[Generator] = Registry("generator")
"""Generators by the name the ``generator`` setting gives; factories take (settings, reader)."""
GENERATORS.register(Backend(
    "extractive", lambda settings, reader: ExtractiveGenerator(reader=reader, answerable=settings.answerable_threshold),
    describe=lambda settings: "extractive (offline)"))
GENERATORS.register(Backend(
    "openai", lambda settings, reader: OpenAIGenerator(settings=settings), key_setting="openai_api_key_env",
    describe=_openai_label))
GENERATORS.register(Backend(
    "local", lambda settings, reader: LocalGenerator(settings=settings), describe=lambda settings: "local GGUF model"))


def known_generators() -> list[str]:
    """Names a ``generator`` setting may take."""
    return GENERATORS.names()


def make_generator(settings: Settings, reader: Reader | None = None) -> Generator:
    """Build the generator the settings name; ``reader`` serves the extractive one."""
    return GENERATORS.get(settings.generator).factory(settings, reader or Reader())
