// The page: load the bundle named by ?bundle= (default "bundle/", which `edgedistill serve-demo`
// serves), run each line of the text box through it, and show what came out and how long each text
// took in this browser. window.demo exposes the same functions to automation (tests/test_web_demo.py).

import * as ort from "./node_modules/onnxruntime-web/dist/ort.wasm.min.mjs";
import { Predictor } from "./predictor.js";
import { Tokenizer } from "./tokenizer.js";

ort.env.wasm.numThreads = 1;
ort.env.wasm.wasmPaths = new URL("./node_modules/onnxruntime-web/dist/", import.meta.url).href;

const EXAMPLES = {
  "sequence-classification": [
    "Ina son wannan waka sosai, Allah ya saka da alheri.",
    "Gwamnati ta kara farashin man fetur a fadin kasar.",
    "Kungiyar kwallon kafa ta Kano Pillars ta yi nasara a wasan jiya.",
  ],
  "token-classification": [
    "Shugaba Muhammadu Buhari ya isa birnin Kano ranar Litinin.",
    "Olú Fálàé ti kúrò ní ẹgbẹ́ Alliance for Democracy ní ọdún 2019.",
    "Rais Samia Suluhu Hassan alitembelea Dodoma mwezi Machi.",
  ],
};

const $ = (id) => document.getElementById(id);
const megabytes = (bytes) => `${(bytes / 1e6).toFixed(2)} MB`;

function element(tag, attrs = {}, ...children) {
  const node = Object.assign(document.createElement(tag), attrs);
  node.append(...children);
  return node;
}

function showBundle(predictor, loadMs) {
  const m = predictor.manifest;
  const q = m.quantization ? `INT8, ${m.quantization.kind ?? m.quantization.scheme ?? "quantized"}` : "FP32";
  const rows = [
    ["model", m.source?.display_name ?? m.model_file],
    ["task", `${m.task}: ${m.labels.join(", ")}`],
    ["weights", `${megabytes(predictor.sizes.model)} ${m.model_file} (${q}) + ${megabytes(predictor.sizes.tokenizer)} ${m.tokenizer_file}`],
    ["max length", `${m.max_length} tokens${m.input_prefix ? `, prefix "${m.input_prefix}"` : ""}`],
    ["runtime", `onnxruntime-web ${ort.env.versions?.web ?? ""}, WebAssembly, 1 thread`],
    ["loaded in", `${loadMs.toFixed(0)} ms (download, SHA-256 checks, session)`],
  ];
  $("bundle").replaceChildren(...rows.flatMap(([k, v]) => [element("dt", { textContent: k }), element("dd", { textContent: v })]));
}

function classificationView(result) {
  const bars = Object.entries(result.probabilities).map(([label, p]) => element("div", { className: "bar" },
    element("span", { textContent: label }),
    element("span", {}, element("span", { className: "fill", style: `width:${(100 * p).toFixed(1)}%` })),
    element("span", { textContent: p.toFixed(4) })));
  return [element("div", {}, element("span", { className: "chip", textContent: result.label }), `score ${result.score.toFixed(4)}`), ...bars];
}

function highlighted(text, entities) {
  const cps = Array.from(text);
  const parts = [];
  let at = 0;
  for (const e of entities) {
    parts.push(cps.slice(at, e.start).join(""));
    parts.push(element("mark", { className: e.label, title: `${e.label} ${e.score.toFixed(3)}` }, e.text, element("small", { textContent: e.label })));
    at = e.end;
  }
  parts.push(cps.slice(at).join(""));
  return parts;
}

function percentile(sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

// Run each text alone and time it (tokenizing, the model and the post-processing).
async function runTexts(texts) {
  const predictor = await window.demo.ready;
  const tagging = predictor.manifest.task === "token-classification";
  const out = [];
  for (const text of texts) {
    const start = performance.now();
    const result = tagging ? await predictor.tag(text) : await predictor.classify(text);
    out.push({ text, result, ms: performance.now() - start });
  }
  render(out, tagging);
  return out;
}

function render(out, tagging) {
  $("results").replaceChildren(...out.map(({ text, result, ms }) => element("div", { className: "row" },
    element("div", { className: "text" }, ...(tagging ? highlighted(text, result) : [text])),
    ...(tagging ? [] : classificationView(result)),
    element("div", { className: "meta", textContent: `${ms.toFixed(1)} ms in this browser${tagging ? `, ${result.length} entities` : ""}` }))));
  const times = out.map((o) => o.ms).sort((a, b) => a - b);
  $("summary").textContent = times.length
    ? `${times.length} texts: median ${percentile(times, 0.5).toFixed(1)} ms, p90 ${percentile(times, 0.9).toFixed(1)} ms per text`
    : "";
}

async function load() {
  const base = new URL(new URLSearchParams(location.search).get("bundle") ?? "bundle/", location.href).href;
  const start = performance.now();
  const predictor = await Predictor.load(base, ort, { verify: Boolean(globalThis.crypto?.subtle) });
  showBundle(predictor, performance.now() - start);
  $("status").textContent = globalThis.crypto?.subtle ? "Ready. The bundle's files match their SHA-256."
    : "Ready. (Not a secure context, so the SHA-256 checks were skipped: open the page on localhost or over https.)";
  $("texts").value = EXAMPLES[predictor.manifest.task].join("\n");
  $("run").disabled = false;
  return predictor;
}

window.demo = {
  ready: load(),
  runTexts,
  // For tests: what the page's tokenizer makes of texts, with any tokenizer.json.
  async tokenize(url, texts) {
    const tokenizer = new Tokenizer(await (await fetch(url)).json());
    return texts.map((text) => tokenizer.encode(text));
  },
};

window.demo.ready.catch((error) => {
  $("status").textContent = `Error: ${error.message}`;
  $("status").className = "error";
});

$("run").addEventListener("click", async () => {
  $("run").disabled = true;
  try {
    await runTexts($("texts").value.split("\n").filter((line) => line.trim()));
  } finally {
    $("run").disabled = false;
  }
});
