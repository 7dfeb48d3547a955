// A SentencePiece-Unigram tokenizer that reads a Hugging Face tokenizer.json and gives the ids,
// offsets and word ids that the Python `tokenizers` library (0.22) gives for it, which is what
// edgedistill's runtime feeds the model. It covers what XLM-R / multilingual-e5 tokenizers use:
// added tokens, the Precompiled (SentencePiece charsmap) and Replace normalizers, the Metaspace
// pre-tokenizer, the Unigram model and a TemplateProcessing post-processor; anything else is
// refused when the tokenizer is loaded.
//
// Strings are handled as arrays of Unicode code points, so every offset here is a code-point
// offset, as Python's are. tokenizers keeps, for each normalized character, the range of original
// characters it came from ("alignments"); the functions below port its bookkeeping step by step,
// quirks included (a removed character is charged to the one before it, a composed accent's
// alignment ends at its base letter), because entity spans are built from these offsets.

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class TokenizerError extends Error {}

function codePoints(text) {
  return Array.from(text, (ch) => ch.codePointAt(0));
}

function fromCodePoints(cps) {
  let out = "";
  for (let i = 0; i < cps.length; i += 4096) out += String.fromCodePoint(...cps.slice(i, i + 4096));
  return out;
}

function utf8Length(cp) {
  return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

// ------------------------------------------------------------------ the normalized string

class NormalizedString {
  constructor(original, normalized, alignments, shift) {
    this.original = original; // code points of this piece of the input
    this.normalized = normalized; // code points after normalization
    this.alignments = alignments; // per normalized code point: [start, end) in `original`
    this.shift = shift; // where `original` starts in the whole input
  }

  static from(cps) {
    return new NormalizedString(cps, cps.slice(), cps.map((_, i) => [i, i + 1]), 0);
  }

  isEmpty() {
    return this.normalized.length === 0;
  }

  // Original range -> normalized range (tokenizers' convert_offsets from Original).
  originalToNormalized(start, end) {
    if (start === end) return [start, end];
    if (start > end) return null;
    if (this.original.length === 0 && start === 0 && end === 0) return [0, this.normalized.length];
    let first = null;
    let last = null;
    for (let i = 0; i < this.alignments.length; i++) {
      const [a, b] = this.alignments[i];
      if (end < b) break;
      if (first === null && start <= a && a !== b) first = i;
      last = i + 1;
    }
    if (first !== null && last === null) return [first, first];
    if (first === null && last !== null) return [last, last];
    if (first !== null && last !== null) return [first, last];
    return null;
  }

  // Normalized range -> original range (expand_alignments: first start, last end).
  normalizedToOriginal(start, end) {
    if (start === end) return [start, end];
    if (start > end) return null;
    if (this.normalized.length === 0 && start === 0 && end === 0) return [0, this.original.length];
    if (end > this.alignments.length) return null;
    return [this.alignments[start][0], this.alignments[end - 1][1]];
  }

  // dest: [codePoint, change] pairs; change 0 replaces a character, 1 inserts one, -n replaces
  // one and removes the n after it. initialOffset: characters removed before the first.
  transformRange(start, end, dest, initialOffset) {
    const replaced = this.normalized.slice(start, end);
    let next = Math.min(initialOffset, replaced.length);
    let offset = start + next;
    const chars = [];
    const alignments = [];
    for (const [cp, change] of dest) {
      let align;
      if (change > 0) align = offset < 1 ? [0, 0] : this.alignments[offset - 1];
      else align = this.alignments[offset];
      if (change <= 0 && next < replaced.length) {
        next += 1;
        offset += 1;
      }
      if (change < 0) {
        const removed = Math.min(-change, replaced.length - next);
        next += removed;
        offset += removed;
      }
      if (align === undefined) throw new TokenizerError("normalizer alignment out of range");
      chars.push(cp);
      alignments.push(align);
    }
    this.normalized.splice(start, end - start, ...chars);
    this.alignments.splice(start, end - start, ...alignments);
  }

  transform(dest, initialOffset) {
    const range = this.originalToNormalized(0, this.original.length);
    if (range) this.transformRange(range[0], range[1], dest, initialOffset);
  }

  slice(start, end) {
    const original = this.normalizedToOriginal(start, end);
    if (!original) throw new TokenizerError("bad slice of a normalized string");
    const [oStart, oEnd] = original;
    return new NormalizedString(
      this.original.slice(oStart, oEnd),
      this.normalized.slice(start, end),
      this.alignments.slice(start, end).map(([a, b]) => [a - oStart, b - oStart]),
      this.shift + oStart,
    );
  }

  // Replace each match ([start, end) in normalized code points, in order) with `content`.
  replaceMatches(matches, content) {
    let shift = 0;
    for (const [start, end] of matches) {
      const from = start + shift;
      const to = end + shift;
      this.transformRange(from, to, content.map((cp) => [cp, 1]), to - from);
      shift += content.length - (end - start);
    }
  }

  prepend(cps) {
    if (this.normalized.length === 0) return;
    const dest = cps.map((cp, i) => [cp, i === 0 ? 0 : 1]);
    dest.push([this.normalized[0], 1]);
    this.transformRange(0, 1, dest, 0);
  }

  // Split around each occurrence of `cp`, which joins the piece after it when that piece holds no
  // `cp` (tokenizers' MergedWithNext: "a▁▁b" -> "a", "▁", "▁b").
  splitMergedWithNext(cp) {
    const segments = [];
    let gap = 0;
    this.normalized.forEach((c, i) => {
      if (c !== cp) return;
      if (gap < i) segments.push([gap, i, false]);
      segments.push([i, i + 1, true]);
      gap = i + 1;
    });
    if (gap < this.normalized.length) segments.push([gap, this.normalized.length, false]);
    const pieces = [];
    for (let i = 0; i < segments.length; i++) {
      const [start, end, isMatch] = segments[i];
      const next = segments[i + 1];
      if (isMatch && next && !next[2]) {
        pieces.push(this.slice(start, next[1]));
        i++;
      } else {
        pieces.push(this.slice(start, end));
      }
    }
    return pieces;
  }
}

// ------------------------------------------------------------------ normalizers

// Rust's char::is_whitespace and regex \s: the Unicode White_Space property.
const WHITESPACE = /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/u;

// The SentencePiece charsmap: [u32 trie size][double-array trie of u32][replacement strings, \0-ended].
class CharsMap {
  constructor(base64) {
    const bytes = Uint8Array.from(atob(base64), (ch) => ch.charCodeAt(0));
    const view = new DataView(bytes.buffer);
    const trieSize = view.getUint32(0, true);
    this.trie = new Uint32Array(trieSize / 4);
    for (let i = 0; i < this.trie.length; i++) this.trie[i] = view.getUint32(4 + 4 * i, true);
    this.strings = bytes.subarray(4 + trieSize);
  }

  // The replacement for the SHORTEST prefix of `bytes` that the trie holds (as tokenizers does),
  // as code points, or null.
  transform(bytes) {
    const unitOffset = (u) => (u >>> 10) << ((u & 512) >>> 6);
    let pos = unitOffset(this.trie[0]);
    for (const byte of bytes) {
      if (byte === 0) break;
      pos ^= byte;
      const unit = this.trie[pos];
      if (unit === undefined || (unit & 0x800000ff) >>> 0 !== byte) return null;
      pos ^= unitOffset(unit);
      if ((unit >>> 8) & 1) {
        const start = this.trie[pos] & 0x7fffffff;
        let end = start;
        while (end < this.strings.length && this.strings[end] !== 0) end++;
        return codePoints(decoder.decode(this.strings.subarray(start, end)));
      }
    }
    return null;
  }
}

// tokenizers' `replace` helper of the Precompiled normalizer.
function pushReplacement(transformations, oldCount, cps) {
  for (const cp of cps) transformations.push([cp, 0]);
  const diff = cps.length - oldCount;
  if (diff > 0) {
    for (let i = 0; i < diff; i++) transformations[transformations.length - 1 - i][1] = 1;
  } else if (diff < 0 && transformations.length) {
    transformations[transformations.length - 1][1] += diff;
  }
}

const graphemes = new Intl.Segmenter(undefined, { granularity: "grapheme" });

function precompiled(config) {
  const map = new CharsMap(config.precompiled_charsmap);
  return (ns) => {
    const transformations = [];
    let modified = false;
    for (const { segment } of graphemes.segment(fromCodePoints(ns.normalized))) {
      const cps = codePoints(segment);
      const bytes = encoder.encode(segment);
      if (bytes.length < 6) {
        const norm = map.transform(bytes);
        if (norm !== null) {
          modified = true;
          pushReplacement(transformations, cps.length, norm);
          continue;
        }
      }
      for (const cp of cps) {
        const norm = map.transform(encoder.encode(String.fromCodePoint(cp)));
        if (norm !== null) {
          modified = true;
          pushReplacement(transformations, 1, norm);
        } else {
          transformations.push([cp, 0]);
        }
      }
    }
    if (modified) ns.transform(transformations, 0);
  };
}

// Match positions of a regular expression (or a literal string) as code-point ranges.
function findMatches(pattern, cps) {
  const text = fromCodePoints(cps);
  const regex = new RegExp(pattern.Regex ?? pattern.String.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"), "gu");
  const unitToCp = new Map([[0, 0]]);
  let unit = 0;
  cps.forEach((cp, i) => {
    unit += cp > 0xffff ? 2 : 1;
    unitToCp.set(unit, i + 1);
  });
  const matches = [];
  for (const match of text.matchAll(regex)) {
    if (match[0].length === 0) continue;
    matches.push([unitToCp.get(match.index), unitToCp.get(match.index + match[0].length)]);
  }
  return matches;
}

function replace(config) {
  const content = codePoints(config.content);
  return (ns) => ns.replaceMatches(findMatches(config.pattern, ns.normalized), content);
}

const isWhitespace = (cp) => WHITESPACE.test(String.fromCodePoint(cp));

function strip(config) {
  return (ns) => {
    const n = ns.normalized.length;
    let lead = 0;
    let trail = 0;
    while (config.strip_left && lead < n && isWhitespace(ns.normalized[lead])) lead++;
    while (config.strip_right && trail < n && isWhitespace(ns.normalized[n - 1 - trail])) trail++;
    if (!lead && !trail) return;
    const dest = [];
    ns.normalized.forEach((cp, i) => {
      if (i >= lead && i < n - trail) dest.push([cp, i === n - trail - 1 ? -trail : 0]);
    });
    ns.transform(dest, lead);
  };
}

function normalizer(config) {
  if (!config) return () => {};
  if (config.type === "Sequence") {
    const steps = config.normalizers.map(normalizer);
    return (ns) => steps.forEach((step) => step(ns));
  }
  if (config.type === "Precompiled") return precompiled(config);
  if (config.type === "Replace") return replace(config);
  if (config.type === "Strip") return strip(config);
  throw new TokenizerError(`tokenizer.json uses the ${config.type} normalizer, which this page does not implement`);
}

// ------------------------------------------------------------------ pre-tokenizer

function metaspace(config) {
  const replacement = codePoints(config.replacement);
  const scheme = config.prepend_scheme ?? (config.add_prefix_space === false ? "never" : "always");
  const split = config.split ?? true;
  const space = 0x20;
  return (ns) => {
    const spaces = [];
    ns.normalized.forEach((cp, i) => cp === space && spaces.push([i, i + 1]));
    ns.replaceMatches(spaces, replacement);
    const startsWithReplacement = ns.normalized[0] === replacement[0];
    if ((scheme === "always" || (scheme === "first" && ns.shift === 0)) && !startsWithReplacement) {
      ns.prepend(replacement);
    }
    return split ? ns.splitMergedWithNext(replacement[0]) : [ns];
  };
}

function preTokenizer(config) {
  if (config?.type === "Metaspace") return metaspace(config);
  if (config?.type === "Sequence" && config.pretokenizers.length === 1) return preTokenizer(config.pretokenizers[0]);
  throw new TokenizerError(`tokenizer.json uses the ${config?.type ?? "no"} pre-tokenizer; this page implements Metaspace`);
}

// ------------------------------------------------------------------ the Unigram model

const UNK_PENALTY = 10.0;

class Unigram {
  constructor(config) {
    if (config.type !== "Unigram") {
      throw new TokenizerError(`tokenizer.json holds a ${config.type} model; this page implements Unigram`);
    }
    if (config.byte_fallback) throw new TokenizerError("tokenizer.json's Unigram uses byte fallback, which this page does not implement");
    this.ids = new Map();
    this.scores = config.vocab.map(([, score]) => score);
    this.unkId = config.unk_id;
    this.maxLength = 1;
    let minScore = Infinity;
    config.vocab.forEach(([piece, score], id) => {
      this.ids.set(piece, id);
      this.maxLength = Math.max(this.maxLength, codePoints(piece).length);
      minScore = Math.min(minScore, score);
    });
    this.unkScore = minScore - UNK_PENALTY;
    this.size = config.vocab.length;
  }

  // Viterbi over the pieces, in the order tokenizers tries them (by start, then by length), so
  // that ties resolve the same way; runs of unknown characters fuse into one <unk>.
  tokenize(cps) {
    const n = cps.length;
    const best = Array.from({ length: n + 1 }, () => ({ id: 0, score: 0, start: -1 }));
    for (let start = 0; start < n; start++) {
      const base = best[start].score;
      let single = false;
      let piece = "";
      for (let length = 1; length <= Math.min(this.maxLength, n - start); length++) {
        piece += String.fromCodePoint(cps[start + length - 1]);
        const id = this.ids.get(piece);
        if (id === undefined) continue;
        const score = base + this.scores[id];
        const node = best[start + length];
        if (node.start < 0 || score > node.score) Object.assign(node, { id, score, start });
        if (length === 1) single = true;
      }
      if (!single) {
        const node = best[start + 1];
        const score = base + this.unkScore;
        if (node.start < 0 || score > node.score) Object.assign(node, { id: this.unkId, score, start });
      }
    }
    const pieces = [];
    let unknown = null;
    for (let end = n; end > 0; end = best[end].start) {
      const { id, start } = best[end];
      if (id === this.unkId) {
        unknown = [start, unknown ? unknown[1] : end];
        continue;
      }
      if (unknown) pieces.push(unknown);
      unknown = null;
      pieces.push([start, end]);
    }
    if (unknown) pieces.push(unknown);
    return pieces.reverse().map(([start, end]) => {
      const id = this.ids.get(fromCodePoints(cps.slice(start, end)));
      return { id: id ?? this.unkId, start, end };
    });
  }
}

// ------------------------------------------------------------------ added tokens

const WORD_CHAR = /[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]/u;

// Added tokens are cut out of the text before normalization (normalized: false) or after it
// (normalized: true, matched in their normalized form), leftmost-longest first.
class AddedTokens {
  constructor(tokens, form) {
    this.tokens = tokens.filter((t) => t.content).map((t) => ({ ...t, cps: form(t.content) }));
  }

  // [start, end, id | null] pieces covering `cps`: leftmost-longest matches of the added tokens.
  split(cps) {
    if (cps.length === 0) return [[0, 0, null]];
    const pieces = [];
    let done = 0;
    let i = 0;
    while (i < cps.length) {
      let found = null;
      for (const token of this.tokens) {
        const len = token.cps.length;
        if ((!found || len > found.cps.length) && token.cps.every((cp, k) => cps[i + k] === cp)) found = token;
      }
      if (!found) {
        i++;
        continue;
      }
      let start = i;
      let stop = i + found.cps.length;
      i = stop;
      if (found.single_word) {
        const before = start > 0 && WORD_CHAR.test(String.fromCodePoint(cps[start - 1]));
        const after = stop < cps.length && WORD_CHAR.test(String.fromCodePoint(cps[stop]));
        if (before || after) continue;
      }
      if (found.lstrip) {
        let s = start;
        while (s > 0 && isWhitespace(cps[s - 1])) s--;
        start = Math.max(s, done);
      }
      if (found.rstrip) {
        while (stop < cps.length && isWhitespace(cps[stop])) stop++;
        i = stop;
      }
      if (done < start) pieces.push([done, start, null]);
      pieces.push([start, stop, found.id]);
      done = stop;
    }
    if (done !== cps.length) pieces.push([done, cps.length, null]);
    return pieces;
  }
}

// ------------------------------------------------------------------ the tokenizer

export class Tokenizer {
  constructor(json) {
    this.normalize = normalizer(json.normalizer);
    const added = json.added_tokens ?? [];
    this.rawTokens = new AddedTokens(added.filter((t) => !t.normalized), codePoints);
    this.normalizedTokens = new AddedTokens(added.filter((t) => t.normalized), (content) => {
      const ns = NormalizedString.from(codePoints(content));
      this.normalize(ns);
      return ns.normalized;
    });
    this.preTokenize = preTokenizer(json.pre_tokenizer);
    this.model = new Unigram(json.model);
    this.template = template(json.post_processor);
    this.idOf = new Map(this.model.ids);
    for (const token of json.added_tokens ?? []) this.idOf.set(token.content, token.id);
    const largestAdded = Math.max(-1, ...(json.added_tokens ?? []).map((t) => t.id));
    this.vocabSize = Math.max(this.model.size, largestAdded + 1);
  }

  get numSpecialTokens() {
    return this.template.before.length + this.template.after.length;
  }

  // ids, code-point offsets and word ids of `text`, without special tokens
  // (tokenizer.encode(text, add_special_tokens=False) in Python).
  encode(text) {
    const input = NormalizedString.from(codePoints(text));
    const splits = [];
    const tokenSplit = (ns, id) => splits.push({ ns, tokens: [{ id, start: 0, end: ns.normalized.length }] });
    for (const [start, end, id] of this.rawTokens.split(input.original)) {
      const piece = input.slice(start, end);
      if (piece.isEmpty()) continue;
      if (id !== null) {
        tokenSplit(piece, id);
        continue;
      }
      this.normalize(piece);
      for (const [from, to, found] of this.normalizedTokens.split(piece.normalized)) {
        const part = piece.slice(from, to);
        if (part.isEmpty()) continue;
        if (found !== null) tokenSplit(part, found);
        else for (const word of this.preTokenize(part)) if (!word.isEmpty()) splits.push({ ns: word, tokens: null });
      }
    }
    const encoding = { ids: [], offsets: [], words: [] };
    splits.forEach(({ ns, tokens }, word) => {
      for (const token of tokens ?? this.model.tokenize(ns.normalized)) {
        const range = ns.normalizedToOriginal(token.start, token.end);
        encoding.ids.push(token.id);
        encoding.offsets.push(range ? [ns.shift + range[0], ns.shift + range[1]] : [token.start, token.end]);
        encoding.words.push(word);
      }
    });
    return encoding;
  }

  // The model's input for content tokens: the template's special tokens around them.
  withSpecialTokens(ids) {
    return [...this.template.before, ...ids, ...this.template.after];
  }
}

function template(config) {
  if (config?.type === "TemplateProcessing") {
    const special = (name) => {
      const ids = config.special_tokens[name]?.ids;
      if (!ids) throw new TokenizerError(`tokenizer.json's template names ${name} but gives no id for it`);
      return ids;
    };
    const before = [];
    const after = [];
    let seen = false;
    for (const item of config.single) {
      if (item.Sequence) seen = true;
      else (seen ? after : before).push(...special(item.SpecialToken.id));
    }
    return { before, after };
  }
  if (config?.type === "RobertaProcessing" || config?.type === "BertProcessing") {
    return { before: [config.cls[1]], after: [config.sep[1]] };
  }
  if (!config) return { before: [], after: [] };
  throw new TokenizerError(`tokenizer.json uses the ${config.type} post-processor, which this page does not implement`);
}
