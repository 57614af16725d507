"""Reference for crates/mtlscope/tests/transformer.rs: tiny random RoBERTa and BERT models from
Hugging Face `transformers` (the version scripts/setup.sh pins), saved as model folders, and their
eval-mode outputs on one padded batch.

Usage: transformer_reference.py OUT_DIR

Writes, for each flavour F in (roberta, bert):
- OUT_DIR/F/: `save_pretrained(..., safe_serialization=True)` of `FModel` (config.json,
  model.safetensors; keys without the model prefix, pooler included);
- OUT_DIR/F_ref.safetensors: `xs` (i64 [3, 3, L]: ids, token types, attention mask, padding at
  the end), `cls` and `hidden` (the first token's and every token's last hidden state, sdpa
  attention, transformers' default) and `cls_eager` / `hidden_eager` (eager attention).

Weights are drawn far from transformers' N(0, 0.02) initialisation (LayerNorm scales around 1,
non-zero biases) so that every parameter visibly shapes the output.
"""

import os
import sys

# Everything is local: no hub look-ups, no progress bars on the test's stderr.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import torch
from safetensors.torch import save_file
from transformers import BertConfig, BertModel, RobertaConfig, RobertaModel

torch.manual_seed(0)
out = sys.argv[1]

COMMON = dict(
    vocab_size=50,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=37,
    max_position_embeddings=40,
    hidden_act="gelu",
    hidden_dropout_prob=0.1,
    attention_probs_dropout_prob=0.1,
)


def perturb(model):
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm.weight" in name:
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn_like(p))
            else:
                p.copy_(0.3 * torch.randn_like(p))


def batch(cls, sep, pad, pair, pair_types):
    """Three sequences of lengths 5, 9 (the sentence pair `pair`, segment B typed 1 when
    `pair_types`) and 3, padded with `pad` to 9."""
    seqs = [
        ([cls, 5, 6, 7, sep], [0] * 5),
        (pair, [0] * 5 + [int(pair_types)] * 4),
        ([cls, 14, sep], [0] * 3),
    ]
    L = max(len(s) for s, _ in seqs)
    xs = torch.zeros(3, 3, L, dtype=torch.long)
    for i, (ids, types) in enumerate(seqs):
        n = len(ids)
        xs[i, 0] = torch.tensor(ids + [pad] * (L - n))
        xs[i, 1, :n] = torch.tensor(types)
        xs[i, 2, :n] = 1
    return xs


def run(name, model_cls, config, xs):
    folder = os.path.join(out, name)
    model = model_cls(config)
    perturb(model)
    model.eval()
    model.save_pretrained(folder, safe_serialization=True)
    result = {"xs": xs.contiguous()}
    for impl, suffix in (("sdpa", ""), ("eager", "_eager")):
        m = model_cls.from_pretrained(folder, attn_implementation=impl).eval()
        with torch.no_grad():
            h = m(input_ids=xs[:, 0], token_type_ids=xs[:, 1], attention_mask=xs[:, 2]).last_hidden_state
        result["cls" + suffix] = h[:, 0].contiguous()
        result["hidden" + suffix] = h.contiguous()
    save_file(result, os.path.join(out, f"{name}_ref.safetensors"))


# RoBERTa: <s> = 0, </s> = 2, pad = 1; a pair is <s> A </s></s> B </s>, token types all 0.
run(
    "roberta",
    RobertaModel,
    RobertaConfig(**COMMON, type_vocab_size=1, pad_token_id=1, bos_token_id=0, eos_token_id=2,
                  layer_norm_eps=1e-5),
    batch(0, 2, 1, [0, 8, 9, 2, 2, 10, 11, 12, 2], pair_types=False),
)
# BERT: [CLS] = 3, [SEP] = 4, pad = 0; segment B has token type 1.
run(
    "bert",
    BertModel,
    BertConfig(**COMMON, type_vocab_size=2, pad_token_id=0, layer_norm_eps=1e-12),
    batch(3, 4, 0, [3, 8, 9, 13, 4, 10, 11, 12, 4], pair_types=True),
)
