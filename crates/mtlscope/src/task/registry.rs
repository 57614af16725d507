//! The task-kind registry: one table of kinds (name, description, parameters, an example spec)
//! that feeds `mtlscope datasets`, error messages and the tests, and [`TaskSpec`], the
//! configuration of one task's kind.

use serde::{Deserialize, Serialize};

use super::binary::{Binary, BinarySpec};
use super::depth::{Depth, DepthSpec};
use super::multiclass::{Multiclass, MulticlassSpec};
use super::normals::{Normals, NormalsSpec};
use super::regression::{Regression, RegressionSpec};
use super::segmentation::{Segmentation, SegmentationSpec};
use super::{TaskError, TaskKind};

/// A task kind as listed to users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindInfo {
    /// Name, the `kind` key of a [`TaskSpec`].
    pub name: &'static str,
    /// One line: head, loss, metrics.
    pub description: &'static str,
    /// Parameters with their defaults.
    pub params: &'static str,
    /// A complete spec in TOML inline-table syntax.
    pub example: &'static str,
}

const KINDS: &[KindInfo] = &[
    KindInfo {
        name: "multiclass",
        description: "one label of C classes: linear head, cross-entropy; accuracy, top-k accuracy, F1, Matthews correlation, accuracy per subset",
        params: "classes (>= 2); top_k = [] (extra top-k accuracies, each 2..=classes); metrics = [] (\"f1\" with classes = 2, \"mcc\"); subsets = [] (names; targets [N, 2] carry each example's subset, accuracy_<name> each)",
        example: r#"{ kind = "multiclass", classes = 10, top_k = [5] }"#,
    },
    KindInfo {
        name: "binary",
        description: "one 0/1 attribute: linear head with one logit, BCE with logits; accuracy, F1",
        params: "none",
        example: r#"{ kind = "binary" }"#,
    },
    KindInfo {
        name: "regression",
        description: "scalar or vector target: linear head, MSE or L1; MSE, MAE, Pearson, Spearman",
        params: "outputs (>= 1); loss = \"mse\" (or \"l1\"); metrics = [] (reported first, in order: mse, mae, pearson, spearman)",
        example: r#"{ kind = "regression", outputs = 1, loss = "l1" }"#,
    },
    KindInfo {
        name: "segmentation",
        description: "per-pixel classes: conv decoder, cross-entropy with an ignore label; mIoU, pixel accuracy",
        params: "classes (>= 2); ignore_index = -1 (outside 0..classes); decoder_channels = encoder channels",
        example: r#"{ kind = "segmentation", classes = 13, ignore_index = -1 }"#,
    },
    KindInfo {
        name: "depth",
        description: "per-pixel depth: conv decoder, L1 over valid pixels (target != 0); abs err, rel err",
        params: "decoder_channels = encoder channels",
        example: r#"{ kind = "depth" }"#,
    },
    KindInfo {
        name: "normals",
        description: "per-pixel unit normals: conv decoder, 1 - cos over valid pixels; angle mean, median, within 11.25/22.5/30 deg",
        params: "decoder_channels = encoder channels",
        example: r#"{ kind = "normals", decoder_channels = 64 }"#,
    },
];

/// Every task kind, in a fixed order.
pub fn kinds() -> &'static [KindInfo] {
    KINDS
}

/// The kind named `name`; the error lists the known ones.
pub fn lookup(name: &str) -> Result<&'static KindInfo, TaskError> {
    KINDS
        .iter()
        .find(|k| k.name == name)
        .ok_or_else(|| TaskError::UnknownKind {
            name: name.to_string(),
            known: KINDS.iter().map(|k| k.name).collect::<Vec<_>>().join(", "),
        })
}

/// The configuration of one task's kind, tagged by `kind`; each variant's parameters reject
/// unknown keys (`deny_unknown_fields`), and an unknown `kind` is a parse error listing the
/// known kinds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum TaskSpec {
    /// See [`super::multiclass`].
    Multiclass(MulticlassSpec),
    /// See [`super::binary`].
    Binary(BinarySpec),
    /// See [`super::regression`].
    Regression(RegressionSpec),
    /// See [`super::segmentation`].
    Segmentation(SegmentationSpec),
    /// See [`super::depth`].
    Depth(DepthSpec),
    /// See [`super::normals`].
    Normals(NormalsSpec),
}

impl TaskSpec {
    /// The kind's name (a row of [`kinds`]).
    pub fn kind_name(&self) -> &'static str {
        match self {
            TaskSpec::Multiclass(_) => "multiclass",
            TaskSpec::Binary(_) => "binary",
            TaskSpec::Regression(_) => "regression",
            TaskSpec::Segmentation(_) => "segmentation",
            TaskSpec::Depth(_) => "depth",
            TaskSpec::Normals(_) => "normals",
        }
    }

    /// Checks the parameters; the error names the kind and key.
    pub fn validate(&self) -> Result<(), TaskError> {
        match self {
            TaskSpec::Multiclass(s) => s.validate(),
            TaskSpec::Binary(s) => s.validate(),
            TaskSpec::Regression(s) => s.validate(),
            TaskSpec::Segmentation(s) => s.validate(),
            TaskSpec::Depth(s) => s.validate(),
            TaskSpec::Normals(s) => s.validate(),
        }
    }

    /// The validated kind.
    pub fn build(&self) -> Result<Box<dyn TaskKind>, TaskError> {
        Ok(match self {
            TaskSpec::Multiclass(s) => Box::new(Multiclass::new(s.clone())?),
            TaskSpec::Binary(s) => {
                s.validate()?;
                Box::new(Binary)
            }
            TaskSpec::Regression(s) => Box::new(Regression::new(s.clone())?),
            TaskSpec::Segmentation(s) => Box::new(Segmentation::new(s.clone())?),
            TaskSpec::Depth(s) => Box::new(Depth::new(s.clone())?),
            TaskSpec::Normals(s) => Box::new(Normals::new(s.clone())?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `spec` as the value of `task = …` in TOML.
    fn parse(spec: &str) -> Result<TaskSpec, String> {
        #[derive(Deserialize)]
        struct Doc {
            task: TaskSpec,
        }
        toml::from_str::<Doc>(&format!("task = {spec}"))
            .map(|d| d.task)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn every_kind_example_parses_builds_and_names_itself() {
        for info in kinds() {
            let spec = parse(info.example).unwrap_or_else(|e| panic!("{}: {e}", info.name));
            assert_eq!(spec.kind_name(), info.name);
            let kind = spec.build().unwrap();
            assert_eq!(kind.name(), info.name);
            let m = kind.metrics();
            assert_eq!(
                m[0],
                super::super::MetricSpec::new("loss", super::super::Direction::Lower)
            );
            assert_eq!(kind.accumulator().finish().len(), m.len(), "{}", info.name);
            assert_eq!(lookup(info.name).unwrap(), info);
            // Round trip through serde.
            let back: TaskSpec =
                serde_json::from_value(serde_json::to_value(&spec).unwrap()).unwrap();
            assert_eq!(back, spec);
        }
    }

    #[test]
    fn defaults_and_values() {
        assert_eq!(
            parse(r#"{ kind = "segmentation", classes = 7 }"#).unwrap(),
            TaskSpec::Segmentation(SegmentationSpec {
                classes: 7,
                ignore_index: -1,
                decoder_channels: None
            })
        );
        assert_eq!(
            parse(r#"{ kind = "regression", outputs = 2 }"#).unwrap(),
            TaskSpec::Regression(RegressionSpec::new(2))
        );
    }

    #[test]
    fn misspelled_key_and_unknown_kind_fail() {
        let e = parse(r#"{ kind = "multiclass", clases = 10 }"#).unwrap_err();
        assert!(e.contains("unknown field `clases`"), "{e}");
        let e = parse(r#"{ kind = "depth", ignore_index = 0 }"#).unwrap_err();
        assert!(e.contains("unknown field `ignore_index`"), "{e}");
        let e = parse(r#"{ kind = "binary", classes = 2 }"#).unwrap_err();
        assert!(e.contains("unknown field `classes`"), "{e}");
        let e = parse(r#"{ kind = "regression", outputs = 1, loss = "huber" }"#).unwrap_err();
        assert!(e.contains("huber"), "{e}");
        let e = parse(r#"{ kind = "keypoints" }"#).unwrap_err();
        assert!(e.contains("keypoints") && e.contains("segmentation"), "{e}");
        assert_eq!(
            lookup("keypoints").unwrap_err().to_string(),
            "unknown task kind `keypoints`; known: multiclass, binary, regression, \
             segmentation, depth, normals"
        );
    }

    #[test]
    fn build_validates() {
        let spec = parse(r#"{ kind = "normals", decoder_channels = 0 }"#).unwrap();
        assert_eq!(
            spec.build().unwrap_err().to_string(),
            "task kind `normals`: `decoder_channels` must be >= 1, got 0"
        );
        assert!(
            parse(r#"{ kind = "segmentation", classes = 13, ignore_index = 255 }"#)
                .unwrap()
                .build()
                .is_ok()
        );
    }
}
