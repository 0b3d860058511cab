"""Token-aware chunking with exact character offsets into the article text.

Uses llama-index's ``SentenceSplitter`` (cl100k tokens via tiktoken) with a
faster sentence tokenizer (:mod:`rag.sentences`). Each chunk keeps the
article's metadata and its ``start_char``/``end_char`` in the cleaned article
text, so the UI can highlight and deep-link the passage.
"""

from __future__ import annotations

from llama_index.core import Document
from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.schema import MetadataMode, TextNode

from rag.sentences import sentence_pieces
from rag.tokens import cl100k


class Chunker:
    """Split cleaned articles into overlapping, token-bounded chunks."""

    def __init__(self, *, chunk_size: int, chunk_overlap: int) -> None:
        """Sizes are in cl100k tokens."""
        self.tokenize = cl100k()
        self._splitter = SentenceSplitter(
            chunk_size=chunk_size,
            chunk_overlap=chunk_overlap,
            tokenizer=self.tokenize,
            chunking_tokenizer_fn=sentence_pieces,
            include_metadata=False,
            include_prev_next_rel=False,
        )

    def split(self, doc: Document) -> list[TextNode]:
        """Chunk one article; node ids are deterministic (article key, index)."""
        # Split a metadata-free copy: the splitter otherwise reserves room for the
        # metadata inside every chunk, though only chunk text is embedded.
        bare = Document(id_=doc.id_, text=doc.text)
        nodes = self._splitter.get_nodes_from_documents([bare])
        out: list[TextNode] = []
        cursor = 0
        for i, node in enumerate(nodes):
            text = node.get_content(metadata_mode=MetadataMode.NONE)
            start = node.start_char_idx
            if start is None or doc.text[start : start + len(text)] != text:
                # The splitter locates a chunk with str.find from the start, which
                # can pick an earlier repeat of the same text; search after the previous chunk.
                start = doc.text.find(text, cursor)
            if start < 0:
                raise ValueError(f"chunk {i} of {doc.id_} not found in its article text")
            cursor = start + 1
            meta = dict(doc.metadata)
            meta.update(
                chunk_index=i,
                n_chunks=len(nodes),
                start_char=start,
                end_char=start + len(text),
                tokens=len(self.tokenize(text)),
            )
            out.append(
                TextNode(
                    id_=f"{doc.id_}:{i}",
                    text=text,
                    metadata=meta,
                    start_char_idx=start,
                    end_char_idx=start + len(text),
                )
            )
        return out
