//! The `roberta` and `bert` encoders (`model/transformer.rs`) against Hugging Face
//! `transformers`, and their loading errors.
//!
//! `scripts/transformer_reference.py` builds a tiny random RoBERTa and BERT (2 layers, hidden
//! 32, 4 heads, intermediate 37, vocabulary 50, 40 positions; weights far from the usual tiny
//! init so every parameter shapes the output), saves each as a model folder with
//! `save_pretrained(safe_serialization=True)` and writes its eval-mode last hidden states on a
//! padded batch of three sequences of different lengths, one a sentence pair (token types 1 on
//! BERT's segment B). mtlscope loads each folder through `model.pretrained` and must reproduce
//! them to 1e-5 with transformers' sdpa attention (its default) and eager attention alike;
//! the same libtorch kernels run on both sides (measured on CPU: bit-identical to sdpa; 9.5e-7
//! (RoBERTa) and 2.2e-6 (BERT) on CLS, 1.3e-6 and 2.4e-6 on any real token, to eager).

mod common;

use common::read_safetensors;

use std::path::Path;
use std::sync::OnceLock;

use mtlscope::config::ModelConfig;
use mtlscope::model::pretrained::{self, Format};
use mtlscope::model::transformer::{Transformer, TransformerConfig, PRETRAINED_IGNORE};
use mtlscope::model::MultiTaskNet;
use tch::{nn, Device, Kind, Tensor};

/// The reference's folders and outputs, written once for every test of this file.
fn reference() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        common::reference_outputs(
            "transformer_reference.py",
            "tests/transformer.rs",
            "torch and transformers",
        )
    })
    .path()
}

fn get(tensors: &[(String, Tensor)], key: &str) -> Tensor {
    tensors
        .iter()
        .find(|(k, _)| k == key)
        .unwrap_or_else(|| panic!("no `{key}`"))
        .1
        .shallow_clone()
}

fn cfg(encoder: &str, pretrained: &Path) -> ModelConfig {
    ModelConfig {
        encoder: encoder.into(),
        pretrained: Some(pretrained.to_path_buf()),
        ..Default::default()
    }
}

/// A network with the encoder loaded from `folder` and one 2-class head, for inputs `[3, len]`.
fn net(encoder: &str, folder: &Path, len: i64) -> anyhow::Result<MultiTaskNet> {
    let heads = mtlscope::task::multiclass::heads(&["a"], 2);
    MultiTaskNet::seeded(0, &cfg(encoder, folder), &heads, [3, len], Device::Cpu)
}

fn max_abs(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size());
    (a - b).abs().max().double_value(&[])
}

/// The encoder alone (for every token's hidden state), loaded as the registry loads it.
fn encoder_alone(flavour: &str) -> (nn::VarStore, Transformer) {
    let folder = reference().join(flavour);
    let tc = TransformerConfig::from_file(&folder.join("config.json")).unwrap();
    let vs = nn::VarStore::new(Device::Cpu);
    let enc = Transformer::new(&vs.root() / "encoder", &tc).unwrap();
    let vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    let prefix = if flavour == "roberta" {
        "roberta."
    } else {
        "bert."
    };
    pretrained::load(
        &folder,
        &vars,
        PRETRAINED_IGNORE,
        Format::HfFolder { prefix },
    )
    .unwrap();
    (vs, enc)
}

fn check_against_transformers(flavour: &str) {
    let dir = reference();
    let r = read_safetensors(&dir.join(format!("{flavour}_ref.safetensors")));
    let xs = get(&r, "xs");
    let net = net(flavour, &dir.join(flavour), xs.size()[2]).unwrap();
    let cls = net.features(&xs, false);
    let (_vs, enc) = encoder_alone(flavour);
    let hidden = enc.hidden_states(&xs, false);
    assert!(cls.equal(&hidden.select(1, 0)));
    // Padded positions' states are not part of the output; compare real tokens only.
    let real = xs.select(1, 2).unsqueeze(-1).to_kind(Kind::Float);
    for suffix in ["", "_eager"] {
        let d_cls = max_abs(&cls, &get(&r, &format!("cls{suffix}")));
        let d_all = max_abs(
            &(&hidden * &real),
            &(get(&r, &format!("hidden{suffix}")) * &real),
        );
        eprintln!("{flavour}{suffix}: max |Δ| CLS {d_cls:.2e}, real tokens {d_all:.2e}");
        assert!(d_cls < 1e-5, "{flavour}{suffix}: CLS differs by {d_cls}");
        assert!(
            d_all < 1e-5,
            "{flavour}{suffix}: hidden states differ by {d_all}"
        );
    }
    // The batch shapes the output (not a constant): its three CLS states differ.
    assert!(max_abs(&cls.get(0), &cls.get(2)) > 1e-2);
}

#[test]
fn roberta_matches_transformers() {
    check_against_transformers("roberta");
}

#[test]
fn bert_matches_transformers() {
    check_against_transformers("bert");
}

/// Copies the `flavour` reference folder to a temp dir with its weights rewritten by `edit`.
fn edited_folder(
    flavour: &str,
    edit: impl FnOnce(&mut Vec<(String, Tensor)>),
) -> tempfile::TempDir {
    let src = reference().join(flavour);
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(src.join("config.json"), dir.path().join("config.json")).unwrap();
    let mut t = read_safetensors(&src.join("model.safetensors"));
    edit(&mut t);
    Tensor::write_safetensors(&t, dir.path().join("model.safetensors")).unwrap();
    dir
}

/// A `…ForSequenceClassification`/`…ForMaskedLM`-style checkpoint: keys behind `roberta.`,
/// heads and the position-ids buffer beside them, old `gamma`/`beta` LayerNorm names; it
/// loads to the same encoder.
#[test]
fn prefixed_checkpoint_with_heads_loads() {
    let dir = edited_folder("roberta", |t| {
        for (k, _) in t.iter_mut() {
            let renamed = k
                .replace("LayerNorm.weight", "LayerNorm.gamma")
                .replace("LayerNorm.bias", "LayerNorm.beta");
            *k = format!("roberta.{renamed}");
        }
        let z = |shape: &[i64]| Tensor::zeros(shape, (Kind::Float, Device::Cpu));
        t.push(("lm_head.dense.weight".into(), z(&[32, 32])));
        t.push(("classifier.out_proj.weight".into(), z(&[2, 32])));
        t.push((
            "roberta.embeddings.position_ids".into(),
            Tensor::arange(40, (Kind::Int64, Device::Cpu)).unsqueeze(0),
        ));
    });
    let r = read_safetensors(&reference().join("roberta_ref.safetensors"));
    let xs = get(&r, "xs");
    let a = net("roberta", &reference().join("roberta"), 9).unwrap();
    let b = net("roberta", dir.path(), 9).unwrap();
    assert!(a.features(&xs, false).equal(&b.features(&xs, false)));
}

#[test]
fn missing_and_unknown_weights_are_named() {
    let err = |dir: &tempfile::TempDir| format!("{:#}", net("roberta", dir.path(), 9).unwrap_err());
    let missing = edited_folder("roberta", |t| {
        t.retain(|(k, _)| k != "encoder.layer.1.intermediate.dense.bias")
    });
    let e = err(&missing);
    assert!(
        e.contains("lacks") && e.contains("encoder.layer.1.intermediate.dense.bias"),
        "{e}"
    );
    let unknown = edited_folder("roberta", |t| {
        t.push((
            "encoder.layer.0.attention.self.rotary.weight".into(),
            Tensor::zeros([2], (Kind::Float, Device::Cpu)),
        ))
    });
    let e = err(&unknown);
    assert!(
        e.contains("encoder.layer.0.attention.self.rotary.weight"),
        "{e}"
    );
    let none = tempfile::tempdir().unwrap();
    std::fs::copy(
        reference().join("roberta/config.json"),
        none.path().join("config.json"),
    )
    .unwrap();
    let e = err(&none);
    assert!(e.contains("model.safetensors"), "{e}");
}

#[test]
fn wrong_model_type_and_missing_folder_are_named() {
    let e = format!(
        "{:#}",
        net("roberta", &reference().join("bert"), 9).unwrap_err()
    );
    assert!(
        e.contains("config.json") && e.contains("model_type `bert`") && e.contains("`roberta`"),
        "{e}"
    );
    let heads = mtlscope::task::multiclass::heads(&["a"], 2);
    let no_folder = ModelConfig {
        encoder: "bert".into(),
        ..Default::default()
    };
    let e = format!(
        "{:#}",
        MultiTaskNet::seeded(0, &no_folder, &heads, [3, 9], Device::Cpu).unwrap_err()
    );
    assert!(
        e.contains("model.pretrained") && e.contains("Hugging Face model folder"),
        "{e}"
    );
    // An image dataset with a text encoder.
    let image = MultiTaskNet::seeded(
        0,
        &cfg("bert", &reference().join("bert")),
        &heads,
        [1, 28, 28],
        Device::Cpu,
    );
    let e = format!("{:#}", image.unwrap_err());
    assert!(e.contains("[3, L]"), "{e}");
}

/// 40 positions: RoBERTa's start after padding_idx 1, leaving 38; BERT uses all 40.
#[test]
fn sequences_longer_than_the_positions_name_data_max_length() {
    assert!(net("roberta", &reference().join("roberta"), 38).is_ok());
    let e = format!(
        "{:#}",
        net("roberta", &reference().join("roberta"), 39).unwrap_err()
    );
    assert!(e.contains("data.max_length") && e.contains("38"), "{e}");
    assert!(net("bert", &reference().join("bert"), 40).is_ok());
    let e = format!(
        "{:#}",
        net("bert", &reference().join("bert"), 41).unwrap_err()
    );
    assert!(e.contains("data.max_length"), "{e}");
}

/// Training mode, dropout on: every encoder parameter gets a gradient, and one graph serves
/// several backward passes (per-task gradients of the Jacobian) with identical results.
#[test]
fn gradients_flow_and_the_graph_can_be_reused() {
    let r = read_safetensors(&reference().join("roberta_ref.safetensors"));
    let xs = get(&r, "xs");
    let net = net("roberta", &reference().join("roberta"), 9).unwrap();
    let f = net.features(&xs, true);
    let l1 = f.pow_tensor_scalar(2).sum(Kind::Float);
    let l2 = f.select(1, 3).sum(Kind::Float);
    let params = net.shared_params();
    let g1 = Tensor::run_backward(&[&l1], &params, true, false);
    let g2 = Tensor::run_backward(&[&l2], &params, true, false);
    let g1b = Tensor::run_backward(&[&l1], &params, true, false);
    for (((name, _), a), b) in net.named_params().iter().zip(&g1).zip(&g1b) {
        assert!(
            a.equal(b),
            "{name}: a second pass through the graph differs"
        );
        assert!(a.abs().max().double_value(&[]) > 0.0, "{name}: no gradient");
    }
    assert!(g1.iter().zip(&g2).any(|(a, b)| !a.equal(b)));
    // And the ordinary backward into .grad.
    net.head(0, &f, true).sum(Kind::Float).backward();
    assert!(params[0].grad().defined());
}
