#!/usr/bin/env node
// Deterministic corpus for comparing dstar's plain encoder with the npm DeepSeek V3
// tokenizer (tests/tokenizer/npm_compare_test.cpp).  Same seed => same bytes, on any
// machine: the only randomness is the seeded PRNG below (no Math.random, no clock, no
// locale-dependent calls).
//
//   node scripts/tokenizer/make_corpus.mjs --out corpus.jsonl [--seed 20240517] [--count 2400]
//
// Output: one JSON object per line, {"id": N, "kind": "...", "text": "..."}.
//
// What is deliberately NOT generated, because there ds4's hand-written pre-tokenizer
// (which dstar reproduces) and the reference regex of tokenizer.json give different ids
// by design — tokenizer.md §4.2, and tests/tokenizer/npm_divergences.jsonl for the cases
// found with this corpus, each asserted there with ds4's ids:
//   D1 Unicode whitespace (NBSP, U+2000–U+200A, U+3000, ...): " " + U+00A0 + letters is
//      the case documented in tokenizer.md §4.2;
//   D2 two or more ASCII blanks directly before a CJK/kana character;
//   D3 a non-ASCII punctuation/symbol character (emoji included) followed by CR/LF;
//   D4 a non-ASCII punctuation/symbol character next to ASCII punctuation;
//   D5 non-ASCII digits and numbers (\p{N}: Arabic-Indic, superscripts, fractions);
//   D6 format characters (ZWJ, ZWNJ, ZWSP) outside emoji sequences.
// sanitize() below rewrites them (one rule per class, each explained there).  Everything
// else of the kinds listed in KINDS is generated freely — CJK with its punctuation,
// curly quotes inside prose, emoji next to letters, where ds4 and the regex cut different
// pieces but no merge of the vocabulary crosses the cut, so the ids agree.

import { writeFileSync } from "node:fs";

// ---------------------------------------------------------------------------------------
// Arguments
const args = process.argv.slice(2);
function arg(name, dflt) {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
}
const OUT = arg("--out", null);
const SEED = Number(arg("--seed", "20240517"));
const COUNT = Number(arg("--count", "2400"));
if (!OUT) {
  console.error("usage: make_corpus.mjs --out FILE [--seed N] [--count N]");
  process.exit(2);
}

// ---------------------------------------------------------------------------------------
// Seeded PRNG (mulberry32): tiny, deterministic, good enough for test data.
let state = SEED >>> 0;
function rnd() {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const int = (lo, hi) => lo + Math.floor(rnd() * (hi - lo + 1)); // inclusive
const pick = (a) => a[Math.floor(rnd() * a.length)];
const chance = (p) => rnd() < p;
const times = (n, f) => Array.from({ length: n }, (_, i) => f(i));
const words = (list, lo, hi) => times(int(lo, hi), () => pick(list));

// ---------------------------------------------------------------------------------------
// Vocabulary for the generators
const EN = `the of and to in is it you that he was for on are with as I his they be at one have
this from or had by hot word but what some we can out other were all there when up use your how
said an each she which do their time if will way about many then them write would like so these
her long make thing see him two has look more day could go come did number sound no most people
my over know water than call first who may down side been now find any new work part take get
place made live where after back little only round man year came show every good me give our
under name very through just form sentence great think say help low line differ turn cause much
mean before move right boy old too same tell does set three want air well also play small end put
home read hand port large spell add even land here must big high such follow act why ask men
change went light kind off need house picture try us again animal point mother world near build
self earth father head stand own page should country found answer school grow study still learn
plant cover food sun four between state keep eye never last let thought city tree cross farm hard
start might story saw far sea draw left late run while press close night real life few north
tokenizer encoder kernel matrix tensor gradient latency throughput cache buffer pointer
Paris London Tokyo Berlin Alice Bob Carol Dave Eve Mallory OpenAI DeepSeek Linux GitHub`.split(/\s+/);
const CONTRACTIONS = ["don't", "it's", "we've", "I'm", "they'll", "you're", "can't", "won't", "she'd",
  "isn't", "John's", "users'", "o'clock", "rock'n'roll", "I'd", "that's", "We'll", "DON'T", "It'S"];
const IDENT = ["x", "y", "i", "j", "n", "idx", "count", "value", "result", "buf", "ptr", "len", "size",
  "data", "items", "node", "next", "prev", "head", "tail", "key", "val", "tmp", "err", "ctx", "cfg",
  "user_id", "maxLen", "getValue", "set_value", "HttpClient", "parse_json", "MAX_SIZE", "kDefault",
  "self", "this", "opts", "callback", "handler", "matrix", "row", "col", "sum", "total", "_private",
  "__init__", "camelCase", "snake_case_name", "SCREAMING_CASE", "x1", "v2", "utf8", "i32", "u64"];
const TYPES_C = ["int", "char", "float", "double", "size_t", "uint32_t", "int64_t", "void", "bool",
  "const char *", "unsigned long", "struct node *"];
const PY_KW = ["if", "elif", "while", "for", "with", "return", "yield", "lambda", "not", "and", "or"];

const ZH = ["你好", "世界", "今天", "天气", "很好", "我们", "中国", "北京", "上海", "学习", "工作",
  "模型", "推理", "答案", "问题", "数据", "计算机", "程序", "语言", "人工智能", "深度学习",
  "毕老师", "朋友", "时间", "谢谢", "没有", "什么", "为什么", "因为", "所以", "但是", "可以",
  "文本", "编码", "测试", "速度", "历史", "文化", "经济", "发展", "研究", "方法", "结果"];
const ZH_PUNCT = ["，", "。", "！", "？", "；", "：", "、", "（", "）", "《", "》"];
const JA = ["こんにちは", "ありがとう", "日本語", "テキスト", "東京", "カタカナ", "ひらがな",
  "コンピューター", "プログラム", "です", "ます", "した", "ください", "わたし", "ラーメン",
  "トークナイザー", "テスト", "おはよう", "さようなら", "漢字", "勉強", "データ", "サーバー"];
const JA_PUNCT = ["。", "、", "「", "」", "・", "！", "？"];
const KO = ["안녕하세요", "감사합니다", "한국어", "컴퓨터", "프로그램", "서울", "사랑", "학교",
  "토크나이저", "테스트", "데이터", "모델", "대한민국", "오늘", "날씨", "좋아요", "입니다", "했습니다"];
const RU = ["Привет", "мир", "это", "тест", "токенизатор", "Москва", "данные", "модель", "язык",
  "программа", "быстро", "хорошо", "спасибо", "пожалуйста", "время", "человек", "съешь", "ещё",
  "этих", "мягких", "французских", "булок", "да", "выпей", "же", "чаю", "Україна", "їжак", "Ґанок"];
const AR = ["مرحبا", "بالعالم", "اللغة", "العربية", "شكرا", "كتاب", "مدرسة", "الحاسوب", "بيانات",
  "نموذج", "السلام", "عليكم", "جميل", "اليوم"];
const EL = ["Γειά", "σου", "κόσμε", "αλφάβητο", "Ελληνικά", "λόγος", "θεός"];
const HE = ["שלום", "עולם", "עברית", "ספר", "תודה"];
const HI = ["नमस्ते", "दुनिया", "हिन्दी", "भाषा", "कंप्यूटर", "धन्यवाद"];
const TH = ["สวัสดี", "ภาษาไทย", "ขอบคุณ", "คอมพิวเตอร์"];
const LATIN_ACC = ["naïve", "café", "Zürich", "Straße", "façade", "déjà", "vu", "élève", "Ærø",
  "smørrebrød", "São", "Paulo", "ação", "niño", "mañana", "Łódź", "źdźbło", "Žluťoučký", "kůň",
  "Tiếng", "Việt", "Nguyễn", "Ğüşiöç", "İstanbul", "Ångström", "crème", "brûlée", "über", "Øresund",
  "coöperate", "résumé", "jalapeño", "Dvořák", "Đà", "Nẵng", "ﬁnance"];
const EMOJI = ["😀", "😂", "🙂", "🤔", "🚀", "🔥", "✨", "💯", "🎉", "👍", "👋", "🐍", "🦀", "☕",
  "🌍", "⭐", "✅", "❌", "⚠", "📦", "💡", "🧠", "😊", "🙏", "🍕", "🎵"];
const SKIN = ["🏻", "🏼", "🏽", "🏾", "🏿"];
const ZWJ_SEQ = ["👨‍👩‍👧‍👦", "👩‍💻", "🧑‍🚀", "👨‍🍳", "🏳️‍🌈", "🐻‍❄️", "❤️‍🔥", "👩🏽‍🔬", "🫱🏼‍🫲🏿"];
const FLAGS = ["🇺🇸", "🇯🇵", "🇩🇪", "🇫🇷", "🇨🇳", "🇰🇷", "🇮🇹", "🇧🇷", "🇺🇦", "🏴󠁧󠁢󠁳󠁣󠁴󠁿"];
const KEYCAPS = ["1️⃣", "2️⃣", "#️⃣", "*️⃣", "🔟"];
const SYMBOLS = ["©", "®", "™", "€", "£", "¥", "§", "¶", "°", "±", "×", "÷", "µ", "←", "→", "↔",
  "⇒", "∀", "∃", "∈", "∑", "√", "∞", "≈", "≠", "≤", "≥", "♥", "★", "☆", "♪", "•", "…", "—", "–",
  "«", "»", "“", "”", "‘", "’", "¿", "¡", "‰", "′", "″", "†", "‡", "π", "λ", "Ω", "∆"];
const PUNCT_CLUSTERS = ["!!!", "?!", "...", "---", "***", "===", "<=>", "->", "=>", "::", "//",
  "/*", "*/", "#!", "@@", "~~~", "```", "|||", "\\\\", ">>=", "<<", "!==", "&&", "||", "??", "?.",
  "(){}", "[]", "{{", "}}", ";;", ",,", "..", "%%", "^^", "$$", "''", '""', "`'", "--", "++", "#"];
const TLD = ["com", "org", "net", "io", "dev", "co.uk", "de", "jp"];

// ---------------------------------------------------------------------------------------
// Small helpers
const cap = (w) => w.charAt(0).toUpperCase() + w.slice(1);
const num = () => {
  switch (int(0, 9)) {
    case 0: return String(int(0, 9));
    case 1: return String(int(10, 999));
    case 2: return String(int(1000, 9999999));
    case 3: return times(int(8, 30), () => int(0, 9)).join("");
    case 4: return `${int(0, 999)}.${int(0, 99999)}`;
    case 5: return `-${int(1, 9999)}`;
    case 6: return `${int(1, 9)}.${int(0, 999)}e${pick(["", "-", "+"])}${int(1, 30)}`;
    case 7: return `0x${int(0, 0xffffff).toString(16)}`;
    case 8: return `${int(1, 999)},${String(int(0, 999)).padStart(3, "0")},${String(int(0, 999)).padStart(3, "0")}`;
    default: return `${int(1, 9)}_${String(int(0, 999)).padStart(3, "0")}_${String(int(0, 999)).padStart(3, "0")}`;
  }
};
const str = () => pick(["hello", "world", "Hello, world!", "%d items", "error: %s", "", "OK", "a b c",
  "path/to/file.txt", "utf-8", "\\n", "C:\\\\temp", "it's", "say \\\"hi\\\"", "日本", "naïve", "🚀"]);
const ident = () => pick(IDENT);
const indentUnit = () => pick(["  ", "    ", "\t", "        "]);

// ---------------------------------------------------------------------------------------
// Generators: each returns one string of one kind.
function prose() {
  const sentences = times(int(1, 8), () => {
    let ws = words(EN, 3, 18);
    if (chance(0.3)) ws.splice(int(0, ws.length), 0, pick(CONTRACTIONS));
    if (chance(0.2)) ws.splice(int(0, ws.length), 0, num());
    if (chance(0.15)) ws.splice(int(0, ws.length), 0, `"${pick(EN)} ${pick(EN)}"`);
    if (chance(0.15)) ws.splice(int(0, ws.length), 0, `(${pick(EN)})`);
    if (chance(0.1)) ws.splice(int(0, ws.length), 0, `${pick(EN)}-${pick(EN)}`);
    if (chance(0.1)) ws.splice(int(0, ws.length), 0, pick(["e.g.", "i.e.", "etc.", "vs.", "Dr.", "U.S.", "a.m."]));
    if (chance(0.1)) ws.splice(int(0, ws.length), 0, `$${int(1, 999)}.${int(10, 99)}`);
    if (chance(0.1)) ws.splice(int(0, ws.length), 0, `“${pick(EN)} ${pick(EN)}”`);
    if (chance(0.05)) ws.splice(int(0, ws.length), 0, `‘${pick(EN)}’`);
    if (chance(0.05)) ws.splice(int(0, ws.length), 0, pick(["—", "–", "…", "•", "§"]));
    if (chance(0.05)) ws.splice(int(0, ws.length), 0, `${pick(EN)}’s`);
    if (chance(0.05)) ws.splice(int(0, ws.length), 0, pick(LATIN_ACC));
    if (chance(0.1)) ws.splice(int(0, ws.length), 0, `${int(1, 100)}%`);
    let s = ws.join(pick([" ", " ", " ", " ", ", "]));
    s = cap(s) + pick([".", ".", ".", "?", "!", "...", ":", ";", "?!"]);
    return s;
  });
  return sentences.join(pick([" ", " ", "  ", "\n", "\n\n"]));
}

function python() {
  const ind = pick(["    ", "  ", "\t"]);
  const f = ident(), a = ident(), b = ident();
  const lines = [];
  if (chance(0.5)) lines.push(pick(["import os", "import sys, re", "from typing import List, Dict", "import numpy as np", "from __future__ import annotations"]));
  if (chance(0.3)) lines.push("", `@${pick(["dataclass", "staticmethod", "property", "lru_cache(maxsize=128)"])}`);
  lines.push(`def ${f}(${a}, ${b}=${num()}, *args, **kwargs) -> ${pick(["int", "str", "None", "List[int]", "dict"])}:`);
  lines.push(`${ind}"""${cap(pick(EN))} ${pick(EN)} ${pick(EN)}."""`);
  for (let k = int(1, 6); k > 0; k--) {
    switch (int(0, 7)) {
      case 0: lines.push(`${ind}if ${a} ${pick([">", "<", "==", "!=", ">=", "is not"])} ${pick([b, num(), "None"])}:`, `${ind}${ind}return ${pick([a, b, num(), "[]", "{}"])}`); break;
      case 1: lines.push(`${ind}for ${ident()} in range(${num()}):`, `${ind}${ind}${ident()} += ${ident()} * ${num()}`); break;
      case 2: lines.push(`${ind}${ident()} = {'${ident()}': ${num()}, "${ident()}": ${pick(["None", "True", "False", "[]"])}}`); break;
      case 3: lines.push(`${ind}print(f"{${a}} = {${b}!r:>${int(1, 20)}}")`); break;
      case 4: lines.push(`${ind}${ident()} = [${a} ** 2 for ${a} in ${b} if ${a} % 2 == 0]`); break;
      case 5: lines.push(`${ind}try:`, `${ind}${ind}${ident()} = ${ident()}.${ident()}(${str() ? `"${str()}"` : ""})`, `${ind}except (ValueError, KeyError) as e:`, `${ind}${ind}raise RuntimeError("failed") from e`); break;
      case 6: lines.push(`${ind}# ${pick(EN)} ${pick(EN)}: ${pick(EN)}`); break;
      default: lines.push(`${ind}with open("${ident()}.txt", "w", encoding="utf-8") as fh:`, `${ind}${ind}fh.write(${a}.strip() + "\\n")`); break;
    }
  }
  lines.push(`${ind}return ${a}`);
  if (chance(0.3)) lines.push("", "", `if __name__ == "__main__":`, `${ind}${f}(${num()}, ${num()})`);
  return lines.join(pick(["\n", "\n", "\r\n"])) + pick(["", "\n", "\n\n"]);
}

function cLang() {
  const ind = pick(["    ", "  ", "\t"]);
  const f = ident(), t = pick(TYPES_C);
  const lines = [];
  if (chance(0.6)) lines.push(pick(["#include <stdio.h>", "#include <stdlib.h>", "#include <string.h>", "#include \"ds4.h\"", "#define MAX(a, b) ((a) > (b) ? (a) : (b))"]));
  if (chance(0.3)) lines.push(`/* ${pick(EN)} ${pick(EN)} ${pick(EN)} */`);
  lines.push(`static ${t} ${f}(${pick(TYPES_C)} ${ident()}, ${pick(TYPES_C)} *${ident()}) {`);
  for (let k = int(1, 6); k > 0; k--) {
    switch (int(0, 6)) {
      case 0: lines.push(`${ind}for (int i = 0; i < ${num()}; i++) {`, `${ind}${ind}${ident()}[i] = ${ident()}->${ident()} + ${num()};`, `${ind}}`); break;
      case 1: lines.push(`${ind}if (${ident()} == NULL || ${ident()} != ${num()}) return -1;`); break;
      case 2: lines.push(`${ind}printf("%d %s\\n", ${ident()}, ${ident()});`); break;
      case 3: lines.push(`${ind}${ident()} = (${pick(TYPES_C)})malloc(sizeof(*${ident()}) * ${num()});`); break;
      case 4: lines.push(`${ind}// ${pick(EN)} ${pick(EN)}`); break;
      case 5: lines.push(`${ind}while (*p && *p != '\\0') p++;`); break;
      default: lines.push(`${ind}${ident()} |= (${ident()} << ${int(1, 31)}) & 0x${int(0, 65535).toString(16)}u;`); break;
    }
  }
  lines.push(`${ind}return ${ident()};`, "}");
  return lines.join("\n") + pick(["", "\n", "\n\n"]);
}

function cpp() {
  const ind = pick(["    ", "  "]);
  const lines = [];
  if (chance(0.6)) lines.push(pick(["#include <vector>", "#include <string>", "#include <memory>", "#include <unordered_map>", "#pragma once"]));
  lines.push(`namespace ${ident()} {`, "");
  lines.push(`template <typename T, std::size_t N = ${int(1, 64)}>`);
  lines.push(`class ${cap(ident())} : public ${cap(ident())}<T> {`, "public:");
  for (let k = int(1, 5); k > 0; k--) {
    switch (int(0, 5)) {
      case 0: lines.push(`${ind}std::vector<std::unique_ptr<T>> ${ident()}_;`); break;
      case 1: lines.push(`${ind}auto ${ident()} = [&](const auto &${ident()}) -> int { return ${ident()}.size(); };`); break;
      case 2: lines.push(`${ind}constexpr static int ${ident()} = ${num()};`); break;
      case 3: lines.push(`${ind}std::unordered_map<std::string, std::vector<int>> m{{"${ident()}", {${num()}, ${num()}}}};`); break;
      case 4: lines.push(`${ind}${ident()}::${ident()}<T>::${ident()}(this->${ident()}_++);`); break;
      default: lines.push(`${ind}virtual ~${cap(ident())}() noexcept override = default;`); break;
    }
  }
  lines.push("};", "", `}  // namespace ${ident()}`);
  return lines.join("\n") + pick(["", "\n"]);
}

function js() {
  const ind = pick(["  ", "    ", "\t"]);
  const lines = [];
  if (chance(0.5)) lines.push(pick([`import { ${ident()}, ${ident()} } from "./${ident()}.js";`, `const fs = require('fs');`, `"use strict";`]));
  lines.push(`export async function ${ident()}(${ident()}, { ${ident()} = ${num()}, ...rest } = {}) {`);
  for (let k = int(1, 6); k > 0; k--) {
    switch (int(0, 6)) {
      case 0: lines.push(`${ind}const ${ident()} = ${ident()}?.${ident()} ?? ${num()};`); break;
      case 1: lines.push(`${ind}if (${ident()} === undefined || ${ident()} !== null) throw new Error(\`bad \${${ident()}}: \${${num()}}\`);`); break;
      case 2: lines.push(`${ind}const res = await fetch("https://api.${ident()}.${pick(TLD)}/v${int(1, 3)}/${ident()}?q=${ident()}&n=${num()}");`); break;
      case 3: lines.push(`${ind}${ident()}.map((x) => x * ${num()}).filter(Boolean).forEach(console.log);`); break;
      case 4: lines.push(`${ind}let { ${ident()}, ${ident()}: [${ident()}] } = JSON.parse(${ident()});`); break;
      case 5: lines.push(`${ind}// TODO(${ident()}): ${pick(EN)} ${pick(EN)}`); break;
      default: lines.push(`${ind}for (let i = 0; i < ${ident()}.length; ++i) ${ident()} += ${ident()}[i] << ${int(1, 8)};`); break;
    }
  }
  lines.push(`${ind}return ${ident()};`, "}");
  return lines.join("\n") + pick(["", "\n"]);
}

function rust() {
  const ind = "    ";
  const lines = [];
  if (chance(0.5)) lines.push(pick(["use std::collections::HashMap;", "use std::io::{self, Read};", "#![allow(dead_code)]"]));
  if (chance(0.5)) lines.push("#[derive(Debug, Clone, PartialEq)]");
  lines.push(`pub fn ${ident()}<'a, T: Clone + Send>(${ident()}: &'a mut Vec<T>, ${ident()}: usize) -> Result<Option<&'a T>, String> {`);
  for (let k = int(1, 5); k > 0; k--) {
    switch (int(0, 5)) {
      case 0: lines.push(`${ind}let mut ${ident()}: HashMap<String, i64> = HashMap::new();`); break;
      case 1: lines.push(`${ind}match ${ident()}.get(${num().replace("-", "")}) {`, `${ind}${ind}Some(v) => return Ok(Some(v)),`, `${ind}${ind}None => {}`, `${ind}}`); break;
      case 2: lines.push(`${ind}let ${ident()} = ${ident()}.iter().map(|x| x.clone()).collect::<Vec<_>>();`); break;
      case 3: lines.push(`${ind}println!("{} {:?} {:>8.3}", ${ident()}, ${ident()}, ${num()});`); break;
      case 4: lines.push(`${ind}let n = std::fs::read_to_string("${ident()}.rs")?;`); break;
      default: lines.push(`${ind}// ${pick(EN)} ${pick(EN)}`); break;
    }
  }
  lines.push(`${ind}Err(format!("not found: {}", ${ident()}))`, "}");
  return lines.join("\n") + pick(["", "\n"]);
}

function go() {
  const lines = ["package main", "", "import (", '\t"fmt"', '\t"os"', ")", ""];
  lines.push(`func ${ident()}(${ident()} []int, ${ident()} string) (int, error) {`);
  for (let k = int(1, 5); k > 0; k--) {
    switch (int(0, 4)) {
      case 0: lines.push(`\t${ident()} := make(map[string]int, ${num().replace("-", "")})`); break;
      case 1: lines.push(`\tif err != nil {`, `\t\treturn 0, fmt.Errorf("${ident()}: %w", err)`, "\t}"); break;
      case 2: lines.push(`\tfor i, v := range ${ident()} {`, `\t\t${ident()} += v * i`, "\t}"); break;
      case 3: lines.push(`\tfmt.Fprintf(os.Stderr, "%s=%d\\n", ${ident()}, len(${ident()}))`); break;
      default: lines.push(`\tdefer ${ident()}.Close()`); break;
    }
  }
  lines.push(`\treturn ${ident()}, nil`, "}");
  return lines.join("\n") + pick(["", "\n"]);
}

function shell() {
  const lines = [];
  if (chance(0.6)) lines.push("#!/usr/bin/env bash", "set -euo pipefail");
  for (let k = int(1, 6); k > 0; k--) {
    switch (int(0, 6)) {
      case 0: lines.push(`for f in ${pick(["*.txt", "src/*.c", "\"$@\""])}; do`, `  echo "processing $f" >&2`, "done"); break;
      case 1: lines.push(`${ident().toUpperCase()}="\${${ident().toUpperCase()}:-${ident()}}"`); break;
      case 2: lines.push(`if [ -f "${ident()}.conf" ] && [[ $# -gt ${int(0, 3)} ]]; then`, `  source ./${ident()}.conf`, "fi"); break;
      case 3: lines.push(`grep -rn "${ident()}" . | sort -u | head -n ${int(1, 100)} 2>&1 | tee /tmp/out.log`); break;
      case 4: lines.push(`cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build -j$(nproc)`); break;
      case 5: lines.push(`export PATH="$HOME/.local/bin:$PATH"  # ${pick(EN)}`); break;
      default: lines.push(`ls -la ~/${ident()} | awk '{print $5}' | xargs -I{} echo {}`); break;
    }
  }
  return lines.join("\n") + pick(["", "\n"]);
}

function jsonValue(depth) {
  if (depth > 2 || chance(0.4)) {
    return pick([() => num().replace(/[_,]/g, ""), () => `"${str()}"`, () => "true", () => "false", () => "null", () => `"${pick(EN)} ${pick(EN)}"`])();
  }
  if (chance(0.5)) return `[${times(int(0, 4), () => jsonValue(depth + 1)).join(", ")}]`;
  return `{${times(int(1, 4), () => `"${ident()}": ${jsonValue(depth + 1)}`).join(", ")}}`;
}
function json() {
  const v = `{${times(int(1, 6), () => `"${ident()}": ${jsonValue(0)}`).join(", ")}}`;
  if (chance(0.5)) {
    try {
      return JSON.stringify(JSON.parse(v), null, pick([2, 4, "\t"]));
    } catch {
      return v; // not valid JSON (e.g. a "\n" inside a string): still fine as text
    }
  }
  return v;
}

function html() {
  const lines = [];
  if (chance(0.4)) lines.push("<!DOCTYPE html>", '<html lang="en">', "<head>", '  <meta charset="utf-8">', `  <title>${cap(pick(EN))} ${pick(EN)}</title>`, "</head>");
  lines.push(`<div class="${ident()} ${ident()}" id="${ident()}" data-n="${num()}">`);
  for (let k = int(1, 5); k > 0; k--) {
    switch (int(0, 5)) {
      case 0: lines.push(`  <p>${cap(pick(EN))} <b>${pick(EN)}</b> &amp; <i>${pick(EN)}</i> &lt;tag&gt;</p>`); break;
      case 1: lines.push(`  <a href="https://www.${ident()}.${pick(TLD)}/${ident()}?a=1&amp;b=2">${pick(EN)}</a>`); break;
      case 2: lines.push(`  <img src="/img/${ident()}.png" alt="${pick(EN)}" width=${int(1, 999)} />`); break;
      case 3: lines.push(`  <script>document.querySelector("#${ident()}").addEventListener('click', () => alert(${num()}));</script>`); break;
      case 4: lines.push(`  <style>.${ident()} { margin: ${int(0, 20)}px auto; color: #${int(0, 0xffffff).toString(16).padStart(6, "0")}; }</style>`); break;
      default: lines.push(`  <!-- ${pick(EN)} ${pick(EN)} -->`); break;
    }
  }
  lines.push("</div>");
  return lines.join("\n") + pick(["", "\n"]);
}

function markdown() {
  const lines = [];
  lines.push(`${"#".repeat(int(1, 4))} ${cap(pick(EN))} ${pick(EN)}`, "");
  for (let k = int(1, 6); k > 0; k--) {
    switch (int(0, 7)) {
      case 0: lines.push(`- ${pick(EN)} **${pick(EN)}** and _${pick(EN)}_`, `- \`${ident()}()\` returns ${num()}`); break;
      case 1: lines.push(`${int(1, 9)}. ${cap(pick(EN))} [${pick(EN)}](https://${ident()}.${pick(TLD)}/${ident()})`); break;
      case 2: lines.push("```" + pick(["python", "c", "bash", "json", ""]), `${ident()} = ${num()}`, "```"); break;
      case 3: lines.push(`| ${ident()} | ${ident()} | ${ident()} |`, "|---|:---:|--:|", `| ${num()} | ${pick(EN)} | ${num()} |`); break;
      case 4: lines.push(`> ${cap(pick(EN))} ${pick(EN)} ${pick(EN)}.`); break;
      case 5: lines.push(`![${pick(EN)}](./img/${ident()}.png "${pick(EN)}")`); break;
      case 6: lines.push("---"); break;
      default: lines.push(`* [ ] ${pick(EN)}`, `* [x] ~~${pick(EN)}~~`); break;
    }
    if (chance(0.4)) lines.push("");
  }
  return lines.join("\n") + pick(["", "\n"]);
}

function url() {
  const parts = [];
  for (let k = int(1, 4); k > 0; k--) {
    switch (int(0, 5)) {
      case 0: parts.push(`https://www.${ident()}.${pick(TLD)}/${ident()}/${ident()}.html?query=${pick(EN)}&page=${int(1, 99)}#${ident()}`); break;
      case 1: parts.push(`http://${int(1, 255)}.${int(0, 255)}.${int(0, 255)}.${int(1, 254)}:${int(1, 65535)}/`); break;
      case 2: parts.push(`${pick(EN)}.${ident()}@${ident()}.${pick(TLD)}`); break;
      case 3: parts.push(`/usr/local/lib/${ident()}/${ident()}.so.${int(0, 9)}`); break;
      case 4: parts.push(`C:\\Users\\${cap(pick(EN))}\\Documents\\${ident()}.docx`); break;
      default: parts.push(`git@github.com:${ident()}/${ident()}.git`); break;
    }
  }
  return parts.join(pick([" ", "\n", ", "]));
}

function numbers() {
  return times(int(1, 12), () => pick([num, num, () => `${int(2000, 2030)}-${String(int(1, 12)).padStart(2, "0")}-${String(int(1, 28)).padStart(2, "0")}T${String(int(0, 23)).padStart(2, "0")}:${String(int(0, 59)).padStart(2, "0")}:00Z`,
    () => `+${int(1, 99)} ${int(100, 999)}-${int(1000, 9999)}`, () => `v${int(0, 9)}.${int(0, 20)}.${int(0, 99)}`,
    () => `${int(1, 12)}:${String(int(0, 59)).padStart(2, "0")}`, () => `${num()}${pick(["km", "ms", "GB", "%", "px", "x"])}`])()).join(pick([" ", ", ", "\n", "; ", "+", "*", " / "]));
}

function whitespace() {
  const pieces = [" ", "  ", "   ", "    ", "\t", "\t\t", "\n", "\n\n", "\r\n", "\r\n\r\n", " \n", "\n ", " \t ", "\r", "\v", "\f", "        "];
  return times(int(1, 10), () => pick([() => pick(pieces), () => pick(EN), () => pick(PUNCT_CLUSTERS), () => num(), () => pick(ZH), () => pick(LATIN_ACC)])()).join(pick(["", "", " "])) + (chance(0.5) ? pick(pieces) : "");
}

function punctuation() {
  return times(int(1, 10), () => pick([() => pick(PUNCT_CLUSTERS), () => pick(EN), () => `${pick(PUNCT_CLUSTERS)}${pick(EN)}`, () => pick([" ", "\n", ""])])()).join(pick(["", " ", "\n"]));
}

function cjk() {
  const zh = () => times(int(1, 8), () => pick(ZH) + (chance(0.4) ? pick(ZH_PUNCT) : "")).join("");
  const ja = () => times(int(1, 8), () => pick(JA) + (chance(0.4) ? pick(JA_PUNCT) : "")).join("");
  return times(int(1, 3), () => pick([zh, ja])()).join(pick(["", "\n", " "]));
}

function korean() {
  return times(int(1, 10), () => pick(KO)).join(" ") + pick([".", "?", "!", ""]);
}

function otherScripts() {
  const lists = [RU, AR, EL, HE, HI, TH, LATIN_ACC];
  const list = pick(lists);
  return times(int(1, 12), () => pick(list)).join(pick([" ", " ", ", "])) + pick([".", "?", "!", "", ":"]);
}

function emoji() {
  return times(int(1, 8), () => pick([
    () => pick(EMOJI), () => pick(EMOJI) + pick(SKIN), () => pick(ZWJ_SEQ), () => pick(FLAGS),
    () => pick(KEYCAPS), () => pick(EN), () => " ",
  ])()).join(pick(["", " ", " "]));
}

function symbols() {
  return times(int(1, 8), () => pick([() => pick(SYMBOLS), () => pick(EN), () => num()])()).join(pick(["", " "]));
}

function mixed() {
  const gens = [prose, cjk, korean, otherScripts, emoji, numbers, punctuation, url, symbols];
  return times(int(2, 5), () => pick(gens)()).join(pick(["", " ", "\n", "\n\n", " - "]));
}

function longDoc() {
  const gens = [prose, python, cLang, cpp, js, rust, go, shell, json, html, markdown];
  return times(int(5, 20), () => pick(gens)()).join(pick(["\n\n", "\n", "\r\n"]));
}

function tiny() {
  const alphabet = [..."abcXYZ019 \t\n\r.,;:!?'\"()[]{}<>-_=+*/\\|&^%$#@~`", "é", "中", "ー", "😀", "ß", "Ω"];
  return times(int(1, 6), () => pick(alphabet)).join("");
}

const KINDS = [
  ["prose", prose, 14], ["python", python, 8], ["c", cLang, 7], ["cpp", cpp, 6], ["js", js, 6],
  ["rust", rust, 5], ["go", go, 5], ["shell", shell, 5], ["json", json, 5], ["html", html, 5],
  ["markdown", markdown, 5], ["url", url, 4], ["numbers", numbers, 5], ["whitespace", whitespace, 5],
  ["punctuation", punctuation, 4], ["cjk", cjk, 6], ["korean", korean, 3], ["scripts", otherScripts, 6],
  ["emoji", emoji, 4], ["symbols", symbols, 4], ["mixed", mixed, 8], ["long", longDoc, 2], ["tiny", tiny, 5],
];
const TOTAL_W = KINDS.reduce((s, k) => s + k[2], 0);
function pickKind() {
  let r = rnd() * TOTAL_W;
  for (const k of KINDS) {
    if ((r -= k[2]) < 0) return k;
  }
  return KINDS[KINDS.length - 1];
}

// ---------------------------------------------------------------------------------------
// Exclusions (see the header): rewrite the constructs where ds4's splitter and the
// reference regex diverge by design, so that any mismatch left is a real bug.  Each rule
// names its class in tests/tokenizer/npm_divergences.jsonl, where examples are asserted
// with ds4's ids.  The mechanism is always the one of tokenizer.md §4.2: ds4 treats every
// non-ASCII character as a letter, the regex consults Unicode categories (and isolates
// CJK runs before its other rules).
const NON_ASCII_PS = /[\p{P}\p{S}]/u;
const isNonAsciiPS = (ch) => ch.codePointAt(0) > 0x7f && NON_ASCII_PS.test(ch);
const isAsciiPunct = (ch) => /^[!-\/:-@\[-`{-~]$/.test(ch);
function sanitize(s) {
  // D1 (tokenizer.md §4.2, " " + U+00A0 + letters): Unicode whitespace is \s to the regex
  // but a letter to ds4.  Replaced by an ASCII space.
  s = s.replace(/[\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]/g, " ");
  // D5: non-ASCII digits/numbers (\p{N}: Arabic-Indic, superscripts, fractions, fullwidth):
  // the regex cuts them into runs of 1-3 before anything else, ds4 joins them to letters
  // and to a preceding space.  Dropped.
  s = s.replace(/[^\x00-\x7f]/gu, (ch) => (/\p{N}/u.test(ch) ? "" : ch));
  // D6: a format character (ZWJ, ZWNJ, ZWSP, ...) after a blank or at the start of a word:
  // the regex's letter rule takes it as its one-character prefix instead of the blank.
  // Format characters are kept only between two non-ASCII, non-blank characters (emoji ZWJ
  // sequences, tag sequences of subdivision flags).
  {
    const cps = Array.from(s);
    s = cps.filter((ch, i) => {
      if (!/\p{Cf}/u.test(ch)) return true;
      const prev = cps[i - 1], next = cps[i + 1];
      return prev !== undefined && next !== undefined && prev.codePointAt(0) > 0x7f && next.codePointAt(0) > 0x7f &&
        !/\p{Cf}/u.test(prev);
    }).join("");
  }
  // D2: two or more ASCII blanks before a CJK/kana character: the regex isolates CJK runs
  // first, so the whole blank run stays one piece; ds4 gives the last blank to the CJK
  // word.  (A single space gives the same ids: no merge joins "Ġ" with a CJK byte.)
  s = s.replace(/[ \t\v\f]{2,}(?=[\u3040-\u30ff\u4e00-\u9fa5])/g, " ");
  // D3 and D4: a non-ASCII punctuation/symbol character (emoji included) next to a CR/LF
  // after it (D3) or next to ASCII punctuation on either side (D4): the regex makes one
  // punctuation run "[\p{P}\p{S}]+[\r\n]*" of them, ds4's ASCII-only punctuation rule
  // stops at the non-ASCII character.  A space is put between them.
  {
    const cps = Array.from(s);
    let out = "";
    for (let i = 0; i < cps.length; i++) {
      const ch = cps[i], next = cps[i + 1];
      out += ch;
      if (next === undefined) break;
      if ((isNonAsciiPS(ch) && (next === "\n" || next === "\r" || isAsciiPunct(next))) ||
          (isAsciiPunct(ch) && isNonAsciiPS(next))) {
        out += " ";
      }
    }
    s = out;
  }
  // The insertions above can create a new D2 blank run before CJK: collapse again.
  return s.replace(/[ \t\v\f]{2,}(?=[\u3040-\u30ff\u4e00-\u9fa5])/g, " ");
}

const out = [];
// Every kind at least once, in order, then weighted random kinds.
for (const [kind, gen] of KINDS) out.push({ kind, text: sanitize(gen()) });
while (out.length < COUNT) {
  const [kind, gen] = pickKind();
  const text = sanitize(gen());
  if (text.length === 0) continue;
  out.push({ kind, text });
}
writeFileSync(OUT, out.map((o, id) => JSON.stringify({ id, kind: o.kind, text: o.text })).join("\n") + "\n");
console.error(`make_corpus: wrote ${out.length} strings (seed ${SEED}) to ${OUT}`);
