//! BERT-family text encoders, `model.encoder = "roberta"` or `"bert"`: Hugging Face
//! `transformers`' `RobertaModel` / `BertModel` (Liu et al. 2019, *RoBERTa*; Devlin et al.
//! 2019, *BERT*; the Transformer encoder of Vaswani et al. 2017), loaded from a local model
//! folder, with the last hidden state of the first token (`<s>` / `[CLS]`) as the shared
//! representation, as Mueller et al. (2025) put their GLUE tasks' linear heads on it (no
//! pooler).
//!
//! Inputs are token batches `[B, 3, L]` (ids, token types, attention mask with padding at the
//! end; [`crate::data::Inputs::Tokens`]). The computation is `transformers`' (v5 `modeling_roberta.py`,
//! `modeling_bert.py`, eager and sdpa attention):
//! - embeddings: word + token type, then + position; LayerNorm; dropout. BERT's positions are
//!   0..L; RoBERTa's are `create_position_ids_from_input_ids`: padding_idx + the running count
//!   of real tokens, padding_idx on padding. We count the attention mask where `transformers`
//!   counts ids ≠ pad_token_id: the same whenever padding is pad_token_id, as its tokenizers pad;
//! - per layer: query/key/value projections into heads, softmax(QKᵀ/√d + mask) V through
//!   `scaled_dot_product_attention` with the boolean padding mask (what `transformers`' sdpa
//!   path passes; equal to the eager additive mask on every row with a real token), attention
//!   dropout inside it; dense, dropout, residual, LayerNorm; intermediate dense and exact
//!   (erf) GELU — `hidden_act` must be `"gelu"`; dense, dropout, residual, LayerNorm.
//!
//! Variable names are `transformers`' without the model prefix (`embeddings.word_embeddings.weight`,
//! `encoder.layer.3.attention.self.query.weight`, `encoder.layer.3.output.LayerNorm.bias`, …),
//! so a state dict maps one to one ([`super::pretrained`], [`super::pretrained::Format::HfFolder`]):
//! the folder's `model.safetensors` may carry the `roberta.` / `bert.` prefix (a
//! `…ForSequenceClassification` or `…ForMaskedLM` checkpoint) or not (`RobertaModel`,
//! `BertModel`); `lm_head.*`, `cls.*` (the pre-training heads), `pooler.*` (unused, see
//! above), `classifier.*` (a fine-tuned task head) and `*position_ids` (an old buffer) are
//! ignored; any other key the encoder lacks, and every encoder variable the file lacks, is an
//! error naming it.
//!
//! Dropout "as configured": `hidden_dropout_prob` and `attention_probs_dropout_prob` from
//! `config.json`, both replaced by `model.dropout` when set. Departure, for reproducibility:
//! mtlscope never draws from libtorch's generator after initialisation (runs are a function of
//! the seed and resume bit for bit), but ~10⁸ mask elements a step are too many to draw on the
//! host as [`crate::task::head::seeded_dropout`] does. So each dropout site reseeds libtorch's
//! generator with a key of the encoder's variable path, the site and the batch's contents
//! (Σ ids · position, exact in i64, over the whole `[B, 3, L]` batch), holding the lock that
//! initialisation holds ([`super::with_seed`]): the same batch gets the same masks, on
//! resume too, another batch other masks. The masks are Bernoulli draws as `F.dropout`'s, so the
//! distribution is PyTorch's; the draws themselves differ.

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use tch::{nn, Kind, Tensor};

use super::Encoder;
use crate::config::ModelConfig;
use crate::task::FeatureShape;

/// Keys of a Hugging Face checkpoint that are not part of the encoder (after the prefix is
/// stripped): pre-training heads, the pooler, a task classifier, the position-ids buffer.
pub const PRETRAINED_IGNORE: &[&str] = &[
    "lm_head.",
    "cls.",
    "pooler.",
    "classifier.",
    "*position_ids",
];

/// Which model: RoBERTa or BERT (they differ in their positions only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// `RobertaModel`: positions counted from padding_idx + 1 over real tokens.
    Roberta,
    /// `BertModel`: positions 0..L.
    Bert,
}

impl Flavour {
    /// `config.json`'s `model_type` (and the registry name).
    pub fn name(self) -> &'static str {
        match self {
            Flavour::Roberta => "roberta",
            Flavour::Bert => "bert",
        }
    }

    fn of(model_type: &str) -> Option<Self> {
        match model_type {
            "roberta" => Some(Flavour::Roberta),
            "bert" => Some(Flavour::Bert),
            _ => None,
        }
    }
}

/// The architecture, the fields of a `transformers` `config.json` this encoder reads (any
/// others are ignored).
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
pub struct TransformerConfig {
    /// `roberta` or `bert`.
    pub model_type: String,
    /// Rows of the word embedding.
    pub vocab_size: i64,
    /// Width of every hidden state (the representation's dimension).
    pub hidden_size: i64,
    /// Number of layers.
    pub num_hidden_layers: i64,
    /// Attention heads per layer (hidden_size must be a multiple).
    pub num_attention_heads: i64,
    /// Width of the feed-forward block.
    pub intermediate_size: i64,
    /// Feed-forward activation; only `gelu` (exact, erf) is implemented.
    pub hidden_act: String,
    /// Dropout on embeddings and on each block's output.
    pub hidden_dropout_prob: f64,
    /// Dropout on the attention probabilities.
    pub attention_probs_dropout_prob: f64,
    /// Rows of the position embedding.
    pub max_position_embeddings: i64,
    /// Rows of the token-type embedding.
    pub type_vocab_size: i64,
    /// ε of every LayerNorm.
    pub layer_norm_eps: f64,
    /// The padding id (RoBERTa's positions start after it); unset, `transformers`' default
    /// for the model type (RoBERTa 1, BERT 0).
    #[serde(default)]
    pub pad_token_id: Option<i64>,
    /// σ of the normal initialisation of a random (not loaded) model.
    #[serde(default = "default_initializer_range")]
    pub initializer_range: f64,
    /// `absolute` (or unset) is the only kind implemented.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position_embedding_type: Option<String>,
}

/// Writes a Hugging Face model folder holding `c`'s architecture with random weights
/// (`config.json`, `model.safetensors` keyed as `transformers` saves a bare `RobertaModel` /
/// `BertModel`), drawn from libtorch's generator seeded by `seed`: the tiny model of
/// `mtlscope data miniature glue` and the tests. Random weights never stand in for a
/// pretrained model in a run: this is test data.
pub fn write_random_folder(dir: &Path, c: &TransformerConfig, seed: u64) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let vs = nn::VarStore::new(tch::Device::Cpu);
    super::with_seed(seed, || Transformer::new(vs.root(), c))?;
    let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    let file = dir.join("model.safetensors");
    Tensor::write_safetensors(&vars, &file)
        .with_context(|| format!("writing {}", file.display()))?;
    let mut json = serde_json::to_value(c).context("config as JSON")?;
    json["architectures"] = serde_json::json!([match c.flavour()? {
        Flavour::Roberta => "RobertaModel",
        Flavour::Bert => "BertModel",
    }]);
    let file = dir.join("config.json");
    std::fs::write(&file, serde_json::to_string_pretty(&json)? + "\n")
        .with_context(|| format!("writing {}", file.display()))
}

fn default_initializer_range() -> f64 {
    0.02
}

impl TransformerConfig {
    /// RoBERTa-base's architecture (`FacebookAI/roberta-base`'s `config.json`: 12 layers,
    /// hidden 768, 12 heads, intermediate 3072, 514 positions, vocabulary 50,265, dropout 0.1).
    /// Built through [`Transformer::new`] it has *random weights*: for timing (the benchmark),
    /// never for results.
    pub fn roberta_base() -> Self {
        Self {
            model_type: "roberta".into(),
            vocab_size: 50265,
            hidden_size: 768,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            intermediate_size: 3072,
            hidden_act: "gelu".into(),
            hidden_dropout_prob: 0.1,
            attention_probs_dropout_prob: 0.1,
            max_position_embeddings: 514,
            type_vocab_size: 1,
            layer_norm_eps: 1e-5,
            pad_token_id: Some(1),
            initializer_range: 0.02,
            position_embedding_type: None,
        }
    }

    /// A 2-layer RoBERTa of hidden size 32 (4 heads, feed-forward 37, 40 positions, 50 ids: the
    /// 50-id tokenizer of `data::tokenize::write_tiny_tokenizer`), the tests' and
    /// `mtlscope data miniature glue`'s model; dropout 0.1 as RoBERTa's.
    pub fn tiny_roberta() -> Self {
        Self {
            vocab_size: 50,
            hidden_size: 32,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            intermediate_size: 37,
            max_position_embeddings: 40,
            ..Self::roberta_base()
        }
    }

    /// Reads `config.json`; errors name the file.
    pub fn from_file(file: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("model.pretrained: reading {}", file.display()))?;
        serde_json::from_str(&text)
            .with_context(|| format!("model.pretrained: parsing {}", file.display()))
    }

    /// The flavour, or an error naming `model_type`.
    pub fn flavour(&self) -> Result<Flavour> {
        Flavour::of(&self.model_type).ok_or_else(|| {
            anyhow::anyhow!(
                "model_type `{}` is not a BERT-family encoder this reads (roberta, bert)",
                self.model_type
            )
        })
    }

    /// The padding id (its flavour's default when `config.json` has none).
    pub fn pad(&self) -> i64 {
        self.pad_token_id
            .unwrap_or(match Flavour::of(&self.model_type) {
                Some(Flavour::Bert) => 0,
                _ => 1,
            })
    }

    /// The longest sequence the position embedding covers: RoBERTa's positions start at
    /// padding_idx + 1, BERT's at 0.
    pub fn max_length(&self) -> i64 {
        match Flavour::of(&self.model_type) {
            Some(Flavour::Roberta) => self.max_position_embeddings - self.pad() - 1,
            _ => self.max_position_embeddings,
        }
    }

    /// Checks what this implementation supports.
    pub fn check(&self) -> Result<()> {
        self.flavour()?;
        if self.hidden_act != "gelu" {
            bail!(
                "hidden_act `{}` is not implemented; only `gelu` (exact, erf) is",
                self.hidden_act
            );
        }
        if let Some(kind) = &self.position_embedding_type {
            if kind != "absolute" {
                bail!("position_embedding_type `{kind}` is not implemented; only `absolute` is");
            }
        }
        for (name, v) in [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("intermediate_size", self.intermediate_size),
            ("max_position_embeddings", self.max_position_embeddings),
            ("type_vocab_size", self.type_vocab_size),
        ] {
            if v < 1 {
                bail!("{name} must be >= 1, got {v}");
            }
        }
        if self.hidden_size % self.num_attention_heads != 0 {
            bail!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size,
                self.num_attention_heads
            );
        }
        for (name, p) in [
            ("hidden_dropout_prob", self.hidden_dropout_prob),
            (
                "attention_probs_dropout_prob",
                self.attention_probs_dropout_prob,
            ),
        ] {
            if !(0.0..1.0).contains(&p) {
                bail!("{name} must be in [0, 1), got {p}");
            }
        }
        Ok(())
    }
}

/// The registry's builder: the architecture from `model.pretrained`'s `config.json` (the
/// weights are loaded afterwards, by [`super::MultiTaskNet::new`]), dropout overridden by
/// `model.dropout`, for token sequences `[3, L]`.
pub fn build(
    flavour: Flavour,
    cfg: &ModelConfig,
    p: nn::Path,
    input: &[i64],
) -> Result<Box<dyn Encoder>> {
    let name = flavour.name();
    let Some(folder) = &cfg.pretrained else {
        bail!(
            "model.pretrained: the {name} encoder needs a local Hugging Face model folder \
             (config.json and model.safetensors, e.g. a copy of FacebookAI/roberta-base or \
             google-bert/bert-base-uncased); none is set"
        );
    };
    let file = folder.join("config.json");
    let mut tc = TransformerConfig::from_file(&file)?;
    if tc.model_type != name {
        bail!(
            "model.pretrained: {} has model_type `{}`, but model.encoder is `{name}`",
            file.display(),
            tc.model_type
        );
    }
    tc.check()
        .with_context(|| format!("model.pretrained: {}", file.display()))?;
    if let Some(d) = cfg.dropout {
        tc.hidden_dropout_prob = d;
        tc.attention_probs_dropout_prob = d;
    }
    let len = match input {
        [3, len] => *len,
        _ => bail!(
            "model.encoder: `{name}` takes token sequences [3, L] (ids, token types, mask), \
             but the dataset's examples are {input:?}"
        ),
    };
    if len > tc.max_length() {
        bail!(
            "data.max_length: the data has sequences of {len} tokens, more than the {} positions \
             of {} (max_position_embeddings {}); lower data.max_length",
            tc.max_length(),
            file.display(),
            tc.max_position_embeddings
        );
    }
    Ok(Box::new(Transformer::new(p, &tc)?))
}

/// A linear layer as `transformers` initialises it: weight N(0, σ²), bias 0.
fn linear(p: nn::Path, cin: i64, cout: i64, sigma: f64) -> nn::Linear {
    let cfg = nn::LinearConfig {
        ws_init: nn::Init::Randn {
            mean: 0.0,
            stdev: sigma,
        },
        bs_init: Some(nn::Init::Const(0.0)),
        bias: true,
    };
    nn::linear(p, cin, cout, cfg)
}

/// A LayerNorm with weight 1 and bias 0.
fn layer_norm(p: nn::Path, dim: i64, eps: f64) -> nn::LayerNorm {
    let cfg = nn::LayerNormConfig {
        eps,
        ..Default::default()
    };
    nn::layer_norm(p, vec![dim], cfg)
}

/// An embedding initialised N(0, σ²), its padding row (if any) zero and without gradient, as
/// `nn.Embedding(padding_idx=…)`.
fn embedding(
    p: nn::Path,
    rows: i64,
    dim: i64,
    sigma: f64,
    padding_idx: Option<i64>,
) -> nn::Embedding {
    let cfg = nn::EmbeddingConfig {
        ws_init: nn::Init::Randn {
            mean: 0.0,
            stdev: sigma,
        },
        padding_idx: padding_idx.unwrap_or(-1),
        ..Default::default()
    };
    let e = nn::embedding(p, rows, dim, cfg);
    if let Some(i) = padding_idx.filter(|&i| (0..rows).contains(&i)) {
        tch::no_grad(|| {
            let _ = e.ws.get(i).zero_();
        });
    }
    e
}

/// One encoder layer: self-attention and feed-forward blocks, each closed by dropout, residual
/// and LayerNorm (post-LN).
#[derive(Debug)]
struct Layer {
    query: nn::Linear,
    key: nn::Linear,
    value: nn::Linear,
    attention_dense: nn::Linear,
    attention_norm: nn::LayerNorm,
    intermediate: nn::Linear,
    output: nn::Linear,
    output_norm: nn::LayerNorm,
}

impl Layer {
    fn new(p: nn::Path, c: &TransformerConfig) -> Self {
        let (h, s) = (c.hidden_size, c.initializer_range);
        let att = &p / "attention";
        let sa = &att / "self";
        Self {
            query: linear(&sa / "query", h, h, s),
            key: linear(&sa / "key", h, h, s),
            value: linear(&sa / "value", h, h, s),
            attention_dense: linear(&att / "output" / "dense", h, h, s),
            attention_norm: layer_norm(&att / "output" / "LayerNorm", h, c.layer_norm_eps),
            intermediate: linear(&p / "intermediate" / "dense", h, c.intermediate_size, s),
            output: linear(&p / "output" / "dense", c.intermediate_size, h, s),
            output_norm: layer_norm(&p / "output" / "LayerNorm", h, c.layer_norm_eps),
        }
    }
}

/// RoBERTa / BERT encoder; see the module docs.
#[derive(Debug)]
pub struct Transformer {
    flavour: Flavour,
    hidden: i64,
    heads: i64,
    pad: i64,
    hidden_p: f64,
    attention_p: f64,
    word: nn::Embedding,
    position: nn::Embedding,
    token_type: nn::Embedding,
    embeddings_norm: nn::LayerNorm,
    layers: Vec<Layer>,
    /// Hash of the variable path: encoders elsewhere in a process draw other masks.
    dropout_key: u64,
}

impl Transformer {
    /// Builds it under `p` with `transformers`' initialisation (N(0, initializer_range²)
    /// weights, zero biases, unit LayerNorms, zero padding rows), for `model.pretrained` to
    /// overwrite; with [`TransformerConfig::roberta_base`], random weights for timing only.
    pub fn new(p: nn::Path, c: &TransformerConfig) -> Result<Self> {
        c.check()?;
        let flavour = c.flavour()?;
        let (h, s, pad) = (c.hidden_size, c.initializer_range, c.pad());
        let emb = &p / "embeddings";
        // transformers gives the position embedding a padding row for RoBERTa only.
        let position_pad = (flavour == Flavour::Roberta).then_some(pad);
        let enc = &p / "encoder" / "layer";
        Ok(Self {
            flavour,
            hidden: h,
            heads: c.num_attention_heads,
            pad,
            hidden_p: c.hidden_dropout_prob,
            attention_p: c.attention_probs_dropout_prob,
            word: embedding(&emb / "word_embeddings", c.vocab_size, h, s, Some(pad)),
            position: embedding(
                &emb / "position_embeddings",
                c.max_position_embeddings,
                h,
                s,
                position_pad,
            ),
            token_type: embedding(
                &emb / "token_type_embeddings",
                c.type_vocab_size,
                h,
                s,
                None,
            ),
            embeddings_norm: layer_norm(&emb / "LayerNorm", h, c.layer_norm_eps),
            layers: (0..c.num_hidden_layers)
                .map(|i| Layer::new(&enc / i.to_string(), c))
                .collect(),
            dropout_key: fnv1a(p.components().collect::<Vec<_>>().join(".").as_bytes()),
        })
    }

    /// The last hidden state of every token, `[B, L, hidden]` (the representation is its
    /// first token's).
    pub fn hidden_states(&self, xs: &Tensor, train: bool) -> Tensor {
        let size = xs.size();
        assert!(
            size.len() == 3 && size[1] == 3,
            "the {} encoder takes token batches [B, 3, L], got {size:?}",
            self.flavour.name()
        );
        let (b, l) = (size[0], size[2]);
        let ids = xs.select(1, 0);
        let types = xs.select(1, 1);
        let mask = xs.select(1, 2);
        // The masks' seed: this encoder, this batch (Σ x_i · (i + 1), exact in i64).
        let batch_key = if train && (self.hidden_p > 0.0 || self.attention_p > 0.0) {
            let w = Tensor::arange_start(1, xs.numel() as i64 + 1, (Kind::Int64, xs.device()));
            let s = tch::no_grad(|| (xs.flatten(0, -1) * w).sum(Kind::Int64).int64_value(&[]));
            splitmix64(self.dropout_key ^ s as u64)
        } else {
            0
        };
        // Site s of the forward pass draws from seed(s): 0 the embeddings, 3i + 1..=3 layer i's
        // attention probabilities, attention output and feed-forward output.
        let seed = |site: u64| splitmix64(batch_key ^ splitmix64(site));
        let dropout = |x: Tensor, p: f64, site: u64| -> Tensor {
            if !train || p == 0.0 {
                return x;
            }
            super::with_seed(seed(site), || x.dropout(p, true))
        };
        let positions = match self.flavour {
            Flavour::Roberta => {
                let m = mask.ne(0).to_kind(Kind::Int64);
                m.cumsum(1, Kind::Int64) * &m + self.pad
            }
            Flavour::Bert => Tensor::arange(l, (Kind::Int64, xs.device()))
                .unsqueeze(0)
                .expand([b, l], false),
        };
        let e = ids.apply(&self.word) + types.apply(&self.token_type);
        let e = (e + positions.apply(&self.position)).apply(&self.embeddings_norm);
        let mut h = dropout(e, self.hidden_p, 0);
        // [B, 1, 1, L]: every query attends to the real tokens only.
        let attend = mask.ne(0).view([b, 1, 1, l]);
        let d = self.hidden / self.heads;
        let split = |t: Tensor| t.view([b, l, self.heads, d]).transpose(1, 2);
        for (i, layer) in self.layers.iter().enumerate() {
            let site = 3 * i as u64;
            let q = split(h.apply(&layer.query));
            let k = split(h.apply(&layer.key));
            let v = split(h.apply(&layer.value));
            let attention_p = if train { self.attention_p } else { 0.0 };
            let sdpa = || {
                Tensor::scaled_dot_product_attention(
                    &q,
                    &k,
                    &v,
                    Some(&attend),
                    attention_p,
                    false,
                    1.0 / (d as f64).sqrt(),
                    false,
                )
            };
            // Attention dropout happens inside the kernel, from libtorch's generator.
            let ctx = if attention_p > 0.0 {
                super::with_seed(seed(site + 1), sdpa)
            } else {
                sdpa()
            };
            let ctx = ctx.transpose(1, 2).reshape([b, l, self.hidden]);
            let a = dropout(ctx.apply(&layer.attention_dense), self.hidden_p, site + 2);
            let a = (a + &h).apply(&layer.attention_norm);
            let f = a
                .apply(&layer.intermediate)
                .gelu("none")
                .apply(&layer.output);
            h = (dropout(f, self.hidden_p, site + 3) + a).apply(&layer.output_norm);
        }
        h
    }
}

impl Encoder for Transformer {
    fn forward(&self, xs: &Tensor, train: bool) -> Tensor {
        self.hidden_states(xs, train).select(1, 0)
    }

    fn output(&self) -> FeatureShape {
        FeatureShape::Vector { dim: self.hidden }
    }

    fn last_weight(&self) -> Tensor {
        let last = self.layers.last().expect("at least one layer");
        last.output.ws.shallow_clone()
    }
}

/// FNV-1a of `bytes`: the same on every platform and Rust version.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

/// SplitMix64's finaliser (Steele et al. 2014): nearby keys (site 1, 2, …) to unrelated seeds.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    /// A tiny random RoBERTa (its reference test against transformers is tests/transformer.rs).
    fn tiny(dropout: f64) -> (nn::VarStore, Transformer) {
        let c = TransformerConfig {
            vocab_size: 30,
            hidden_size: 16,
            num_hidden_layers: 2,
            num_attention_heads: 2,
            intermediate_size: 24,
            max_position_embeddings: 20,
            hidden_dropout_prob: dropout,
            attention_probs_dropout_prob: dropout,
            initializer_range: 0.5,
            ..TransformerConfig::roberta_base()
        };
        let vs = nn::VarStore::new(Device::Cpu);
        let t =
            super::super::with_seed(3, || Transformer::new(&vs.root() / "encoder", &c)).unwrap();
        (vs, t)
    }

    /// Two sequences `[0, a, b, 2]` and `[0, 7, 2, pad]`.
    fn batch(a: i64, b: i64) -> Tensor {
        Tensor::from_slice(&[
            0i64, a, b, 2, 0, 0, 0, 0, 1, 1, 1, 1, 0, 7, 2, 1, 0, 0, 0, 0, 1, 1, 1, 0,
        ])
        .view([2, 3, 4])
    }

    #[test]
    fn dropout_masks_follow_the_batch_and_eval_is_dropout_free() {
        let (_vs, t) = tiny(0.3);
        let x = batch(5, 6);
        let a = t.forward(&x, true);
        // Same batch, same masks (a resumed run replays them).
        assert!(a.equal(&t.forward(&x, true)));
        // Dropout is on: training output differs from eval.
        let eval = t.forward(&x, false);
        assert!(!a.get(1).allclose(&eval.get(1), 1e-4, 1e-4, false));
        // Example 1 is the same in both batches; only example 0 changed, yet example 1's masks
        // changed with the batch (eval gives it the same output in both).
        let y = batch(5, 8);
        let eval_y = t.forward(&y, false);
        assert!(eval.get(1).allclose(&eval_y.get(1), 1e-6, 1e-6, false));
        assert!(!a
            .get(1)
            .allclose(&t.forward(&y, true).get(1), 1e-4, 1e-4, false));
        // Eval mode is deterministic and equal to the dropout-free model in either mode.
        assert!(eval.equal(&t.forward(&x, false)));
        let (_vs0, t0) = tiny(0.0);
        assert!(eval.equal(&t0.forward(&x, false)));
        assert!(eval.equal(&t0.forward(&x, true)));
    }

    /// Reseeding for dropout leaves initialisation under the lock reproducible: a network built
    /// between two training forwards still depends on its seed alone.
    #[test]
    fn dropout_does_not_disturb_seeded_initialisation() {
        let (_vs, t) = tiny(0.3);
        let (vs1, _) = tiny(0.3);
        let _ = t.forward(&batch(5, 6), true);
        let (vs2, _) = tiny(0.3);
        let v2 = vs2.variables();
        for (n, a) in vs1.variables() {
            assert!(a.equal(&v2[&n]), "{n}");
        }
    }

    #[test]
    fn config_is_checked() {
        let mut c = TransformerConfig::roberta_base();
        assert!(c.check().is_ok());
        assert_eq!(c.max_length(), 512);
        c.hidden_act = "gelu_new".into();
        assert!(format!("{:#}", c.check().unwrap_err()).contains("gelu_new"));
        let mut c = TransformerConfig::roberta_base();
        c.num_attention_heads = 5;
        assert!(format!("{:#}", c.check().unwrap_err()).contains("num_attention_heads"));
        let mut c = TransformerConfig::roberta_base();
        c.model_type = "bert".into();
        c.pad_token_id = None;
        assert_eq!((c.pad(), c.max_length()), (0, 514));
    }

    /// Parameter names are transformers' and RoBERTa-base has its 124,645,632 parameters
    /// (`RobertaModel` without the pooler's 590,592).
    #[test]
    fn roberta_base_names_and_size() {
        let vs = nn::VarStore::new(Device::Cpu);
        let _ = Transformer::new(vs.root(), &TransformerConfig::roberta_base()).unwrap();
        let vars = vs.variables();
        let n: i64 = vars.values().map(|t| t.numel() as i64).sum();
        assert_eq!(n, 124_645_632 - 590_592);
        for k in [
            "embeddings.word_embeddings.weight",
            "embeddings.LayerNorm.bias",
            "encoder.layer.11.attention.self.query.weight",
            "encoder.layer.11.attention.output.LayerNorm.weight",
            "encoder.layer.0.intermediate.dense.bias",
            "encoder.layer.0.output.dense.weight",
        ] {
            assert!(vars.contains_key(k), "{k}");
        }
        assert_eq!(vars.len(), 5 + 12 * 16);
    }
}
