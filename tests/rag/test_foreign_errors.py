"""No error of a library we call escapes untranslated: every exception class that openai,
chromadb and httpx define becomes one of ours (a RagError naming the server, store or URL)
in the one module that uses the library (rag/openai_client.py, rag/store.py, index/web.py)."""

from __future__ import annotations

import inspect
from pathlib import Path

import chromadb.errors
import httpx
import openai
import pytest

from index.web import Fetcher
from rag.errors import BackendError, InputError, RagError
from rag.openai_client import mapped_errors
from rag.settings import Settings, load_settings
from rag.store import store_errors


def _classes(module: object, base: type[BaseException]) -> list[type[BaseException]]:
    found = {cls for _, cls in inspect.getmembers(module, inspect.isclass) if issubclass(cls, base)}
    return sorted(found, key=lambda c: c.__name__)


def _instance(cls: type[BaseException]) -> BaseException:
    # The libraries' constructors differ (responses, bodies, requests): make one without them.
    exc = cls.__new__(cls)
    Exception.__init__(exc, "boom")
    request = httpx.Request("GET", "http://example.test/")
    for name, value in {"message": "boom", "status_code": 599, "body": None, "request": request,
                        "response": httpx.Response(599, request=request), "code": None, "param": None}.items():
        try:
            setattr(exc, name, value)
        except AttributeError:
            pass
    return exc


OPENAI = _classes(openai, openai.OpenAIError)
CHROMA = [c for c in _classes(chromadb.errors, chromadb.errors.ChromaError) if c is not chromadb.errors.NotFoundError]
HTTPX = _classes(httpx, httpx.HTTPError)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(data_dir=tmp_path, openai_base_url="http://llm.test/v1")


def test_the_lists_are_not_empty() -> None:
    assert len(OPENAI) >= 10 and len(CHROMA) >= 10 and len(HTTPX) >= 15


@pytest.mark.parametrize("embeddings", [False, True], ids=["llm", "embeddings"])
@pytest.mark.parametrize("cls", OPENAI, ids=lambda c: c.__name__)
def test_every_openai_error_becomes_ours(cls: type[BaseException], embeddings: bool, settings: Settings) -> None:
    with pytest.raises(RagError, match="llm.test") as caught:
        with mapped_errors(settings, embeddings=embeddings):
            raise _instance(cls)
    assert isinstance(caught.value.__cause__, cls)


@pytest.mark.parametrize("cls", CHROMA, ids=lambda c: c.__name__)
def test_every_chroma_error_becomes_ours(cls: type[BaseException], settings: Settings) -> None:
    # NotFoundError is left out: the store turns it into IndexNotFound where a corpus is opened
    # (tests/index/test_ingest.py), the one place it means something.
    with pytest.raises(BackendError, match="Chroma store failed"):
        with store_errors(settings):
            raise _instance(cls)


@pytest.mark.parametrize("cls", HTTPX, ids=lambda c: c.__name__)
def test_every_httpx_error_becomes_an_input_error_naming_the_url(cls: type[BaseException], settings: Settings) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise _instance(cls)

    fetcher = Fetcher(settings.model_copy(update={"fetch_private_hosts": True, "fetch_delay": 0}),
                      client=httpx.Client(transport=httpx.MockTransport(fail)))
    url = "http://news.test/a/one.html"
    with pytest.raises(InputError) as caught:
        fetcher.fetch(url, accept=("text/html",))
    assert caught.value.path in (url, "http://news.test/robots.txt")
