//! Batched per-group gradients: for n examples split into G = n/s consecutive groups of s,
//! the gradient of each group's mean loss, `[G, p]`, from one forward and one backward pass.
//! s = 1 gives per-example gradients, s = |B| the mini-batch gradients of many batches at once.
//!
//! libtorch's reverse mode gives one vector–Jacobian product per backward, and `tch` exposes
//! no vmap, so per-example gradients come from layer structure instead (the "ghost" trick of
//! Goodfellow 2015, Opacus' grad samplers): a layer z = W a + b has
//! ∂ℓ_i/∂W = δ_i a_iᵀ with δ_i = ∂ℓ_i/∂z_i, and a convolution the same with a unfolded
//! (im2col) into patches. One backward of Σ_i ℓ_i to the pre-activations z gives every δ_i
//! (row i of z only feeds ℓ_i); a group's weight gradient is then Σ_{i∈g} δ_i a_iᵀ, one
//! batched GEMM (`einsum`) with the same FLOPs as the usual weight-gradient GEMM. Cost: one
//! forward, one input-gradient backward, the im2col copies, and the weight-gradient GEMMs — what
//! a training step costs — for any group size.
//!
//! This needs the layers, which [`crate::model::Encoder`] hides, so [`Tape`] re-runs the
//! encoders of `model/` functionally on the net's own parameter tensors (by name). A test
//! checks its logits against [`MultiTaskNet::forward`] and its gradients against autograd for
//! every encoder it knows ([`Arch`]). Other encoders and task kinds take the general path,
//! [`autograd_group_grads`] (tested to agree with the tape where both apply).

use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use tch::{Kind, Tensor};

use crate::model::MultiTaskNet;

/// The encoders the tape re-runs functionally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    /// `model/lenet.rs`.
    Lenet,
    /// `model/mlp.rs`.
    Mlp,
}

impl Arch {
    /// The tape's twin of the registry encoder `name`, if it has one.
    pub fn of(name: &str) -> Option<Self> {
        match name {
            "lenet" => Some(Arch::Lenet),
            "mlp" => Some(Arch::Mlp),
            _ => None,
        }
    }
}

/// A layer with parameters: its kind and its weight and bias.
struct Layer {
    conv_padding: Option<i64>,
    weight: Tensor,
    bias: Tensor,
    w_name: String,
    b_name: String,
}

impl Layer {
    fn new(
        params: &HashMap<String, Tensor>,
        prefix: &str,
        conv_padding: Option<i64>,
    ) -> Result<Self> {
        let get = |n: &str| {
            params
                .get(n)
                .map(|t| t.shallow_clone())
                .with_context(|| format!("probes: the network has no parameter `{n}`"))
        };
        let (w_name, b_name) = (format!("{prefix}.weight"), format!("{prefix}.bias"));
        Ok(Self {
            conv_padding,
            weight: get(&w_name)?,
            bias: get(&b_name)?,
            w_name,
            b_name,
        })
    }

    fn apply(&self, a: &Tensor) -> Tensor {
        match self.conv_padding {
            Some(p) => a.conv2d(&self.weight, Some(&self.bias), [1, 1], [p, p], [1, 1], 1),
            None => a.linear(&self.weight, Some(&self.bias)),
        }
    }

    /// Group gradients of weight and bias, `([G, numel(W)], [G, numel(b)])`, from the layer's
    /// input `a` and the gradient `d` of its output.
    fn group_grads(&self, a: &Tensor, d: &Tensor, s: i64) -> (Tensor, Tensor) {
        let n = a.size()[0];
        let g = n / s;
        match self.conv_padding {
            Some(p) => {
                let k = self.weight.size()[2..].to_vec();
                // [n, Cin·kh·kw, P]: the patch each output position saw, in the weight's layout.
                let u = a.im2col(k.as_slice(), [1, 1], [p, p], [1, 1]);
                let (cin_kk, pos) = (u.size()[1], u.size()[2]);
                let cout = d.size()[1];
                let d = d.reshape([n, cout, pos]);
                // Per-example products first, then the group sum: the transposed patches are a
                // strided view bmm reads directly, where a grouped contraction over (s, P) would
                // copy both operands into [G, ·, s·P].
                let pe = d.bmm(&u.transpose(1, 2)).view([g, s, cout * cin_kk]);
                let gw = pe.sum_dim_intlist([1i64].as_slice(), false, None::<Kind>);
                let gb = d.view([g, s, cout, pos]).sum_dim_intlist(
                    [1i64, 3].as_slice(),
                    false,
                    None::<Kind>,
                );
                (gw.reshape([g, -1]), gb)
            }
            None => {
                let (i, o) = (a.size()[1], d.size()[1]);
                let a = a.view([g, s, i]);
                let d = d.view([g, s, o]);
                let gw = Tensor::einsum("gso,gsi->goi", &[&d, &a], None::<&[i64]>);
                let gb = d.sum_dim_intlist([1i64].as_slice(), false, None::<Kind>);
                (gw.reshape([g, -1]), gb)
            }
        }
    }
}

/// The functional twin of a [`MultiTaskNet`].
pub struct Tape {
    kind: Arch,
    encoder: Vec<Layer>,
    heads: Vec<Layer>,
    shared_names: Vec<String>,
    head_names: Vec<Vec<String>>,
}

/// One forward pass of task `k` kept for backward: each layer's input and pre-activation.
pub struct Recorded<'a> {
    tape: &'a Tape,
    task: usize,
    /// Logits, `[n, C]`.
    pub logits: Tensor,
    io: Vec<(Tensor, Tensor)>,
}

impl Tape {
    /// Whether `net` has a tape: an encoder in [`Arch`] and multiclass tasks only.
    pub fn supports(net: &MultiTaskNet) -> bool {
        Arch::of(net.encoder_name()).is_some()
            && (0..net.tasks().len()).all(|k| net.kind(k).name() == "multiclass")
    }

    /// The tape of `net`; an error unless [`Tape::supports`] it.
    pub fn new(net: &MultiTaskNet) -> Result<Self> {
        let kind = match Arch::of(net.encoder_name()) {
            Some(kind) if Self::supports(net) => kind,
            _ => bail!(
                "the layer-wise tape re-runs lenet and mlp networks with multiclass tasks only, not this `{}` network; use autograd_group_grads",
                net.encoder_name()
            ),
        };
        let named: Vec<(String, Tensor)> = net.named_params();
        let params: HashMap<String, Tensor> = named
            .iter()
            .map(|(n, t)| (n.clone(), t.shallow_clone()))
            .collect();
        let encoder = match kind {
            Arch::Lenet => vec![
                Layer::new(&params, "encoder.conv1", Some(2))?,
                Layer::new(&params, "encoder.conv2", Some(0))?,
                Layer::new(&params, "encoder.fc1", None)?,
                Layer::new(&params, "encoder.fc2", None)?,
            ],
            Arch::Mlp => {
                let mut v = Vec::new();
                while params.contains_key(&format!("encoder.fc{}.weight", v.len() + 1)) {
                    v.push(Layer::new(
                        &params,
                        &format!("encoder.fc{}", v.len() + 1),
                        None,
                    )?);
                }
                if v.is_empty() {
                    bail!("probes: the mlp encoder has no layers");
                }
                v
            }
        };
        let heads = net
            .tasks()
            .iter()
            .map(|t| Layer::new(&params, &format!("head.{t}"), None))
            .collect::<Result<Vec<_>>>()?;
        let n_shared = net.shared_params().len();
        let shared_names = named[..n_shared].iter().map(|(n, _)| n.clone()).collect();
        let head_names = net
            .tasks()
            .iter()
            .map(|t| {
                named
                    .iter()
                    .filter(|(n, _)| n.starts_with(&format!("head.{t}.")))
                    .map(|(n, _)| n.clone())
                    .collect()
            })
            .collect();
        Ok(Self {
            kind,
            encoder,
            heads,
            shared_names,
            head_names,
        })
    }

    /// Forward pass of task `k` on `x` (eval mode), recording what the backward needs.
    pub fn forward(&self, k: usize, x: &Tensor) -> Recorded<'_> {
        let mut io = Vec::with_capacity(self.encoder.len() + 1);
        let mut a = match self.kind {
            Arch::Lenet => x.shallow_clone(),
            Arch::Mlp => x.flatten(1, -1),
        };
        for (l, layer) in self.encoder.iter().enumerate() {
            let z = layer.apply(&a);
            // Glue between layers, as in model/lenet.rs and model/mlp.rs.
            let next = match (self.kind, l) {
                (Arch::Lenet, 0) => z.relu().max_pool2d_default(2),
                (Arch::Lenet, 1) => z.relu().max_pool2d_default(2).flatten(1, -1),
                _ => z.relu(),
            };
            io.push((a, z));
            a = next;
        }
        let logits = self.heads[k].apply(&a);
        io.push((a, logits.shallow_clone()));
        Recorded {
            tape: self,
            task: k,
            logits,
            io,
        }
    }
}

impl Recorded<'_> {
    /// Per-group gradients `[G, p]` of Σ_{i∈g} ⟨logits_i, dlogits_i⟩ — i.e. of the group's loss
    /// when `dlogits` is ∂loss/∂logits — flattened in [`MultiTaskNet::shared_params`] order,
    /// followed (unless `shared_only`) by [`MultiTaskNet::head_params`]`(k)`. Rows of the batch
    /// form G = n/s consecutive groups of `s`. `keep` keeps the graph for another call.
    pub fn group_grads(&self, dlogits: &Tensor, s: i64, shared_only: bool, keep: bool) -> Tensor {
        let n = self.logits.size()[0];
        assert!(
            s >= 1 && n % s == 0,
            "{n} examples do not split into groups of {s}"
        );
        let target = (&self.logits * dlogits.detach()).sum(Kind::Float);
        let zs: Vec<&Tensor> = self.io[..self.io.len() - 1]
            .iter()
            .map(|(_, z)| z)
            .collect();
        let mut ds = Tensor::run_backward(&[&target], &zs, keep, false);
        ds.push(dlogits.detach());
        let tape = self.tape;
        let layers = tape
            .encoder
            .iter()
            .chain(std::iter::once(&tape.heads[self.task]));
        let mut by_name: HashMap<&str, Tensor> = HashMap::new();
        for ((layer, (a, _)), d) in layers.zip(&self.io).zip(&ds) {
            let (gw, gb) = tch::no_grad(|| layer.group_grads(&a.detach(), d, s));
            by_name.insert(&layer.w_name, gw);
            by_name.insert(&layer.b_name, gb);
        }
        let mut names: Vec<&String> = tape.shared_names.iter().collect();
        if !shared_only {
            names.extend(&tape.head_names[self.task]);
        }
        let cols: Vec<&Tensor> = names.iter().map(|n| &by_name[n.as_str()]).collect();
        Tensor::cat(&cols, 1)
    }
}

/// Gradient of the mean cross-entropy of each group of `s` with respect to the logits:
/// (softmax − onehot(y)) / s, row-wise.
pub fn ce_dlogits(probs: &Tensor, y: &Tensor, s: i64) -> Tensor {
    let c = probs.size()[1];
    (probs - y.one_hot(c).to_kind(probs.kind())) / s as f64
}

/// The general path, for any encoder and task kind: per-group gradients `[G, p]` of each
/// group's mean per-example loss (the kind's [`crate::task::TaskKind::per_example_loss`];
/// dense kinds: each image's mean pixel loss, Elich et al.) for the G = n/s consecutive groups
/// of `x`, flattened in [`MultiTaskNet::shared_params`] order, then (unless `shared_only`)
/// `head_params(k)`.
///
/// One forward pass of the whole chunk in eval mode (batch norm uses its running statistics,
/// so examples do not interact and the group losses are exactly those of separate forwards),
/// then one backward per group through the shared graph. It costs G backwards where the
/// [`Tape`] costs one, which is why the tape stays the path for the encoders it knows.
pub fn autograd_group_grads(
    net: &MultiTaskNet,
    k: usize,
    x: &Tensor,
    y: &Tensor,
    s: i64,
    shared_only: bool,
) -> Tensor {
    output_group_grads(net, k, &net.forward(k, x, false), y, s, shared_only, false)
}

/// [`autograd_group_grads`] from task `k`'s output `out` (with its graph) already computed,
/// so that several label sets (the Fisher trace's draws) share one forward pass; `keep`
/// keeps the graph after the last group for the next call.
pub fn output_group_grads(
    net: &MultiTaskNet,
    k: usize,
    out: &Tensor,
    y: &Tensor,
    s: i64,
    shared_only: bool,
    keep: bool,
) -> Tensor {
    let g = out.size()[0] / s;
    let mut params = net.shared_params();
    if !shared_only {
        params.extend(net.head_params(k));
    }
    let per = net.per_example_loss(k, out, y);
    let group_loss = per
        .narrow(0, 0, g * s)
        .view([g, s])
        .mean_dim(1, false, None::<Kind>);
    let rows: Vec<Tensor> = (0..g)
        .map(|i| {
            let retain = keep || i + 1 < g;
            let grads = Tensor::run_backward(&[group_loss.get(i)], &params, retain, false);
            crate::aggregate::jacobian::flatten(&grads)
        })
        .collect();
    Tensor::stack(&rows, 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::jacobian::flatten;
    use crate::config::ModelConfig;
    use crate::task::multiclass::cross_entropy as task_loss;
    use tch::Device;

    fn nets() -> Vec<(Arch, MultiTaskNet, [i64; 3])> {
        let mut tasks = crate::task::multiclass::heads(&["a"], 10);
        tasks.extend(crate::task::multiclass::heads(&["b"], 4));
        // Seeded under the init lock: a parallel test's bit-for-bit init stays undisturbed.
        let lenet = MultiTaskNet::seeded(
            11,
            &ModelConfig::default(),
            &tasks,
            [1, 28, 28],
            Device::Cpu,
        );
        let mlp_cfg = ModelConfig {
            encoder: "mlp".into(),
            // Eleven layers: `fc10` sorts before `fc2` by name, which the tape must not confuse.
            hidden: vec![7; 11],
            ..Default::default()
        };
        let mlp = MultiTaskNet::seeded(12, &mlp_cfg, &tasks, [1, 5, 5], Device::Cpu);
        vec![
            (Arch::Lenet, lenet.unwrap(), [1, 28, 28]),
            (Arch::Mlp, mlp.unwrap(), [1, 5, 5]),
        ]
    }

    /// Logits equal the network's; group gradients equal autograd's gradient of each
    /// group's mean loss, for groups of 1 (per example) and of 3.
    #[test]
    fn group_gradients_match_autograd() {
        for (kind, net, [c, h, w]) in nets() {
            let tape = Tape::new(&net).unwrap();
            let k = 1;
            let x = Tensor::randn([6, c, h, w], (Kind::Float, Device::Cpu));
            let y = Tensor::from_slice(&[0i64, 3, 1, 2, 2, 0]);
            let rec = tape.forward(k, &x);
            let direct = net.forward(k, &x, false);
            assert!(rec.logits.allclose(&direct, 1e-6, 1e-6, false), "{kind:?}");
            let probs = rec.logits.softmax(-1, Kind::Float);
            for s in [1i64, 3] {
                let g = rec.group_grads(&ce_dlogits(&probs, &y, s), s, false, true);
                let params: Vec<Tensor> = net
                    .shared_params()
                    .into_iter()
                    .chain(net.head_params(k))
                    .collect();
                assert_eq!(g.size(), vec![6 / s, flatten(&params).size()[0]]);
                for grp in 0..6 / s {
                    let xs = x.narrow(0, grp * s, s);
                    let ys = y.narrow(0, grp * s, s);
                    let loss = task_loss(&net.forward(k, &xs, false), &ys);
                    let want = flatten(&Tensor::run_backward(&[loss], &params, false, false));
                    let got = g.get(grp);
                    let err = (&got - &want).abs().max().double_value(&[]);
                    let scale = want.abs().max().double_value(&[]);
                    assert!(
                        err <= 1e-5 * scale.max(1.0),
                        "{kind:?} s={s}: {err} vs {scale}"
                    );
                }
                let shared = rec.group_grads(&ce_dlogits(&probs, &y, s), s, true, true);
                assert_eq!(shared.size()[1], net.n_shared());
                assert!(shared.equal(&g.narrow(1, 0, net.n_shared())));
            }
        }
    }

    /// The general autograd path equals the tape on the encoders the tape knows.
    #[test]
    fn autograd_path_matches_the_tape() {
        for (arch, net, [c, h, w]) in nets() {
            let tape = Tape::new(&net).unwrap();
            let x = Tensor::randn([6, c, h, w], (Kind::Float, Device::Cpu));
            for k in 0..2 {
                let classes = if k == 0 { 10 } else { 4 };
                let y = Tensor::randint(classes, [6], (Kind::Int64, Device::Cpu));
                let rec = tape.forward(k, &x);
                let probs = rec.logits.softmax(-1, Kind::Float);
                for (s, shared_only) in [(1i64, false), (3, true)] {
                    let fast = rec.group_grads(&ce_dlogits(&probs, &y, s), s, shared_only, true);
                    let general = autograd_group_grads(&net, k, &x, &y, s, shared_only);
                    let err = (&fast - &general).abs().max().double_value(&[]);
                    let scale = general.abs().max().double_value(&[]);
                    assert!(err <= 1e-5 * scale.max(1.0), "{arch:?} k={k} s={s}: {err}");
                }
            }
        }
    }

    /// On a conv net with batch norm and a dense task, the general path equals a brute-force
    /// loop of separate forward/backward passes per group (each group's mean image loss).
    #[test]
    fn autograd_path_matches_a_brute_force_loop_with_batch_norm() {
        let (tasks, net) =
            crate::data::synthetic_scenes::tasks_and_net(&["segment", "area"], &[4, 6], 3);
        // Move the running statistics off their initial values, as training would.
        let _ = net.forward(
            0,
            &tasks[0].inputs.prepare(&tasks[0].train.x.narrow(0, 0, 32)),
            true,
        );
        for (k, t) in tasks.iter().enumerate() {
            let (x, y) = (
                t.inputs.prepare(&t.train.x.narrow(0, 0, 6)),
                t.train.y.narrow(0, 0, 6),
            );
            for s in [1i64, 2] {
                let general = autograd_group_grads(&net, k, &x, &y, s, false);
                let mut params = net.shared_params();
                params.extend(net.head_params(k));
                let brute: Vec<Tensor> = (0..6 / s)
                    .map(|g| {
                        let (xg, yg) = (x.narrow(0, g * s, s), y.narrow(0, g * s, s));
                        let l = net
                            .per_example_loss(k, &net.forward(k, &xg, false), &yg)
                            .mean(Kind::Float);
                        flatten(&Tensor::run_backward(&[l], &params, false, false))
                    })
                    .collect();
                let brute = Tensor::stack(&brute, 0);
                assert_eq!(general.size(), brute.size());
                assert!(
                    general.allclose(&brute, 1e-4, 1e-6, false),
                    "{} s={s}",
                    t.name
                );
            }
        }
    }
}
