use anyhow::{bail, Result};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;

/// How the task losses become one update (`objective.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjectiveKind {
    /// Uniform multi-task gradient, C · Σ_k ∇L_k (Mueller et al. 2025, Eq. 2).
    Umtg,
    /// A gradient aggregator from `mtl-aggregate` applied to the per-task Jacobian.
    Aggregate,
    /// A loss weighting (`train/objective/weighting/`).
    Weighting,
}

/// `reduction` of the UMTG: `sum` (C · Σ L_k) or `mean` (C · mean_k L_k).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reduction {
    /// C · Σ_k L_k (the paper's setting with C = 1).
    Sum,
    /// C · (1/K) Σ_k L_k.
    Mean,
}

/// `[objective]`. Method parameters are keys of the same table (`c = 0.4` for CAGrad), checked
/// against the method's registry entry: a key that is neither a field below nor a parameter
/// of the chosen method is an error naming it.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectiveConfig {
    /// The objective family.
    pub kind: ObjectiveKind,
    /// UMTG reduction.
    pub reduction: Reduction,
    /// UMTG scale factor C.
    pub scale: f64,
    /// Method name for `aggregate` and `weighting` (see `mtlscope methods`).
    pub method: Option<String>,
    /// Aggregate gradients w.r.t. the shared representation instead of the shared parameters
    /// (MGDA-UB style); `aggregate` only.
    pub rep_grad: bool,
    /// Write per-step quantities to `steps.csv` every N steps (0 = never).
    pub log_every: usize,
    /// `aggregate` only: learned loss scales applied before aggregation (`"imtl_l"`: the
    /// Jacobian of e^{s_k} L_k − s_k, as LibMTL's IMTL = IMTL-L + IMTL-G with method `imtl_g`).
    pub loss_scale: Option<String>,
    /// Adam learning rate of the loss scales.
    pub loss_scale_lr: f64,
    /// The method's parameters, as given.
    pub params: BTreeMap<String, toml::Value>,
}

impl Default for ObjectiveConfig {
    fn default() -> Self {
        Self {
            kind: ObjectiveKind::Umtg,
            reduction: Reduction::Sum,
            scale: 1.0,
            method: None,
            rep_grad: false,
            log_every: 10,
            loss_scale: None,
            loss_scale_lr: 1e-3,
            params: BTreeMap::new(),
        }
    }
}

const FIELDS: [&str; 8] = [
    "kind",
    "reduction",
    "scale",
    "method",
    "rep_grad",
    "log_every",
    "loss_scale",
    "loss_scale_lr",
];

impl<'de> Deserialize<'de> for ObjectiveConfig {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut t = toml::Table::deserialize(de)?;
        let mut cfg = ObjectiveConfig::default();
        let take = |t: &mut toml::Table, k: &str| t.remove(k);
        if let Some(v) = take(&mut t, "kind") {
            cfg.kind = v
                .try_into()
                .map_err(|e| D::Error::custom(format!("kind: {e}")))?;
        }
        if let Some(v) = take(&mut t, "reduction") {
            cfg.reduction = v
                .try_into()
                .map_err(|e| D::Error::custom(format!("reduction: {e}")))?;
        }
        if let Some(v) = take(&mut t, "scale") {
            cfg.scale = number(&v)
                .ok_or_else(|| D::Error::custom(format!("scale: expected a number, got {v}")))?;
        }
        if let Some(v) = take(&mut t, "method") {
            let s = v
                .as_str()
                .ok_or_else(|| D::Error::custom(format!("method: expected a string, got {v}")))?;
            cfg.method = Some(s.to_string());
        }
        if let Some(v) = take(&mut t, "rep_grad") {
            cfg.rep_grad = v.as_bool().ok_or_else(|| {
                D::Error::custom(format!("rep_grad: expected true/false, got {v}"))
            })?;
        }
        if let Some(v) = take(&mut t, "log_every") {
            cfg.log_every = v.as_integer().filter(|i| *i >= 0).ok_or_else(|| {
                D::Error::custom(format!("log_every: expected an integer >= 0, got {v}"))
            })? as usize;
        }
        if let Some(v) = take(&mut t, "loss_scale") {
            let s = v.as_str().ok_or_else(|| {
                D::Error::custom(format!("loss_scale: expected a string, got {v}"))
            })?;
            cfg.loss_scale = Some(s.to_string());
        }
        if let Some(v) = take(&mut t, "loss_scale_lr") {
            cfg.loss_scale_lr = number(&v).ok_or_else(|| {
                D::Error::custom(format!("loss_scale_lr: expected a number, got {v}"))
            })?;
        }
        cfg.params = t.into_iter().collect();
        Ok(cfg)
    }
}

impl Serialize for ObjectiveConfig {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut t = toml::Table::new();
        let kind = toml::Value::try_from(self.kind).expect("serialises");
        t.insert("kind".into(), kind);
        t.insert(
            "reduction".into(),
            toml::Value::try_from(self.reduction).expect("serialises"),
        );
        t.insert("scale".into(), toml::Value::Float(self.scale));
        if let Some(m) = &self.method {
            t.insert("method".into(), toml::Value::String(m.clone()));
        }
        t.insert("rep_grad".into(), toml::Value::Boolean(self.rep_grad));
        t.insert(
            "log_every".into(),
            toml::Value::Integer(self.log_every as i64),
        );
        if let Some(l) = &self.loss_scale {
            t.insert("loss_scale".into(), toml::Value::String(l.clone()));
            t.insert(
                "loss_scale_lr".into(),
                toml::Value::Float(self.loss_scale_lr),
            );
        }
        for (k, v) in &self.params {
            t.insert(k.clone(), v.clone());
        }
        t.serialize(s)
    }
}

fn number(v: &toml::Value) -> Option<f64> {
    v.as_float().or_else(|| v.as_integer().map(|i| i as f64))
}

impl ObjectiveConfig {
    /// The method parameters as (name, text) pairs, the form the registries take.
    pub fn param_pairs(&self) -> Vec<(String, String)> {
        self.params
            .iter()
            .map(|(k, v)| {
                let text = match v {
                    toml::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), text)
            })
            .collect()
    }

    pub(super) fn validate(&self) -> Result<()> {
        if !(self.scale.is_finite() && self.scale > 0.0) {
            bail!(
                "objective.scale must be a finite number > 0, got {}",
                self.scale
            );
        }
        let method = self.method.as_deref();
        if let Some(l) = &self.loss_scale {
            if l != "imtl_l" {
                bail!("objective.loss_scale: unknown loss scaling `{l}`; known: imtl_l");
            }
            if self.kind != ObjectiveKind::Aggregate {
                bail!("objective.loss_scale applies to kind = \"aggregate\" only");
            }
            if !(self.loss_scale_lr.is_finite() && self.loss_scale_lr > 0.0) {
                bail!(
                    "objective.loss_scale_lr must be a finite number > 0, got {}",
                    self.loss_scale_lr
                );
            }
        }
        match self.kind {
            ObjectiveKind::Umtg => {
                if let Some(m) = method {
                    bail!("objective.method = \"{m}\" needs objective.kind = \"aggregate\" or \"weighting\"");
                }
                if let Some(k) = self.params.keys().next() {
                    bail!(
                        "objective.{k}: unknown key for kind = \"umtg\"; known: {}",
                        FIELDS.join(", ")
                    );
                }
                if self.rep_grad {
                    bail!("objective.rep_grad needs objective.kind = \"aggregate\"");
                }
            }
            ObjectiveKind::Aggregate | ObjectiveKind::Weighting => {
                // The method's name and parameters are checked against the method registry
                // by `crate::resolve::check_run`.
                if method.is_none() {
                    bail!(
                        "objective.method is required for kind = \"{:?}\"",
                        self.kind
                    );
                }
            }
        }
        Ok(())
    }
}
