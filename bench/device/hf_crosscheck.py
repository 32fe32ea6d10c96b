#!/usr/bin/env python3
"""dstar's CPU forward pass against Hugging Face transformers' DeepseekV4ForCausalLM.

For each random model below (built with transformers, random weights, fp32, CPU, no TF32):
  * transformers computes the logits after every position of prompts of 1, 37, 300 and 520
    tokens twice: one full-sequence forward (prefill) and one token at a time through its
    cache (decode); then an 8-token greedy continuation (prompt forward, cached decode);
  * the checkpoint is saved with save_pretrained, converted with
    `dstar-gguf convert --quant f32`, and dstar runs the same token ids with `--no-qat`
    (transformers has no FP8/FP4 simulation) and `--indexer-ties torch` (exact indexer
    score ties broken as torch.topk does, docs/NUMERICS.md) twice: the prompt as one batch
    and token by token (`--prefill-chunk 1`), writing all logits with `--dump-logits`, and
    8 greedy tokens after the batched prompt;
  * dstar prefill is compared with transformers prefill and dstar decode with transformers
    decode: max |difference| over every logit (required <= 1e-3), argmax at every position
    and the greedy continuation (required equal).  transformers' own prefill-vs-decode
    difference is recorded too (with tied indexer scores its top-k can choose differently).
The "wide" model (rows multiple of 256) is also converted to q8, q4 and q2 and compared
with its f32 conversion: mean KL(f32 || quantized) per position and top-1 agreement.

usage: hf_crosscheck.py --bin DIR_WITH_DSTAR_TOOLS --out OUT_DIR [--work WORK_DIR]
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
import torch
from transformers import DeepseekV4Config, DeepseekV4ForCausalLM

# transformers' own test config (tests/models/deepseek_v4: DeepseekV4ModelTester), with a
# vocabulary large enough for the byte-level tokenizer dstar's loader needs (its tester uses 99).
TF_TEST = dict(vocab_size=512, hidden_size=64, num_attention_heads=4, num_key_value_heads=1, num_hidden_layers=2,
               num_experts_per_tok=2, moe_intermediate_size=64, max_position_embeddings=64, head_dim=32,
               partial_rotary_factor=8 / 32, q_lora_rank=32, o_groups=2, o_lora_rank=16, n_routed_experts=4,
               n_shared_experts=1, mlp_layer_types=["moe", "moe"],
               layer_types=["heavily_compressed_attention", "compressed_sparse_attention"], sliding_window=8,
               hc_mult=2, hc_sinkhorn_iters=3, hc_eps=1.0e-6, index_n_heads=2, index_head_dim=16, index_topk=2,
               num_nextn_predict_layers=0, scoring_func="sqrtsoftplus", routed_scaling_factor=1.5, swiglu_limit=10.0,
               rope_theta=10000.0, compress_rope_theta=160000.0)

CONFIGS = {
    "tf-test": TF_TEST,
    # Prompt far longer than the window; ratio-4 layers produce many more compressed rows than
    # the indexer keeps (top-4 of up to 100), ratio-16 layers several rows.
    "window-topk": dict(vocab_size=512, hidden_size=64, moe_intermediate_size=32, num_hidden_layers=4,
                        num_attention_heads=4, head_dim=64, qk_rope_head_dim=16, q_lora_rank=32, o_groups=2,
                        o_lora_rank=16, n_routed_experts=8, num_experts_per_tok=2, index_n_heads=2,
                        index_head_dim=16, index_topk=4, sliding_window=16, hc_mult=4,
                        compress_rates={"compressed_sparse_attention": 4, "heavily_compressed_attention": 16},
                        layer_types=["compressed_sparse_attention", "heavily_compressed_attention",
                                     "compressed_sparse_attention", "sliding_attention"],
                        mlp_layer_types=["hash_moe", "moe", "moe", "moe"]),
    # Every attention kind with hash-routed and learned-router layers (the Flash pattern).
    "all-kinds": dict(vocab_size=512, hidden_size=96, moe_intermediate_size=48, num_hidden_layers=6,
                      num_attention_heads=4, head_dim=64, qk_rope_head_dim=16, q_lora_rank=32, o_groups=2,
                      o_lora_rank=24, n_routed_experts=8, num_experts_per_tok=3, index_n_heads=3,
                      index_head_dim=32, index_topk=5, sliding_window=12, hc_mult=4,
                      layer_types=["sliding_attention", "sliding_attention", "compressed_sparse_attention",
                                   "heavily_compressed_attention", "compressed_sparse_attention",
                                   "heavily_compressed_attention"],
                      mlp_layer_types=["hash_moe", "hash_moe", "hash_moe", "moe", "moe", "moe"]),
    # Rows that are whole Q8_0 / K-quant blocks, for the quantization drift figures.
    "wide": dict(vocab_size=1024, hidden_size=256, moe_intermediate_size=256, num_hidden_layers=4,
                 num_attention_heads=4, head_dim=128, qk_rope_head_dim=32, q_lora_rank=64, o_groups=2,
                 o_lora_rank=64, n_routed_experts=8, num_experts_per_tok=2, index_n_heads=2, index_head_dim=32,
                 index_topk=8, sliding_window=32, hc_mult=4,
                 layer_types=["sliding_attention", "compressed_sparse_attention", "heavily_compressed_attention",
                              "compressed_sparse_attention"],
                 compress_rates={"compressed_sparse_attention": 4, "heavily_compressed_attention": 32},
                 mlp_layer_types=["hash_moe", "moe", "moe", "moe"]),
}
QUANT_DRIFT = ["wide"]


def byte_tokenizer(vocab):
    """GPT-2 byte-level table + the DeepSeek V4 chat specials + padding (ids fed directly)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    vocab_map = {chr(c): i for i, c in enumerate(cs)}
    specials = ["<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>", "<think>",
                "</think>", "｜DSML｜"]
    added = []
    for i, s in enumerate(specials):
        vocab_map[s] = 256 + i
        added.append({"id": 256 + i, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
                      "normalized": False, "special": True})
    for i in range(256 + len(specials), vocab):
        vocab_map["<｜pad%d｜>" % i] = i
    return {"version": "1.0", "added_tokens": added, "normalizer": None,
            "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "use_regex": False},
            "model": {"type": "BPE", "vocab": vocab_map, "merges": []}}


def build(name, kw, gen, work):
    torch.manual_seed(abs(hash(name)) % 1000)
    cfg = DeepseekV4Config(**kw)
    m = DeepseekV4ForCausalLM(cfg).eval()
    with torch.no_grad():
        for n, p in m.named_parameters():
            if p.dim() >= 2:
                p.copy_(torch.randn(p.shape, generator=gen) * (1.0 / p.shape[-1] ** 0.5))
            elif "norm" in n:
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
        for n, b in m.named_buffers():
            if n.endswith("tid2eid"):  # distinct experts per token
                b.copy_(torch.stack([torch.randperm(cfg.n_routed_experts, generator=gen)[:cfg.num_experts_per_tok]
                                     for _ in range(cfg.vocab_size)]))
            elif n.endswith("e_score_correction_bias"):
                b.copy_(0.1 * torch.randn(b.shape, generator=gen))
    d = os.path.join(work, name)
    os.makedirs(d, exist_ok=True)
    m.save_pretrained(d, safe_serialization=True)
    json.dump(byte_tokenizer(cfg.vocab_size), open(os.path.join(d, "tokenizer.json"), "w"), ensure_ascii=False)
    return m, cfg, d


def run(cmd):
    t = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.stderr.write("FAILED: %s\n%s\n%s\n" % (" ".join(cmd), r.stdout, r.stderr))
        raise SystemExit(1)
    return r.stdout, time.time() - t


def dstar_logits(bin_dir, gguf, ids, vocab, chunk, out_file, n_greedy=8, ties="torch"):
    out, _ = run([os.path.join(bin_dir, "dstar"), "-m", gguf, "--no-qat", "--indexer-ties", ties, "-t", "8",
                  "--prefill-chunk", str(chunk),
                  "--ctx", str(len(ids) + n_greedy + 8), "--prompt-ids", ",".join(map(str, ids)),
                  "--dump-logits", out_file, "-n", str(n_greedy)])
    lg = np.fromfile(out_file, dtype="<f4").reshape(len(ids), vocab)
    return lg, [int(x) for x in out.split()]


def log_softmax(x):
    x = x.astype(np.float64)
    mx = x.max(axis=-1, keepdims=True)
    return x - mx - np.log(np.exp(x - mx).sum(axis=-1, keepdims=True))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--work", default="/tmp/hf_crosscheck_work")
    a = ap.parse_args()
    torch.set_num_threads(min(16, os.cpu_count() or 1))
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    import transformers
    report = {"transformers": transformers.__version__, "torch": torch.__version__, "configs": {}, "quant_drift": {}}
    gen = torch.Generator().manual_seed(2026)
    conv = os.path.join(a.bin, "dstar-gguf")
    ok = True
    for name, kw in CONFIGS.items():
        m, cfg, d = build(name, kw, gen, a.work)
        V = cfg.vocab_size
        prompts = {"p1": [5], "p37": torch.randint(0, 256, (37,), generator=gen).tolist(),
                   "p300": torch.randint(0, 256, (300,), generator=gen).tolist(),
                   "p520": torch.randint(0, 256, (520,), generator=gen).tolist()}
        f32 = os.path.join(a.work, name + "-f32.gguf")
        _, t_conv = run([conv, "convert", d, "--quant", "f32", "--out", f32])
        res = {"layer_types": cfg.layer_types, "mlp_layer_types": cfg.mlp_layer_types, "convert_s": round(t_conv, 2),
               "prompts": {}}
        for pn, ids in prompts.items():
            with torch.no_grad():
                ref = m(torch.tensor([ids])).logits[0].float().numpy()
                rows, pkv = [], None
                for t in ids:
                    o = m(torch.tensor([[t]]), past_key_values=pkv, use_cache=True)
                    pkv = o.past_key_values
                    rows.append(o.logits[0, -1].float().numpy())
                ref_dec = np.stack(rows)
                o = m(torch.tensor([ids]), use_cache=True)
                pkv, greedy_ref = o.past_key_values, []
                nxt = int(o.logits[0, -1].argmax())
                for _ in range(8):
                    greedy_ref.append(nxt)
                    o = m(torch.tensor([[nxt]]), past_key_values=pkv, use_cache=True)
                    pkv, nxt = o.past_key_values, int(o.logits[0, -1].argmax())
            pre, g_pre = dstar_logits(a.bin, f32, ids, V, 1024, os.path.join(a.work, "pre.f32"))
            dec, _ = dstar_logits(a.bin, f32, ids, V, 1, os.path.join(a.work, "dec.f32"), 1)
            r = {
                "tokens": len(ids),
                "max_abs_prefill": float(np.abs(pre - ref).max()),
                "max_abs_decode": float(np.abs(dec - ref_dec).max()),
                "hf_prefill_vs_hf_decode": float(np.abs(ref - ref_dec).max()),
                "argmax_equal_prefill": int((pre.argmax(-1) == ref.argmax(-1)).sum()),
                "argmax_equal_decode": int((dec.argmax(-1) == ref_dec.argmax(-1)).sum()),
                "positions": len(ids),
                "greedy_ref": greedy_ref, "greedy_dstar": g_pre,
                "greedy_equal": g_pre == greedy_ref,
                "max_abs_logit": float(np.abs(ref).max()),
            }
            r["pass"] = (r["max_abs_prefill"] <= 1e-3 and r["max_abs_decode"] <= 1e-3 and
                         r["argmax_equal_prefill"] == len(ids) and r["argmax_equal_decode"] == len(ids) and
                         r["greedy_equal"])
            ok &= r["pass"]
            res["prompts"][pn] = r
            print(name, pn, {k: v for k, v in r.items() if k not in ("greedy_ref", "greedy_dstar")}, flush=True)
        report["configs"][name] = res
        if name in QUANT_DRIFT:
            ids = prompts["p520"]
            base, _ = dstar_logits(a.bin, f32, ids, V, 1024, os.path.join(a.work, "base.f32"), 1, "lowest")
            lb = log_softmax(base)
            for q in ["q8", "q4", "q2"]:
                qf = os.path.join(a.work, "%s-%s.gguf" % (name, q))
                run([conv, "convert", d, "--quant", q, "--out", qf])
                lq, _ = dstar_logits(a.bin, qf, ids, V, 1024, os.path.join(a.work, "q.f32"), 1, "lowest")
                lqs = log_softmax(lq)
                kl = (np.exp(lb) * (lb - lqs)).sum(-1)
                report["quant_drift"][name + "/" + q] = {
                    "positions": len(ids), "mean_kl": float(kl.mean()), "max_kl": float(kl.max()),
                    "top1_agreement": float((lq.argmax(-1) == base.argmax(-1)).mean()),
                    "file_bytes": os.path.getsize(qf)}
                print(name, q, report["quant_drift"][name + "/" + q], flush=True)
    report["pass"] = ok
    json.dump(report, open(os.path.join(a.out, "hf_crosscheck.json"), "w"), indent=1)
    with open(os.path.join(a.out, "hf_crosscheck.md"), "w") as f:
        f.write("| config | prompt | max abs (prefill) | max abs (decode) | argmax equal (prefill/decode) | "
                "greedy equal | transformers prefill vs decode |\n")
        f.write("|---|---|---:|---:|---:|---|---:|\n")
        for name, res in report["configs"].items():
            for pn, r in res["prompts"].items():
                f.write("| %s | %s | %.2e | %.2e | %d/%d, %d/%d | %s | %.2e |\n" % (
                    name, pn, r["max_abs_prefill"], r["max_abs_decode"], r["argmax_equal_prefill"], r["positions"],
                    r["argmax_equal_decode"], r["positions"], "yes" if r["greedy_equal"] else "NO",
                    r["hf_prefill_vs_hf_decode"]))
        f.write("\n| model / quant | positions | mean KL | max KL | top-1 agreement | file bytes |\n")
        f.write("|---|---:|---:|---:|---:|---:|\n")
        for k, r in report["quant_drift"].items():
            f.write("| %s | %d | %.5f | %.4f | %.4f | %d |\n" % (k, r["positions"], r["mean_kl"], r["max_kl"],
                                                               r["top1_agreement"], r["file_bytes"]))
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
