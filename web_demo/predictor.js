// The bundle contract in the browser: what runtime/predictor.py does, for the two tasks the page
// shows (sequence and token classification), one text at a time (batch 1, so that a dynamically
// quantized INT8 bundle gives the scores Predictor(batch_size=1) gives; see
// docs/runtime-and-benchmarks.md). onnxruntime-web is passed in, so the module has no imports
// that tie it to one way of loading it.

import { Tokenizer } from "./tokenizer.js";
import { isCombining, isSpace } from "./unicode.js";

export const FORMAT_VERSION = 1;
export const CHARS_PER_TOKEN = 64; // runtime/predictor.py's constants
export const TAG_BLOCK_CHARS = 1 << 16;
const PAD_TOKENS = ["<pad>", "[PAD]"];
const TASKS = ["sequence-classification", "token-classification"];

export class BundleError extends Error {}

const codePoints = (text) => Array.from(text, (ch) => ch.codePointAt(0));
const fromCodePoints = (cps) => cps.map((cp) => String.fromCodePoint(cp)).join("");
// clean_text: a lone surrogate becomes U+FFFD, one code point for one.
const clean = (cps) => cps.map((cp) => (cp >= 0xd800 && cp <= 0xdfff ? 0xfffd : cp));

async function sha256(bytes) {
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function fetchBytes(url, name) {
  const response = await fetch(url);
  if (!response.ok) throw new BundleError(`the bundle has no ${name} (HTTP ${response.status} for ${url})`);
  return new Uint8Array(await response.arrayBuffer());
}

function softmax(row) {
  const max = Math.max(...row);
  const exp = row.map((v) => Math.exp(v - max));
  const sum = exp.reduce((a, b) => a + b, 0);
  return exp.map((v) => v / sum);
}

function argmax(values) {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

export class Predictor {
  // Fetch, check (format version, task, SHA-256 of each file, vocabulary) and load a bundle.
  static async load(base, ort, { verify = true } = {}) {
    const root = base.endsWith("/") ? base : `${base}/`;
    const manifest = JSON.parse(new TextDecoder().decode(await fetchBytes(`${root}edgedistill.json`, "edgedistill.json")));
    if (manifest.format_version !== FORMAT_VERSION) {
      throw new BundleError(`the bundle has format version ${manifest.format_version}; this page reads version ${FORMAT_VERSION}`);
    }
    if (!TASKS.includes(manifest.task)) {
      throw new BundleError(`the bundle is a ${manifest.task} model; this page shows ${TASKS.join(" and ")}`);
    }
    const files = {};
    for (const name of [manifest.model_file, manifest.tokenizer_file]) {
      files[name] = await fetchBytes(root + name, name);
      if (verify && (await sha256(files[name])) !== manifest.files?.[name]) {
        throw new BundleError(`${name} does not match its SHA-256 in the manifest (the file was changed or truncated)`);
      }
    }
    const tokenizer = new Tokenizer(JSON.parse(new TextDecoder().decode(files[manifest.tokenizer_file])));
    if (tokenizer.vocabSize > manifest.vocab_size) {
      throw new BundleError(`the tokenizer can emit id ${tokenizer.vocabSize - 1} but the model's embedding table has only ${manifest.vocab_size} rows`);
    }
    const session = await ort.InferenceSession.create(files[manifest.model_file], {
      executionProviders: ["wasm"],
      graphOptimizationLevel: "all",
    });
    const predictor = new Predictor(manifest, tokenizer, session, ort);
    predictor.sizes = { model: files[manifest.model_file].length, tokenizer: files[manifest.tokenizer_file].length };
    await predictor.checkModel();
    return predictor;
  }

  constructor(manifest, tokenizer, session, ort) {
    this.manifest = manifest;
    this.tokenizer = tokenizer;
    this.session = session;
    this.ort = ort;
    this.padId = manifest.pad_token_id ?? PAD_TOKENS.map((t) => tokenizer.idOf.get(t)).find((id) => id !== undefined) ?? 0;
    this.specials = tokenizer.numSpecialTokens;
    this.budget = manifest.max_length - this.specials;
    this.stride = Math.min(32, Math.max(0, Math.floor(this.budget / 2)));
    this.prefix = codePoints(manifest.input_prefix ?? "");
    this.readChars = manifest.task === "token-classification"
      ? Math.max(TAG_BLOCK_CHARS, CHARS_PER_TOKEN * manifest.max_length)
      : CHARS_PER_TOKEN * manifest.max_length;
  }

  async checkModel() {
    const unknown = this.session.inputNames.filter((name) => !this.manifest.inputs.includes(name) && name !== "token_type_ids");
    const missing = this.manifest.inputs.filter((name) => !this.session.inputNames.includes(name));
    if (unknown.length || missing.length) {
      throw new BundleError(`the model's inputs [${this.session.inputNames}] do not match the manifest's [${this.manifest.inputs}]`);
    }
    const output = await this.run([this.manifest.vocab_size - 1]);
    const rank = this.manifest.task === "sequence-classification" ? 1 : 2;
    if (output.dims.length !== rank + 1 || output.dims[output.dims.length - 1] !== this.manifest.labels.length) {
      throw new BundleError(`the model's output ${this.manifest.outputs[0]} is shaped [${output.dims}] for one text, where ${this.manifest.task} with ${this.manifest.labels.length} labels needs [1,${rank === 2 ? "tokens," : ""}${this.manifest.labels.length}]`);
    }
  }

  // One row of token ids through the model; the output tensor.
  async run(ids) {
    const shape = [1, ids.length];
    const feeds = {
      input_ids: new this.ort.Tensor("int64", BigInt64Array.from(ids, BigInt), shape),
      attention_mask: new this.ort.Tensor("int64", new BigInt64Array(ids.length).fill(1n), shape),
      token_type_ids: new this.ort.Tensor("int64", new BigInt64Array(ids.length), shape),
    };
    const wanted = Object.fromEntries(this.session.inputNames.map((name) => [name, feeds[name]]));
    const outputs = await this.session.run(wanted, [this.manifest.outputs[0]]);
    return outputs[this.manifest.outputs[0]];
  }

  // Token ids, offsets and words of a text as the runtime tokenizes it (prefix included).
  encode(cps) {
    return this.tokenizer.encode(fromCodePoints([...this.prefix, ...clean(cps)]));
  }

  async classify(text) {
    const encoding = this.encode(codePoints(text).slice(0, this.readChars));
    const ids = this.tokenizer.withSpecialTokens(encoding.ids.slice(0, this.budget));
    const logits = Array.from((await this.run(ids)).data);
    const probs = softmax(logits);
    const best = argmax(probs);
    const labels = this.manifest.labels;
    return {
      label: labels[best],
      score: probs[best],
      probabilities: Object.fromEntries(labels.map((label, i) => [label, probs[i]])),
      ids,
    };
  }

  // Entities with code-point offsets into the text; texts over readChars block by block.
  async tag(text) {
    const cps = codePoints(text);
    if (cps.length <= this.readChars) return this.tagText(clean(cps));
    const entities = [];
    let offset = 0;
    for (const block of blocks(cps, this.readChars)) {
      for (const e of await this.tagText(clean(block))) entities.push({ ...e, start: e.start + offset, end: e.end + offset });
      offset += block.length;
    }
    return entities;
  }

  async tagText(cps) {
    const encoding = this.encode(cps);
    const n = encoding.ids.length;
    const step = this.budget - this.stride;
    const starts = [0];
    while (n > this.budget && starts[starts.length - 1] + this.budget < n) starts.push(starts[starts.length - 1] + step);
    const best = new Map(); // position -> [centrality, word, offsets, probs]
    for (const first of starts) {
      const end = Math.min(first + this.budget, n);
      const ids = this.tokenizer.withSpecialTokens(encoding.ids.slice(first, end));
      const output = await this.run(ids);
      const width = output.dims[2];
      const count = end - first;
      for (let rank = 0; rank < count; rank++) {
        const row = this.tokenizer.template.before.length + rank;
        const logits = Array.from(output.data.subarray(row * width, (row + 1) * width));
        const centrality = Math.min(rank, count - 1 - rank);
        const position = first + rank;
        if (!best.has(position) || centrality > best.get(position)[0]) {
          best.set(position, [centrality, encoding.words[position], encoding.offsets[position], softmax(logits)]);
        }
      }
    }
    const tokens = [...best.keys()].sort((a, b) => a - b).map((p) => best.get(p).slice(1));
    return this.entities(cps, tokens);
  }

  // BIO tags on the first sub-word of each word, grouped into entity spans (_entities).
  entities(cps, tokens) {
    const labels = this.manifest.labels;
    const words = [];
    let lastWord = null;
    for (const [word, [start0, end0], probs] of tokens) {
      const start = Math.max(0, start0 - this.prefix.length);
      const end = Math.max(0, end0 - this.prefix.length);
      if (word !== null && word === lastWord && words.length) {
        words[words.length - 1][3] = end;
        continue;
      }
      lastWord = word;
      const best = argmax(probs);
      words.push([labels[best], probs[best], start, end]);
    }
    const entities = [];
    let current = null;
    for (const [tag, score, start, end] of words) {
      const kind = tag.startsWith("B-") || tag.startsWith("I-") ? tag.slice(2) : null;
      if (kind && (tag.startsWith("B-") || current === null || current[0] !== kind)) {
        if (current) entities.push(entity(cps, current));
        current = [kind, start, end, [score]];
      } else if (kind) {
        current[2] = end;
        current[3].push(score);
      } else {
        if (current) entities.push(entity(cps, current));
        current = null;
      }
    }
    if (current) entities.push(entity(cps, current));
    return entities;
  }
}

function entity(cps, [label, start0, end0, scores]) {
  let start = start0;
  let end = end0;
  while (start < end && isSpace(cps[start])) start++;
  while (end < cps.length && isCombining(cps[end])) end++;
  const score = scores.reduce((a, b) => a + b, 0) / scores.length;
  return { label, text: fromCodePoints(cps.slice(start, end)), start, end, score };
}

const BLOCK_SPACES = [0x20, 0x09, 0x0a, 0x0d, 0x3000];

// runtime/predictor.py's _blocks for one text: blocks of at most `size` code points, each ended
// after the last whitespace in its second half, else before any combining marks at `size`.
export function* blocks(cps, size) {
  let buffer = [];
  for (let start = 0; start < cps.length; start += size) {
    buffer = buffer.concat(cps.slice(start, start + size));
    while (buffer.length > size) {
      const end = blockEnd(buffer, size);
      yield buffer.slice(0, end);
      buffer = buffer.slice(end);
    }
  }
  if (buffer.length) yield buffer;
}

function blockEnd(cps, size) {
  const half = Math.floor(size / 2);
  for (let i = size - 1; i >= half; i--) if (BLOCK_SPACES.includes(cps[i])) return i + 1;
  let end = size;
  while (end > half && isCombining(cps[end])) end--;
  return end;
}
