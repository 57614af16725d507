//! DeepLabV3+ (`model.encoder = "deeplabv3plus"`) against plain PyTorch, and its configs.
//!
//! `scripts/deeplab_reference.py` builds torchvision's ResNet-50 with
//! `replace_stride_with_dilation=[False, True, True]` and two LibMTL `DeepLabHead`s
//! (segmentation, 13 classes; normals, 3 unit channels) with random weights and non-trivial
//! batch-norm statistics, and writes the encoder's state dict under torchvision's keys (`fc.*`
//! and `num_batches_tracked` included), the heads' under `head.<task>.` + LibMTL's keys, an
//! input batch (2 × 3 × 160 × 224: a 20 × 28 feature map, so the rate-12 and rate-24 atrous taps
//! land inside it) and the eval-mode feature map and outputs. mtlscope loads the encoder through
//! `model.pretrained` (which must skip exactly `fc.*` and the counters) and the heads by
//! variable name, and must reproduce both to 1e-4 of the reference's largest magnitude: the same
//! libtorch kernels run on both sides, so only summation order can differ (measured: 1.4e-5 on
//! the feature map, 4e-5 on the outputs, with 1 thread in Python and the default in Rust).
//! Unit normals are compared scaled back by the reference's raw length (see the test).

mod common;

use common::read_safetensors;

use std::path::Path;
use std::sync::OnceLock;

use mtlscope::config::{ModelConfig, RunConfig};
use mtlscope::model::{MultiTaskNet, TaskHead};
use mtlscope::task::normals::NormalsSpec;
use mtlscope::task::segmentation::SegmentationSpec;
use mtlscope::task::TaskSpec;
use tch::{Device, Kind, Tensor};

/// The reference's files, written once for every test of this file.
fn reference() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        common::reference_outputs("deeplab_reference.py", "tests/deeplab.rs", "torch")
    })
    .path()
}

fn get<'a>(tensors: &'a [(String, Tensor)], key: &str) -> &'a Tensor {
    &tensors
        .iter()
        .find(|(k, _)| k == key)
        .unwrap_or_else(|| panic!("no `{key}`"))
        .1
}

fn tasks() -> Vec<TaskHead> {
    let seg = TaskSpec::Segmentation(SegmentationSpec {
        classes: 13,
        ignore_index: -1,
        decoder_channels: None,
    });
    let normal = TaskSpec::Normals(NormalsSpec::default());
    [("segmentation", seg), ("normal", normal)]
        .into_iter()
        .map(|(n, s)| (n.to_string(), s.build().unwrap().into()))
        .collect()
}

/// The net with its encoder from `pretrained` (seeded, under the init lock).
fn net(pretrained: &Path) -> anyhow::Result<MultiTaskNet> {
    let cfg = ModelConfig {
        encoder: "deeplabv3plus".into(),
        pretrained: Some(pretrained.to_path_buf()),
        ..Default::default()
    };
    MultiTaskNet::seeded(3, &cfg, &tasks(), [3, 160, 224], Device::Cpu)
}

/// max |a − b| / max |b|.
fn rel_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size());
    let d = (a - b).abs().max().double_value(&[]);
    d / b.abs().max().double_value(&[])
}

#[test]
fn forward_matches_pytorch_torchvision_resnet50_and_libmtl_heads() {
    let dir = reference();
    let n = net(&dir.join("encoder.safetensors")).unwrap();
    // Heads by variable name: every head variable from the file, every key of the file used.
    let heads = read_safetensors(&dir.join("heads.safetensors"));
    let vars = n.vs.variables();
    let mut head_vars = 0;
    tch::no_grad(|| {
        for (name, var) in &vars {
            if name.starts_with("head.") {
                var.shallow_clone().copy_(get(&heads, name));
                head_vars += 1;
            }
        }
    });
    assert_eq!(head_vars, heads.len());

    let refs = read_safetensors(&dir.join("ref.safetensors"));
    let x = get(&refs, "input");
    let z = n.features(x, false);
    assert_eq!(z.size(), [2, 2048, 20, 28]);
    let dz = rel_diff(&z, get(&refs, "features"));
    let ds = rel_diff(&n.head(0, &z, false), get(&refs, "out.segmentation"));
    // Unit normals amplify a difference by 1/‖raw‖ where the raw output is nearly zero; scaled
    // back by the reference's raw length, the comparison is on the head's own scale.
    let raw = get(&refs, "out.normal_raw");
    let len = raw.square().sum_dim_intlist(1, true, None::<Kind>).sqrt();
    let dn = rel_diff(&(n.head(1, &z, false) * &len), raw);
    assert!(rel_diff(&(get(&refs, "out.normal") * &len), raw) < 1e-6);
    eprintln!(
        "relative max differences: features {dz:.2e}, segmentation {ds:.2e}, normal {dn:.2e}"
    );
    for (what, d) in [("features", dz), ("segmentation", ds), ("normal", dn)] {
        assert!(d < 1e-4, "{what}: relative max difference {d:.3e}");
    }
}

/// The torchvision-keyed file loads with `fc.*` and the counters skipped; a missing or an
/// unknown key is an error naming it.
#[test]
fn pretrained_file_names_missing_and_unknown_keys() {
    let dir = reference();
    let tv = read_safetensors(&dir.join("encoder.safetensors"));
    assert!(tv.iter().any(|(k, _)| k == "fc.weight"));
    assert!(tv
        .iter()
        .any(|(k, _)| k == "layer4.2.bn3.num_batches_tracked"));
    let loaded = net(&dir.join("encoder.safetensors")).unwrap();
    let vars = loaded.vs.variables();
    for key in ["layer3.5.conv2.weight", "layer2.0.downsample.1.running_var"] {
        assert!(
            vars[&format!("encoder.{key}")].equal(get(&tv, key)),
            "{key}"
        );
    }

    let tmp = tempfile::tempdir().unwrap();
    let err = |tensors: Vec<(String, Tensor)>| -> String {
        let f = tmp.path().join("w.safetensors");
        Tensor::write_safetensors(&tensors, &f).unwrap();
        format!("{:#}", net(&f).unwrap_err())
    };
    let without: Vec<_> = tv
        .iter()
        .filter(|(k, _)| k != "layer3.4.bn2.running_mean")
        .map(|(k, t)| (k.clone(), t.shallow_clone()))
        .collect();
    let e = err(without);
    assert!(
        e.contains("lacks 1 encoder variable") && e.contains("layer3.4.bn2.running_mean"),
        "{e}"
    );
    let mut extra: Vec<_> = tv
        .iter()
        .map(|(k, t)| (k.clone(), t.shallow_clone()))
        .collect();
    extra.push((
        "layer5.0.conv1.weight".into(),
        Tensor::zeros([4], (Kind::Float, Device::Cpu)),
    ));
    let e = err(extra);
    assert!(
        e.contains("does not have") && e.contains("layer5.0.conv1.weight"),
        "{e}"
    );
}

fn config(path: &str) -> RunConfig {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path);
    let cfg = RunConfig::load(&p, &[]).unwrap_or_else(|e| panic!("{path}: {e:#}"));
    mtlscope::resolve::check_run(&cfg).unwrap_or_else(|e| panic!("{path}: {e:#}"));
    cfg
}

/// The shipped DeepLabV3+ configs parse and resolve with LibMTL's settings; `model.backbone`
/// is checked by name and a misspelt key is named.
#[test]
fn shipped_configs_and_backbone_key() {
    for (path, batch) in [
        ("configs/nyuv2/deeplab.toml", 8),
        ("configs/cityscapes/deeplab.toml", 64),
    ] {
        let cfg = config(path);
        assert_eq!(cfg.model.encoder, "deeplabv3plus", "{path}");
        assert_eq!(cfg.model.backbone, "resnet50", "{path}");
        assert_eq!(cfg.train.batch_size, batch, "{path}");
        assert_eq!(
            (cfg.optim.lr, cfg.optim.weight_decay, cfg.optim.lr_gamma),
            (1e-4, 1e-5, 0.5),
            "{path}"
        );
        assert_eq!(cfg.optim.lr_step_epochs, 100, "{path}");
    }
    for path in ["configs/nyuv2/base.toml", "configs/cityscapes/base.toml"] {
        config(path);
    }

    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/cityscapes/deeplab.toml");
    let set = |ov: &str| RunConfig::load(&p, &[ov.to_string()]);
    let cfg = set("model.backbone=resnet101").unwrap();
    mtlscope::resolve::check_run(&cfg).unwrap();
    let cfg = set("model.backbone=resnet152").unwrap();
    let e = format!("{:#}", mtlscope::resolve::check_run(&cfg).unwrap_err());
    assert!(
        e.contains("model.backbone") && e.contains("resnet152") && e.contains("resnet101"),
        "{e}"
    );
    let e = format!("{:#}", set("model.backbones=resnet101").unwrap_err());
    assert!(e.contains("model.backbones"), "{e}");
    // A resolved config leaves the default backbone out, so older run configs stay identical.
    assert!(!config("configs/nyuv2/deeplab.toml")
        .to_toml()
        .contains("backbone"));
}

/// The NYUv2 DeepLabV3+ config trains on a miniature copy of MTAN's release (32×64, 12 training
/// and 4 test scenes, 2 held out; one epoch of 2 steps), and a run cut after its first step and
/// resumed writes the same trajectory as the uninterrupted run: ASPP's dropout draws its masks
/// from the step's data, not from libtorch's generator, so a resume repeats them (with
/// `Tensor::dropout` in the head this test fails: checked).
#[test]
fn nyuv2_deeplab_trains_and_resumes_exactly() {
    use mtlscope::train::{store::Status, train};
    let tmp = tempfile::tempdir().unwrap();
    let nyu = tmp.path().join("nyuv2");
    mtlscope::data::nyuv2::write_miniature(&nyu, 12, 4, (32, 64), 1).unwrap();
    let cfg = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/nyuv2/deeplab.toml");
    let data = format!("data.data_dir={:?}", nyu.to_str().unwrap());
    let ov = [
        data.as_str(),
        "data.val_size=2",
        "train.epochs=1",
        "train.batch_size=4",
        "train.eval_batch_size=4",
    ];
    let (full, cut) = (tmp.path().join("full"), tmp.path().join("cut"));
    let o = train(common::run_options(&cfg, &full, &ov, false, None)).unwrap();
    assert_eq!(o.status, Status::Completed);
    let o = train(common::run_options(&cfg, &cut, &ov, false, Some(1))).unwrap();
    assert_eq!(o.status, Status::Interrupted);
    let o = train(common::run_options(&cfg, &cut, &ov, true, None)).unwrap();
    assert_eq!(o.status, Status::Completed);
    let read = |d: &Path| std::fs::read_to_string(d.join("trajectory.csv")).unwrap();
    let traj = read(&full);
    for m in [
        ",segmentation,test,miou,",
        ",depth,test,abs_err,",
        ",normal,test,angle_mean,",
    ] {
        assert!(traj.contains(m), "{m}: {traj}");
    }
    assert_eq!(traj, read(&cut));
}
