//! Regression of a scalar or vector target: a linear head `[N, D] → [N, outputs]`, MSE (or L1)
//! loss against f32 targets `[N]` (outputs = 1) or `[N, outputs]`, and MSE, MAE, Pearson's r
//! and Spearman's ρ over the whole split.
//!
//! MSE and MAE average over all N·outputs values. Pearson and Spearman are computed per output
//! column over the N examples and then averaged over the columns. Pearson's
//! r = Σ(x−x̄)(y−ȳ) / √(Σ(x−x̄)² Σ(y−ȳ)²) (two passes, in f64); Spearman's ρ is Pearson's r of
//! the ranks, ties given their average rank (as `scipy.stats.spearmanr`). Both are NaN when a
//! column has no spread or fewer than two examples (as scipy). Predictions and targets are kept
//! on the host (16 bytes per value) until [`MetricAccumulator::finish`].

use serde::{Deserialize, Serialize};
use tch::{nn, Kind, Reduction, Tensor};

use super::{head, FeatureShape, Head, MetricAccumulator, MetricSpec, TaskError, TaskKind};
use super::{ratio, scalar_f64, to_vec_f64, Direction};

/// The training loss of a regression task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RegressionLoss {
    /// Mean squared error.
    #[default]
    Mse,
    /// Mean absolute error.
    L1,
}

/// A metric of a regression task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RegressionMetric {
    /// Mean squared error.
    Mse,
    /// Mean absolute error.
    Mae,
    /// Pearson's r.
    Pearson,
    /// Spearman's ρ.
    Spearman,
}

impl RegressionMetric {
    /// The default order after the loss.
    pub const ALL: [RegressionMetric; 4] = [
        RegressionMetric::Mse,
        RegressionMetric::Mae,
        RegressionMetric::Pearson,
        RegressionMetric::Spearman,
    ];

    /// Name in run files.
    pub fn name(self) -> &'static str {
        match self {
            RegressionMetric::Mse => "mse",
            RegressionMetric::Mae => "mae",
            RegressionMetric::Pearson => "pearson",
            RegressionMetric::Spearman => "spearman",
        }
    }

    fn direction(self) -> Direction {
        match self {
            RegressionMetric::Mse | RegressionMetric::Mae => Direction::Lower,
            RegressionMetric::Pearson | RegressionMetric::Spearman => Direction::Higher,
        }
    }
}

/// `{ kind = "regression", outputs = 1, loss = "l1" }` (`loss` defaults to `mse`);
/// `metrics = ["pearson", "spearman"]` puts those first (STS-B's GLUE metrics: the first is the
/// task's primary metric, which selection and the headline use), the rest follow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegressionSpec {
    /// Width of the target (≥ 1).
    pub outputs: i64,
    /// Training loss.
    #[serde(default)]
    pub loss: RegressionLoss,
    /// Metrics to report first, in this order, no repeats (all four are always reported).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<RegressionMetric>,
}

impl RegressionSpec {
    /// `outputs` columns, MSE loss, metrics in the default order.
    pub fn new(outputs: i64) -> Self {
        Self {
            outputs,
            loss: RegressionLoss::Mse,
            metrics: vec![],
        }
    }

    /// The metrics after the loss: the listed ones, then the others in the default order.
    pub fn ordered_metrics(&self) -> Vec<RegressionMetric> {
        let mut m = self.metrics.clone();
        m.extend(
            RegressionMetric::ALL
                .iter()
                .filter(|x| !self.metrics.contains(x)),
        );
        m
    }

    /// Checks the parameters, naming the bad key.
    pub fn validate(&self) -> Result<(), TaskError> {
        for (i, m) in self.metrics.iter().enumerate() {
            if self.metrics[..i].contains(m) {
                return Err(TaskError::Param {
                    kind: "regression",
                    key: "metrics",
                    message: format!("lists `{}` twice", m.name()),
                });
            }
        }
        if self.outputs < 1 {
            return Err(TaskError::Param {
                kind: "regression",
                key: "outputs",
                message: format!("must be >= 1, got {}", self.outputs),
            });
        }
        Ok(())
    }
}

/// The regression kind.
#[derive(Debug, Clone)]
pub struct Regression {
    spec: RegressionSpec,
}

impl Regression {
    /// The kind for `spec`, validated.
    pub fn new(spec: RegressionSpec) -> Result<Self, TaskError> {
        spec.validate()?;
        Ok(Self { spec })
    }
}

/// `target` shaped like `out` `[N, D]`: `[N, D]` as is, `[N]` when D = 1; cast to out's kind.
fn aligned(out: &Tensor, target: &Tensor) -> Tensor {
    let (o, t) = (out.size(), target.size());
    let ok = t == o || (o.len() == 2 && o[1] == 1 && t == [o[0]]);
    assert!(
        ok,
        "regression: targets must be [N, D] like the outputs or [N] with D = 1; \
         outputs {o:?}, targets {t:?}"
    );
    target.reshape(o.as_slice()).to_kind(out.kind())
}

impl TaskKind for Regression {
    fn name(&self) -> &'static str {
        "regression"
    }

    fn metrics(&self) -> Vec<MetricSpec> {
        let mut m = vec![MetricSpec::new("loss", Direction::Lower)];
        for x in self.spec.ordered_metrics() {
            m.push(MetricSpec::new(x.name(), x.direction()));
        }
        m
    }

    fn build_head(
        &self,
        p: nn::Path,
        features: FeatureShape,
        _input_hw: Option<(i64, i64)>,
    ) -> anyhow::Result<Box<dyn Head>> {
        Ok(head::linear_head(
            self.name(),
            p,
            features,
            self.spec.outputs,
        )?)
    }

    /// Mean over all N·D values of (ŷ − y)² (or |ŷ − y|); equals the mean of
    /// [`Self::per_example_loss`] since every example has D values.
    fn loss(&self, out: &Tensor, target: &Tensor) -> Tensor {
        let t = aligned(out, target);
        match self.spec.loss {
            RegressionLoss::Mse => out.mse_loss(&t, Reduction::Mean),
            RegressionLoss::L1 => out.l1_loss(&t, Reduction::Mean),
        }
    }

    fn per_example_loss(&self, out: &Tensor, target: &Tensor) -> Tensor {
        let t = aligned(out, target);
        let per = match self.spec.loss {
            RegressionLoss::Mse => out.mse_loss(&t, Reduction::None),
            RegressionLoss::L1 => out.l1_loss(&t, Reduction::None),
        };
        per.mean_dim(1, false, None::<Kind>)
    }

    fn accumulator(&self) -> Box<dyn MetricAccumulator> {
        Box::new(RegressionAccumulator {
            kind: self.clone(),
            loss: 0.0,
            n: 0,
            pred: Vec::new(),
            target: Vec::new(),
        })
    }
}

/// Summed loss and every prediction and target (row-major `[n, D]`) of a split.
#[derive(Debug)]
pub struct RegressionAccumulator {
    kind: Regression,
    loss: f64,
    n: usize,
    pred: Vec<f64>,
    target: Vec<f64>,
}

impl MetricAccumulator for RegressionAccumulator {
    fn add(&mut self, out: &Tensor, target: &Tensor) {
        tch::no_grad(|| {
            let per = self.kind.per_example_loss(out, target);
            self.loss += scalar_f64(&per.sum(Kind::Double));
            self.pred.extend(to_vec_f64(out));
            self.target.extend(to_vec_f64(&aligned(out, target)));
        });
        self.n += out.size()[0] as usize;
    }

    fn finish(&self) -> Vec<f64> {
        let d = self.kind.spec.outputs as usize;
        let m = self.pred.len() as f64;
        let (mut se, mut ae) = (0.0, 0.0);
        for (p, t) in self.pred.iter().zip(&self.target) {
            se += (p - t) * (p - t);
            ae += (p - t).abs();
        }
        let column =
            |v: &[f64], j: usize| -> Vec<f64> { v.iter().skip(j).step_by(d).copied().collect() };
        let (mut r, mut rho) = (0.0, 0.0);
        for j in 0..d {
            let (x, y) = (column(&self.pred, j), column(&self.target, j));
            r += pearson(&x, &y);
            rho += spearman(&x, &y);
        }
        let mut v = vec![ratio(self.loss, self.n as f64)];
        for x in self.kind.spec.ordered_metrics() {
            v.push(match x {
                RegressionMetric::Mse => ratio(se, m),
                RegressionMetric::Mae => ratio(ae, m),
                RegressionMetric::Pearson => r / d as f64,
                RegressionMetric::Spearman => rho / d as f64,
            });
        }
        v
    }
}

/// Pearson's r of `x` and `y` (two passes); NaN with fewer than two values or no spread.
pub fn pearson(x: &[f64], y: &[f64]) -> f64 {
    assert_eq!(x.len(), y.len(), "pearson: lengths differ");
    let n = x.len() as f64;
    if x.len() < 2 {
        return f64::NAN;
    }
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        let (dx, dy) = (a - mx, b - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if sxx == 0.0 || syy == 0.0 {
        return f64::NAN;
    }
    sxy / (sxx * syy).sqrt()
}

/// Ranks 1..=n of `x`, ties sharing their average rank.
pub fn average_ranks(x: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..x.len()).collect();
    idx.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut ranks = vec![0.0; x.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && x[idx[j + 1]] == x[idx[i]] {
            j += 1;
        }
        // Positions i..=j (0-based) hold ranks i+1..=j+1; their mean is (i + j)/2 + 1.
        let r = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            ranks[k] = r;
        }
        i = j + 1;
    }
    ranks
}

/// Spearman's ρ: Pearson's r of the average ranks.
pub fn spearman(x: &[f64], y: &[f64]) -> f64 {
    pearson(&average_ranks(x), &average_ranks(y))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    fn kind(outputs: i64, loss: RegressionLoss) -> Regression {
        Regression::new(RegressionSpec {
            outputs,
            loss,
            metrics: vec![],
        })
        .unwrap()
    }

    /// Listed metrics come first (STS-B: Pearson is primary), values follow their names.
    #[test]
    fn metric_order_follows_the_spec() {
        let default = kind(1, RegressionLoss::Mse);
        let listed = Regression::new(RegressionSpec {
            metrics: vec![RegressionMetric::Pearson, RegressionMetric::Spearman],
            ..RegressionSpec::new(1)
        })
        .unwrap();
        let names =
            |k: &Regression| -> Vec<String> { k.metrics().into_iter().map(|m| m.name).collect() };
        assert_eq!(
            names(&default),
            ["loss", "mse", "mae", "pearson", "spearman"]
        );
        assert_eq!(
            names(&listed),
            ["loss", "pearson", "spearman", "mse", "mae"]
        );
        let out = Tensor::from_slice(&[1.0f32, 2.0, 4.0, 3.0]).view([4, 1]);
        let y = Tensor::from_slice(&[1.0f32, 3.0, 2.0, 5.0]);
        let (mut a, mut b) = (default.accumulator(), listed.accumulator());
        a.add(&out, &y);
        b.add(&out, &y);
        let (a, b) = (a.finish(), b.finish());
        assert_eq!([a[0], a[3], a[4], a[1], a[2]], b[..]);
        let e = RegressionSpec {
            metrics: vec![RegressionMetric::Mae, RegressionMetric::Mae],
            ..RegressionSpec::new(1)
        }
        .validate()
        .unwrap_err();
        assert!(e.to_string().contains("`metrics`"), "{e}");
    }

    #[test]
    fn pearson_spearman_with_ties_by_hand() {
        let (x, y) = ([1.0, 2.0, 2.0, 3.0], [1.0, 3.0, 2.0, 5.0]);
        // Deviations x: (−1, 0, 0, 1), y: (−1.75, 0.25, −0.75, 2.25): Σxy 4, Σx² 2, Σy² 8.75.
        assert!((pearson(&x, &y) - 4.0 / 17.5f64.sqrt()).abs() < 1e-15);
        assert_eq!(average_ranks(&x), vec![1.0, 2.5, 2.5, 4.0]);
        // Rank deviations (−1.5, 0, 0, 1.5) and (−1.5, 0.5, −0.5, 1.5): 4.5 / √(4.5·5) = 3/√10.
        assert!((spearman(&x, &y) - 3.0 / 10f64.sqrt()).abs() < 1e-15);
        assert_eq!(
            average_ranks(&[3.0, 1.0, 3.0, 3.0]),
            vec![3.0, 1.0, 3.0, 3.0]
        );
        assert!(pearson(&[1.0, 1.0], &[1.0, 2.0]).is_nan());
        assert!(pearson(&[1.0], &[1.0]).is_nan());
    }

    #[test]
    fn scalar_target_by_hand() {
        let out = Tensor::from_slice(&[1f32, 2.0, 2.0, 3.0]).view([4, 1]);
        let y = Tensor::from_slice(&[1f32, 3.0, 2.0, 5.0]);
        for (loss, expect) in [(RegressionLoss::Mse, 1.25), (RegressionLoss::L1, 0.75)] {
            let k = kind(1, loss);
            assert!((scalar_f64(&k.loss(&out, &y)) - expect).abs() < 1e-7);
            let per = k.per_example_loss(&out, &y);
            assert_eq!(per.size(), vec![4]);
            assert!((scalar_f64(&per.mean(Kind::Double)) - expect).abs() < 1e-7);
            let mut acc = k.accumulator();
            acc.add(&out, &y);
            let v = acc.finish();
            assert!((v[0] - expect).abs() < 1e-12);
            assert!((v[1] - 1.25).abs() < 1e-12);
            assert!((v[2] - 0.75).abs() < 1e-12);
            assert!((v[3] - 4.0 / 17.5f64.sqrt()).abs() < 1e-12);
            assert!((v[4] - 3.0 / 10f64.sqrt()).abs() < 1e-12);
        }
    }

    #[test]
    fn vector_target_averages_columns_and_chunks_agree() {
        // Column 0 as above; column 1 exactly reversed (r = ρ = −1).
        let out = Tensor::from_slice(&[1f32, 1.0, 2.0, 2.0, 2.0, 3.0, 3.0, 4.0]).view([4, 2]);
        let y = Tensor::from_slice(&[1f32, 4.0, 3.0, 3.0, 2.0, 2.0, 5.0, 1.0]).view([4, 2]);
        let k = kind(2, RegressionLoss::Mse);
        // Squared errors: column 0 (0, 1, 0, 4), column 1 (9, 1, 1, 9): MSE 25/8.
        assert!((scalar_f64(&k.loss(&out, &y)) - 25.0 / 8.0).abs() < 1e-6);
        let per = super::super::to_vec_f64(&k.per_example_loss(&out, &y));
        assert_eq!(per, vec![4.5, 1.0, 0.5, 6.5]);
        let mut one = k.accumulator();
        one.add(&out, &y);
        let mut two = k.accumulator();
        two.add(&out.narrow(0, 0, 3), &y.narrow(0, 0, 3));
        two.add(&out.narrow(0, 3, 1), &y.narrow(0, 3, 1));
        let (a, b) = (one.finish(), two.finish());
        for (u, v) in a.iter().zip(&b) {
            assert!((u - v).abs() < 1e-12);
        }
        assert!((a[1] - 25.0 / 8.0).abs() < 1e-12);
        assert!((a[2] - 11.0 / 8.0).abs() < 1e-12); // |e|: (0,1,0,2) and (3,1,1,3)
        assert!((a[3] - (4.0 / 17.5f64.sqrt() - 1.0) / 2.0).abs() < 1e-12);
        assert!((a[4] - (3.0 / 10f64.sqrt() - 1.0) / 2.0).abs() < 1e-12);
    }

    #[test]
    fn head_width_and_validation() {
        let vs = nn::VarStore::new(Device::Cpu);
        let h = kind(3, RegressionLoss::Mse)
            .build_head(vs.root(), FeatureShape::Vector { dim: 2 }, None)
            .unwrap();
        let y = h.forward(&Tensor::zeros([5, 2], (Kind::Float, Device::Cpu)), false);
        assert_eq!(y.size(), vec![5, 3]);
        let e = RegressionSpec {
            outputs: 0,
            ..RegressionSpec::new(1)
        }
        .validate()
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "task kind `regression`: `outputs` must be >= 1, got 0"
        );
    }
}
