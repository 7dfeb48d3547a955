"""Train only the word-embedding rows that the training data uses.

A multilingual encoder's word embeddings are most of its weights (250,002 x 384 in multilingual-e5),
yet one language's training set touches a few thousand of those rows. Trained as they are, every
step still builds a dense gradient for the whole matrix, clips it and runs AdamW over it: on a CPU
that is most of a small student's step. Rows whose token never occurs get a zero gradient, so Adam
never moves them; only weight decay would (by a factor of about (1 - lr * decay) per step, under
0.1% over a run). While ``SeenRows`` is active, the model instead trains a compact copy of the used
rows and leaves the others untouched; ``restore`` writes the trained rows back into the full matrix.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn


class SeenRowsEmbedding(nn.Module):
    """An embedding whose trainable weights are the rows of ``seen_ids``; other ids read the frozen matrix.

    A state dict holds ``full.weight`` (the whole matrix, as it was) and ``rows`` (the trained rows).
    """

    def __init__(self, full: nn.Embedding, seen_ids: torch.Tensor) -> None:
        super().__init__()
        self.full = full
        full.weight.requires_grad_(False)
        self.rows = nn.Parameter(full.weight.detach()[seen_ids].clone())
        lookup = torch.full((full.num_embeddings,), -1, dtype=torch.long)
        lookup[seen_ids] = torch.arange(len(seen_ids))
        self.register_buffer("seen_ids", seen_ids, persistent=False)
        self.register_buffer("lookup", lookup, persistent=False)
        pad = full.padding_idx
        self.padding_row = int(lookup[pad]) if pad is not None and lookup[pad] >= 0 else None

    @property
    def weight(self) -> torch.Tensor:
        return self.full.weight

    @property
    def num_embeddings(self) -> int:
        return self.full.num_embeddings

    @property
    def embedding_dim(self) -> int:
        return self.full.embedding_dim

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        compact = self.lookup[input_ids]
        seen = compact >= 0
        out = F.embedding(compact.clamp(min=0), self.rows, padding_idx=self.padding_row)
        if not bool(seen.all()):  # evaluation text may hold tokens the training data never used
            out = torch.where(seen.unsqueeze(-1), out, self.full(input_ids))
        return out

    def write_back(self) -> nn.Embedding:
        """The full embedding with the trained rows in place (trainable again)."""
        with torch.no_grad():
            self.full.weight[self.seen_ids] = self.rows.detach().to(self.full.weight.dtype)
        self.full.weight.requires_grad_(True)
        return self.full


def used_token_ids(features: Iterable[dict], pad_token_id: int | None) -> torch.Tensor:
    """The sorted ids that occur in ``features``' ``input_ids`` (and the padding id, which batches add)."""
    ids = {int(i) for feature in features for i in feature["input_ids"]}
    if pad_token_id is not None:
        ids.add(int(pad_token_id))
    return torch.tensor(sorted(ids), dtype=torch.long)


def _tied(model) -> bool:
    output = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    return output is not None and output.weight is model.get_input_embeddings().weight


@contextmanager
def seen_rows_only(model, features: list[dict], pad_token_id: int | None) -> Iterator[int | None]:
    """Train ``model`` with only the embedding rows ``features`` use; yield how many rows that is.

    Yields None (and changes nothing) when the word embeddings are frozen already or tied to an output
    layer (a masked-LM head scores every token, so every row gets a gradient). On leaving, the trained
    rows are written back, also when training failed, so the model is never left half-swapped.
    """
    full = model.get_input_embeddings()
    if not isinstance(full, nn.Embedding) or not full.weight.requires_grad or _tied(model):
        yield None
        return
    seen = used_token_ids(features, pad_token_id).to(full.weight.device)
    compact = SeenRowsEmbedding(full, seen)
    model.set_input_embeddings(compact)
    try:
        yield len(seen)
    finally:
        model.set_input_embeddings(compact.write_back())
