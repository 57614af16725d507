//! Specialised multi-task optimizers that combine per-task gradients (`kind = "aggregate"`):
//! the task Jacobian J of the shared parameters is formed on the backend, the Gramian
//! G = J Jᵀ is computed there in f64, and an `mtl-aggregate` method turns it into weights
//! (d = Jᵀw) — or, for methods that need J itself (PCGrad, GradDrop, ...), J is copied to
//! f64 and aggregated whole. Heads receive their own task's gradient, as in LibMTL/TorchJD.
//!
//! `loss_scale = "imtl_l"` (LibMTL's IMTL, Liu et al. 2021 §3: IMTL-L and IMTL-G together):
//! the rows of J are the gradients of the scaled losses e^{s_k} L_k − s_k, i.e. e^{s_k} ∇L_k,
//! heads receive e^{s_k} ∇L_k, and the scales take an Adam step on ∂/∂s_k = e^{s_k} L_k − 1
//! at the same step (LibMTL trains them with the network's optimizer; here they have their own
//! Adam at `loss_scale_lr`, as the `imtl_l` weighting).
//!
//! `rep_grad = true` (MGDA-UB, Sener & Koltun 2018, §3.3): the rows of J are the gradients of
//! each task's loss w.r.t. its batch's shared representation instead; the weights they give
//! then scale the task losses in one backward pass. Each task here has its own batch, so the
//! rows are of equal length only when batch sizes agree (they do: one `batch_size`).

use anyhow::{anyhow, bail, Result};
use mtl_aggregate::{Gramian, JacobianRef, Method};
use std::collections::HashMap;
use tch::{Device, Kind, Tensor};

use super::weighting::{learnable, restore, values, VecAdam};
use super::{check_finite, Batch, Objective, Quantity, StepOutput};
use crate::aggregate::apply::unflatten;
use crate::aggregate::jacobian::task_gradients;
use crate::model::MultiTaskNet;

/// An aggregator objective.
pub struct Aggregate {
    method: Method,
    rep_grad: bool,
    log_every: usize,
    scales: Option<LossScales>,
}

/// IMTL-L's learned scales s (f64) and their Adam.
struct LossScales {
    s: Tensor,
    opt: VecAdam,
}

impl LossScales {
    /// e^{s_k}, the factor of task k's loss, gradient row and head gradients.
    fn factors(&self) -> Vec<f64> {
        values(&self.s).iter().map(|s| s.exp()).collect()
    }

    /// One Adam step on ∂/∂s_k (e^{s_k} L_k − s_k) = e^{s_k} L_k − 1.
    fn step(&mut self, c: &[f64], losses: &Tensor) -> Result<()> {
        let l: Vec<f64> = Vec::try_from(losses.to_kind(Kind::Double).to_device(Device::Cpu))?;
        let g: Vec<f64> = c.iter().zip(&l).map(|(c, l)| c * l - 1.0).collect();
        self.opt.step(&self.s, &Tensor::from_slice(&g));
        Ok(())
    }
}

impl Aggregate {
    /// Wraps a built method.
    pub fn new(method: Method, rep_grad: bool, log_every: usize) -> Self {
        Self {
            method,
            rep_grad,
            log_every,
            scales: None,
        }
    }

    /// Adds IMTL-L's learned loss scales (start 0, weight 1) for `k` tasks, Adam at `lr`.
    pub fn with_loss_scales(mut self, k: usize, lr: f64) -> Self {
        self.scales = Some(LossScales {
            s: learnable(k, 0.0),
            opt: VecAdam::new(k, lr, 0.0),
        });
        self
    }

    /// Row k of `j` times c_k.
    fn scale_rows(j: &Tensor, c: &[f64]) -> Tensor {
        let ct = Tensor::from_slice(c)
            .to_kind(j.kind())
            .to_device(j.device());
        j * ct.unsqueeze(1)
    }

    /// Weights (when a weighting) and the direction as a backend tensor, for Jacobian `j`.
    fn combine(&mut self, j: &Tensor) -> Result<(Option<Vec<f64>>, Tensor)> {
        let (m, n) = (j.size()[0] as usize, j.size()[1] as usize);
        match &mut self.method {
            Method::Gramian(w) => {
                let jd = j.to_kind(Kind::Double);
                let g: Vec<f64> =
                    Vec::try_from(jd.matmul(&jd.tr()).to_device(Device::Cpu).reshape([-1]))?;
                let weights = w.weights(&Gramian::from_row_major(m, g)?)?;
                let wt = Tensor::from_slice(&weights)
                    .to_kind(j.kind())
                    .to_device(j.device());
                let d = wt.unsqueeze(0).matmul(j).squeeze_dim(0);
                Ok((Some(weights), d))
            }
            Method::Jacobian(a) => {
                let flat: Vec<f64> =
                    Vec::try_from(j.to_kind(Kind::Double).to_device(Device::Cpu).reshape([-1]))?;
                let agg = a.aggregate(JacobianRef::new(&flat, m, n)?)?;
                let d = Tensor::from_slice(&agg.direction)
                    .to_kind(j.kind())
                    .to_device(j.device());
                Ok((agg.weights, d))
            }
        }
    }
}

/// Per-step quantities: weights, ‖d‖, cos(d, UMTG direction), each task's gradient norm.
fn quantities(j: &Tensor, d: &Tensor, weights: Option<&[f64]>) -> Result<Vec<Quantity>> {
    let jd = j.to_kind(Kind::Double);
    let dd = d.to_kind(Kind::Double);
    let umtg = jd.sum_dim_intlist([0i64].as_slice(), false, Kind::Double);
    let norms: Vec<f64> = Vec::try_from(
        jd.norm_scalaropt_dim(2, [1i64].as_slice(), false)
            .to_device(Device::Cpu),
    )?;
    let dn = dd.norm().double_value(&[]);
    let un = umtg.norm().double_value(&[]);
    let cos = if dn > 0.0 && un > 0.0 {
        dd.dot(&umtg).double_value(&[]) / (dn * un)
    } else {
        0.0
    };
    let mut q = vec![
        Quantity {
            name: "direction_norm",
            task: None,
            value: dn,
        },
        Quantity {
            name: "cos_umtg",
            task: None,
            value: cos,
        },
    ];
    for (k, n) in norms.iter().enumerate() {
        q.push(Quantity {
            name: "grad_norm",
            task: Some(k),
            value: *n,
        });
    }
    if let Some(w) = weights {
        for (k, v) in w.iter().enumerate() {
            q.push(Quantity {
                name: "weight",
                task: Some(k),
                value: *v,
            });
        }
    }
    Ok(q)
}

impl Objective for Aggregate {
    fn step(&mut self, net: &MultiTaskNet, batches: &[Batch], step: usize) -> Result<StepOutput> {
        let log = self.log_every > 0 && (step + 1).is_multiple_of(self.log_every);
        if self.rep_grad {
            return self.step_rep_grad(net, batches, log);
        }
        let mut tg = task_gradients(net, batches);
        check_finite(&tg.losses, "loss")?;
        check_finite(&tg.jacobian, "gradient")?;
        let c = self.scales.as_ref().map(LossScales::factors);
        if let Some(c) = &c {
            tg.jacobian = Self::scale_rows(&tg.jacobian, c);
            for (h, ck) in tg.heads.iter_mut().zip(c) {
                for g in h.iter_mut() {
                    *g = &*g * *ck;
                }
            }
        }
        let (weights, d) = self.combine(&tg.jacobian)?;
        let quantities = if log {
            quantities(&tg.jacobian, &d, weights.as_deref())?
        } else {
            Vec::new()
        };
        if let (Some(sc), Some(c)) = (self.scales.as_mut(), &c) {
            sc.step(c, &tg.losses)?;
        }
        let mut grads = unflatten(&d, &net.shared_params());
        grads.extend(tg.heads.into_iter().flatten());
        Ok(StepOutput {
            losses: tg.losses,
            grads,
            quantities,
        })
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        let s = self.method.state();
        let mut out = Vec::new();
        if !s.is_empty() {
            out.push(("aggregate.state".into(), Tensor::from_slice(&s)));
        }
        if let Some(sc) = &self.scales {
            out.push(("loss_scale.s".into(), sc.s.detach()));
            out.extend(sc.opt.state("loss_scale.adam"));
        }
        out
    }

    fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        if let Some(sc) = &mut self.scales {
            restore(&sc.s, state, "loss_scale.s")?;
            sc.opt.load_state(state, "loss_scale.adam")?;
        }
        let s: Vec<f64> = match state.get("aggregate.state") {
            Some(t) => Vec::try_from(t.to_kind(Kind::Double))?,
            None => Vec::new(),
        };
        self.method
            .load_state(&s)
            .map_err(|e| anyhow!("restoring {} state: {e}", self.method.name()))
    }
}

impl Aggregate {
    fn step_rep_grad(
        &mut self,
        net: &MultiTaskNet,
        batches: &[Batch],
        log: bool,
    ) -> Result<StepOutput> {
        let sizes: Vec<i64> = batches.iter().map(|b| b.x.size()[0]).collect();
        if sizes.iter().any(|&s| s != sizes[0]) {
            bail!("rep_grad needs equal batch sizes across tasks, got {sizes:?}");
        }
        let mut losses = Vec::new();
        let mut rows = Vec::new();
        for (k, b) in batches.iter().enumerate() {
            let z = net.features(&b.x, true);
            // Gradient w.r.t. a detached copy of the representation: the encoder's graph is
            // kept for the weighted backward below.
            let zd = z.detach().set_requires_grad(true);
            let l = net.loss(k, &net.head(k, &zd, true), &b.y);
            let g = Tensor::run_backward(&[&l], &[&zd], false, false).remove(0);
            rows.push(g.reshape([-1]));
            losses.push(net.loss(k, &net.head(k, &z, true), &b.y));
        }
        let mut jz = Tensor::stack(&rows, 0);
        let losses_now = Tensor::stack(&losses, 0).detach();
        check_finite(&losses_now, "loss")?;
        check_finite(&jz, "gradient")?;
        let c = self.scales.as_ref().map(LossScales::factors);
        if let Some(c) = &c {
            jz = Self::scale_rows(&jz, c);
        }
        let (weights, d) = self.combine(&jz)?;
        let mut w = weights.clone().ok_or_else(|| {
            anyhow!("rep_grad needs a weighting method (one that returns weights)")
        })?;
        if let (Some(sc), Some(c)) = (self.scales.as_mut(), &c) {
            // The scaled loss e^{s_k} L_k carries the factor into the weighted backward.
            for (wk, ck) in w.iter_mut().zip(c) {
                *wk *= ck;
            }
            sc.step(c, &losses_now)?;
        }
        let total = losses
            .iter()
            .zip(&w)
            .map(|(l, wk)| l * *wk)
            .fold(Tensor::from(0.0f32), |a, b| a + b);
        let grads = Tensor::run_backward(&[total], &net.params(), false, false);
        let quantities = if log {
            quantities(&jz, &d, weights.as_deref())?
        } else {
            Vec::new()
        };
        Ok(StepOutput {
            losses: losses_now,
            grads,
            quantities,
        })
    }
}
