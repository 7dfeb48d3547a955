"""Tokenizer in the graph: a model variant whose input is a string tensor, for ONNX Runtime Mobile.

Built from the bundle's ``tokenizer.json`` alone (the single source of truth, trimmed or not) with
onnxruntime-extensions operators:

* XLM-R-style SentencePiece Unigram (``<s>=0 <pad>=1 </s>=2 <unk>=3``, pieces from 4, ``<mask>``
  last): a SentencePiece ``ModelProto`` is rebuilt from tokenizer.json's pieces, scores and
  precompiled normaliser (the e5-small directory has no ``sentencepiece.bpe.model``) and run by
  ``SentencepieceTokenizer`` with the fairseq id mapping. Batches of any size: the ragged token list
  is made dense, truncated to ``max_length`` with ``<s>``/``</s>`` kept, with standard ONNX ops.
* WordPiece (BERT): ``BertTokenizer`` with the vocabulary and casing of tokenizer.json; one text
  per call (the operator reads two strings as a sentence pair).

The input prefix (e5's ``"query: "``) is prepended inside the graph, so an app passes raw text.
``check_tokenizer_graph`` compares ids with tokenizer.json and outputs with the plain model on real
sentences and reports every difference; it does not hide them.
"""

from __future__ import annotations

import base64
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from edgedistill.export.errors import ExportError, TokenizerMismatch

CONTRIB = "ai.onnx.contrib"
FAIRSEQ_SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")
TEXT_INPUT = "text"
TOKEN_OFFSETS = "token_offsets"


# ------------------------------------------------------------------ SentencePiece from tokenizer.json


def _unigram_layout(data: dict) -> tuple[list, bool]:
    """The normal pieces of an XLM-R-style Unigram tokenizer.json, and whether <mask> ends the vocab."""
    model = data.get("model", {})
    if model.get("type") != "Unigram":
        raise ExportError(f"tokenizer model is {model.get('type')!r}; the SentencePiece graph needs Unigram")
    vocab = model["vocab"]
    if [piece for piece, _ in vocab[:4]] != list(FAIRSEQ_SPECIALS) or model.get("unk_id") != 3:
        raise ExportError("the Unigram tokenizer does not have XLM-R's fairseq layout "
                          "(<s>=0 <pad>=1 </s>=2 <unk>=3), so ids cannot be mapped in the graph")
    has_mask = vocab[-1][0] == "<mask>"
    others = [t["content"] for t in data.get("added_tokens", [])
              if t["content"] not in (*FAIRSEQ_SPECIALS, "<mask>")]
    if others:
        raise ExportError(f"the tokenizer has added tokens {others[:5]} that SentencePiece cannot produce")
    return vocab[4 : len(vocab) - 1 if has_mask else len(vocab)], has_mask


def _precompiled_charsmap(data: dict) -> bytes:
    normalizer = data.get("normalizer") or {}
    parts = normalizer.get("normalizers", [normalizer])
    for part in parts:
        if part.get("type") == "Precompiled":
            return base64.b64decode(part["precompiled_charsmap"])
    raise ExportError("the Unigram tokenizer has no Precompiled normaliser to rebuild SentencePiece from")


def sentencepiece_model_from_tokenizer_json(data: dict) -> bytes:
    """A serialized SentencePiece ModelProto equivalent to an XLM-R-style tokenizer.json.

    SentencePiece ids are the fairseq ids minus one (<unk>=0, <s>=1, </s>=2, pieces from 3), which
    is what ``SentencepieceTokenizer(fairseq=True)`` undoes.
    """
    from sentencepiece import sentencepiece_model_pb2 as pb

    pieces, _ = _unigram_layout(data)
    proto = pb.ModelProto()
    proto.trainer_spec.model_type = pb.TrainerSpec.UNIGRAM
    proto.trainer_spec.unk_id, proto.trainer_spec.bos_id = 0, 1
    proto.trainer_spec.eos_id, proto.trainer_spec.pad_id = 2, -1
    proto.normalizer_spec.name = "nmt_nfkc"
    proto.normalizer_spec.precompiled_charsmap = _precompiled_charsmap(data)
    proto.normalizer_spec.add_dummy_prefix = True
    proto.normalizer_spec.remove_extra_whitespaces = True
    proto.normalizer_spec.escape_whitespaces = True
    kinds = pb.ModelProto.SentencePiece
    for piece, score, kind in (("<unk>", 0.0, kinds.UNKNOWN), ("<s>", 0.0, kinds.CONTROL),
                               ("</s>", 0.0, kinds.CONTROL)):
        _add_piece(proto, piece, score, kind)
    for piece, score in pieces:
        _add_piece(proto, piece, score, kinds.NORMAL)
    proto.trainer_spec.vocab_size = len(proto.pieces)
    return proto.SerializeToString()


def _add_piece(proto, piece: str, score: float, kind) -> None:
    entry = proto.pieces.add()
    entry.piece, entry.score, entry.type = piece, score, kind


# ------------------------------------------------------------------ graph building


class _Graph:
    """A tiny builder: named constants and nodes, so the graph reads like the algorithm."""

    def __init__(self):
        self.nodes, self.initializers, self._count = [], [], 0

    def const(self, value, dtype=np.int64) -> str:
        from onnx import numpy_helper

        name = f"tok_const_{len(self.initializers)}"
        array = np.array(value, dtype=object if dtype is object else dtype)
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def op(self, op_type: str, inputs: list[str], outputs: int = 1, domain: str = "", name: str = "",
           **attrs) -> list[str]:
        from onnx import helper

        self._count += 1
        outs = [name] if name else [f"tok_{op_type.lower()}_{self._count}_{i}" for i in range(outputs)]
        self.nodes.append(helper.make_node(op_type, inputs, outs, domain=domain or None,
                                           name=f"tokenizer/{op_type}_{self._count}", **attrs))
        return outs

    def one(self, op_type: str, inputs: list[str], **kwargs) -> str:
        return self.op(op_type, inputs, **kwargs)[0]


def _prefixed_text(g: _Graph, prefix: str) -> str:
    if not prefix:
        return TEXT_INPUT
    shape = g.one("Shape", [TEXT_INPUT])
    prefixes = g.one("Expand", [g.const([prefix], object), shape])
    return g.one("StringConcat", [prefixes, TEXT_INPUT], domain=CONTRIB)


def _sentencepiece_nodes(g: _Graph, data: dict, max_length: int, prefix: str,
                         token_offsets: bool) -> tuple[str, str, str | None]:
    text = _prefixed_text(g, prefix)
    # nbest, alpha, add_bos, add_eos, reverse, fairseq (specials are placed by _dense_from_ragged)
    flags = [g.const([0]), g.const([0.0], np.float32), g.const([False], np.bool_), g.const([False], np.bool_),
             g.const([False], np.bool_), g.const([True], np.bool_)]
    tokens, splits, starts = g.op("SentencepieceTokenizer", [text, *flags], outputs=3, domain=CONTRIB,
                                  model=sentencepiece_model_from_tokenizer_json(data))
    byte_starts = g.one("Cast", [starts], to=7) if token_offsets else None
    return _dense_from_ragged(g, g.one("Cast", [tokens], to=7), splits, max_length, byte_starts)


def _dense_from_ragged(g: _Graph, tokens: str, splits: str, max_length: int,
                       byte_starts: str | None = None) -> tuple[str, str, str | None]:
    """[N, W] ids = <s> tokens[:max_length-2] </s> <pad>..., the attention mask, and optionally
    ``token_offsets``: the UTF-8 byte where each token starts in the text the tokenizer saw (prefix
    included), -1 for <s>, </s> and padding."""
    budget = g.const(max_length - 2)
    ends, starts = g.one("Slice", [splits, g.const([1]), g.const([2**62])]), \
        g.one("Slice", [splits, g.const([0]), g.const([-1])])
    lengths = g.one("Min", [g.one("Sub", [ends, starts]), budget])  # [N]
    count = g.one("Shape", [tokens])
    positions = g.one("Range", [g.const(0), g.one("Squeeze", [count, g.const([0])]), g.const(1)])  # [T]
    instance = g.one("ReduceSum", [g.one("Cast", [g.one("GreaterOrEqual", [
        g.one("Unsqueeze", [positions, g.const([1])]), g.one("Unsqueeze", [ends, g.const([0])])])], to=7),
        g.const([1])], keepdims=0)  # which text each token belongs to
    within = g.one("Sub", [positions, g.one("Gather", [starts, instance])])
    keep = g.one("Less", [within, budget])
    kept = {name: g.one("Compress", [value, keep]) for name, value in
            (("tokens", tokens), ("row", instance), ("column", g.one("Add", [within, g.const(1)])))}
    batch = g.one("Shape", [splits])
    batch = g.one("Sub", [batch, g.const([1])])
    width = g.one("Add", [g.one("ReduceMax", [lengths], keepdims=1), g.const([2])])
    shape = g.one("Concat", [batch, width], axis=0)
    pad = g.one("ConstantOfShape", [shape], value=_tensor_attr(1))
    index = g.one("Concat", [g.one("Unsqueeze", [kept["row"], g.const([1])]),
                             g.one("Unsqueeze", [kept["column"], g.const([1])])], axis=1)
    dense = g.one("ScatterND", [pad, index, kept["tokens"]])
    columns = g.one("Unsqueeze", [g.one("Range", [g.const(0), g.one("Squeeze", [width, g.const([0])]),
                                                  g.const(1)]), g.const([0])])  # [1, W]
    last = g.one("Unsqueeze", [g.one("Add", [lengths, g.const(1)]), g.const([1])])  # [N, 1]
    with_bos = g.one("Where", [g.one("Equal", [columns, g.const(0)]), g.const(0), dense])
    ids = g.one("Where", [g.one("Equal", [columns, last]), g.const(2), with_bos], name="input_ids")
    mask = g.one("Cast", [g.one("LessOrEqual", [columns, last])], to=7, name="attention_mask")
    offsets = None
    if byte_starts is not None:
        offsets = g.one("ScatterND", [g.one("ConstantOfShape", [shape], value=_tensor_attr(-1)), index,
                                      g.one("Compress", [byte_starts, keep])], name=TOKEN_OFFSETS)
    return ids, mask, offsets


def _tensor_attr(value: int):
    from onnx import helper

    return helper.make_tensor("fill", 7, [1], [value])


def _wordpiece_nodes(g: _Graph, data: dict, max_length: int, prefix: str) -> tuple[str, str]:
    model, normalizer = data["model"], data.get("normalizer") or {}
    vocab = sorted(model["vocab"].items(), key=lambda item: item[1])
    if [i for _, i in vocab] != list(range(len(vocab))):
        raise ExportError("the WordPiece vocabulary has gaps in its ids, so it cannot be written as a list")
    text = _prefixed_text(g, prefix)
    ids, _, mask, _ = g.op("BertTokenizer", [text], outputs=4, domain=CONTRIB,
                           vocab_file="\n".join(token for token, _ in vocab),
                           do_lower_case=int(bool(normalizer.get("lowercase", False))),
                           strip_accents=int(bool(normalizer.get("strip_accents") or False)),
                           max_length=max_length)
    return (g.one("Unsqueeze", [ids, g.const([0])], name="input_ids"),
            g.one("Unsqueeze", [mask, g.const([0])], name="attention_mask"))


def tokenizer_kind(tokenizer_json: str | Path) -> str | None:
    data = json.loads(Path(tokenizer_json).read_text(encoding="utf-8"))
    return (data.get("model") or {}).get("type")


def tokenizer_graph(tokenizer_json: str | Path, *, max_length: int, prefix: str = "", opset: int = 17,
                    with_token_type_ids: bool = False, token_offsets: bool = False):
    """An ONNX graph from ``text`` (string [N]) to ``input_ids`` and ``attention_mask`` (int64 [N, W]).

    ``token_offsets`` adds that output too (SentencePiece only): where each token starts, in UTF-8
    bytes of the prefixed text, -1 for special tokens and padding; an app needs it to place entities.
    """
    from onnx import TensorProto, helper

    data = json.loads(Path(tokenizer_json).read_text(encoding="utf-8"))
    kind = (data.get("model") or {}).get("type")
    g = _Graph()
    if kind == "Unigram":
        batch, (ids, mask, offsets) = None, _sentencepiece_nodes(g, data, max_length, prefix, token_offsets)
    elif kind == "WordPiece":
        if token_offsets:
            raise ExportError("token offsets in the graph are available for SentencePiece tokenizers only")
        batch, (ids, mask), offsets = 1, _wordpiece_nodes(g, data, max_length, prefix), None
    else:
        raise ExportError(f"no in-graph tokenizer for a {kind} tokenizer (SentencePiece Unigram and "
                          f"WordPiece are supported)")
    names = [name for name in (ids, mask, offsets) if name]
    outputs = [helper.make_tensor_value_info(name, TensorProto.INT64, [batch, None]) for name in names]
    if with_token_type_ids:
        g.one("Mul", [ids, g.const(0)], name="token_type_ids")
        outputs.append(helper.make_tensor_value_info("token_type_ids", TensorProto.INT64, [batch, None]))
    graph = helper.make_graph(g.nodes, "tokenizer", [helper.make_tensor_value_info(
        TEXT_INPUT, TensorProto.STRING, [batch])], outputs, initializer=g.initializers)
    return helper.make_model(graph, ir_version=8, opset_imports=[helper.make_opsetid("", opset),
                                                                 helper.make_opsetid(CONTRIB, 1)])


def string_input_model(model_path: str | Path, tokenizer_json: str | Path, out_path: str | Path, *,
                       max_length: int, prefix: str = "", token_offsets: bool = False) -> Path:
    """Write the model with the tokenizer in front of it: input ``text`` (string), the model's outputs
    (first, in their order), then ``token_offsets`` if asked for."""
    import onnx
    from onnx import compose

    model = onnx.load(str(model_path), load_external_data=True)
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    inputs = [i.name for i in model.graph.input]
    tokens = tokenizer_graph(tokenizer_json, max_length=max_length, prefix=prefix, opset=opset,
                             with_token_type_ids="token_type_ids" in inputs, token_offsets=token_offsets)
    tokens.ir_version = model.ir_version
    merged = compose.merge_models(tokens, model, io_map=[(name, name) for name in inputs])
    order = [o.name for o in model.graph.output] + ([TOKEN_OFFSETS] if token_offsets else [])
    outputs = {o.name: o for o in merged.graph.output}
    del merged.graph.output[:]
    merged.graph.output.extend(outputs[name] for name in order)
    out_path = Path(out_path)
    onnx.save(merged, str(out_path), save_as_external_data=merged.ByteSize() > 1_800_000_000,
              location=out_path.name + ".data")
    return out_path


# ------------------------------------------------------------------ the check


@dataclass
class TokenizerGraphCheck:
    """How the in-graph tokenizer compares with tokenizer.json on real sentences."""

    sentences: int
    same_ids: int
    differing: list[dict] = field(default_factory=list)  # a few examples, with both id lists
    reordered: int = 0  # differing sentences whose pieces are the same, in another order (score ties)
    max_abs_diff: float | None = None  # outputs of the string model vs the plain model, same-id sentences

    @property
    def id_agreement(self) -> float:
        return self.same_ids / self.sentences if self.sentences else 1.0

    def as_dict(self) -> dict:
        return {**asdict(self), "id_agreement": round(self.id_agreement, 6)}


def graph_ids(session, texts: list[str], batched: bool) -> list[list[int]]:
    """Ids the tokenizer part of a string model produces, one list per text, padding removed."""
    groups = [texts] if batched else [[t] for t in texts]
    result = []
    for group in groups:
        ids, mask = session.run(["input_ids", "attention_mask"],
                                {TEXT_INPUT: np.array(group, dtype=object)})
        result.extend(row[m.astype(bool)].tolist() for row, m in zip(ids, mask, strict=True))
    return result


def check_tokenizer_graph(string_model: str | Path, plain_model: str | Path, tokenizer_json: str | Path,
                          texts: list[str], *, max_length: int, prefix: str = "", tolerance: float = 1e-4,
                          min_agreement: float = 0.99, examples: int = 5) -> TokenizerGraphCheck:
    """Compare ids with tokenizer.json and outputs with the plain model; raise if too many differ."""
    from tokenizers import Tokenizer

    from edgedistill.export.validate import onnx_session

    reference = Tokenizer.from_file(str(tokenizer_json))
    reference.no_padding()
    reference.enable_truncation(max_length)
    expected = [e.ids for e in reference.encode_batch([prefix + t for t in texts])]
    tokens_only = _tokenizer_session(string_model)
    batched = tokens_only.get_inputs()[0].shape[0] != 1
    got = graph_ids(tokens_only, texts, batched)
    check = TokenizerGraphCheck(len(texts), sum(a == b for a, b in zip(expected, got, strict=True)))
    for text, a, b in zip(texts, expected, got, strict=True):
        if a != b:
            check.reordered += sorted(a) == sorted(b)
            if len(check.differing) < examples:
                check.differing.append({"text": text, "tokenizer_json": a, "graph": b})
    same = [t for t, a, b in zip(texts, expected, got, strict=True) if a == b][:16]
    if same:
        check.max_abs_diff = _output_difference(onnx_session(string_model, custom_ops=True),
                                                onnx_session(plain_model), reference, same, prefix, batched)
    if check.id_agreement < min_agreement:
        raise TokenizerMismatch(f"the in-graph tokenizer gives different ids from tokenizer.json on "
                                f"{check.sentences - check.same_ids} of {check.sentences} sentences, "
                                f"e.g. {check.differing[0]['text'][:60]!r}")
    if check.max_abs_diff is not None and check.max_abs_diff > tolerance:
        raise TokenizerMismatch(f"the string-input model's outputs differ from the plain model's by "
                                f"{check.max_abs_diff:.3g} on sentences with identical ids "
                                f"(tolerance {tolerance:.3g})")
    return check


def _tokenizer_session(string_model: str | Path):
    """A session that stops at the tokenizer's outputs (the model part is not run)."""
    import onnx
    import onnxruntime as ort
    from onnxruntime_extensions import get_library_path

    model = onnx.load(str(string_model), load_external_data=False)
    nodes = [n for n in model.graph.node if n.name.startswith("tokenizer/")]
    keep = {i.name for i in model.graph.initializer if i.name.startswith("tok_const_")}
    graph = onnx.helper.make_graph(
        nodes, "tokenizer", list(model.graph.input)[:1],
        [onnx.helper.make_tensor_value_info(n, onnx.TensorProto.INT64, None)
         for n in ("input_ids", "attention_mask")],
        initializer=[i for i in model.graph.initializer if i.name in keep])
    sliced = onnx.helper.make_model(graph, ir_version=model.ir_version,
                                    opset_imports=list(model.opset_import))
    options = ort.SessionOptions()
    options.register_custom_ops_library(get_library_path())
    options.log_severity_level = 3
    return ort.InferenceSession(sliced.SerializeToString(), options, providers=["CPUExecutionProvider"])


def _output_difference(string_session, plain_session, reference, texts, prefix, batched) -> float:
    inputs = {i.name for i in plain_session.get_inputs()}
    worst = 0.0
    groups = [texts] if batched else [[t] for t in texts]
    pad = reference.token_to_id("<pad>") or reference.token_to_id("[PAD]") or 0
    for group in groups:
        encodings = reference.encode_batch([prefix + t for t in group])
        width = max(len(e.ids) for e in encodings)
        ids = np.full((len(group), width), pad, dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, encoding in enumerate(encodings):
            ids[row, : len(encoding.ids)], mask[row, : len(encoding.ids)] = encoding.ids, 1
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        plain = plain_session.run(None, {k: v for k, v in feeds.items() if k in inputs})[0]
        with_strings = string_session.run(None, {TEXT_INPUT: np.array(group, dtype=object)})[0]
        worst = max(worst, float(np.max(np.abs(plain - with_strings))) if plain.shape == with_strings.shape
                    else float("inf"))
    return worst
