//! The one list of methods: names, descriptions, kinds, parameters with defaults, and their
//! constructors. It feeds `mtlscope methods`, the CLI, the trainer's config parsing and the
//! property tests (which run every entry).

use crate::weighting::{
    aligned_mtl::AlignedMtl, cagrad::CaGrad, config::Config, dualproj::DualProj,
    graddrop::GradDrop, gradvac::GradVac, imtl_g::ImtlG, mean::Mean, mgda::Mgda, nash_mtl::NashMtl,
    pcgrad::PcGrad, random::Random, sum::Sum, upgrad::UpGrad, Method,
};
use crate::Error;

/// What a method needs from the training step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only the Gramian G = J Jᵀ ([`Method::Gramian`]).
    Gramian,
    /// The Jacobian J itself ([`Method::Jacobian`]).
    Jacobian,
}

impl Kind {
    /// `"gramian"` or `"jacobian"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Gramian => "gramian",
            Kind::Jacobian => "jacobian",
        }
    }
}

/// Which gradients the rows of J should hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// Gradients of each task loss w.r.t. the shared parameters (every method but `mgda_ub`).
    Parameters,
    /// Gradients w.r.t. the shared representation (the encoder's output), `mgda_ub`.
    Representation,
}

/// How the direction responds to scaling J by s > 0 (at equal state): d(sJ) = s^degree d(J).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scaling {
    /// d(sJ) = s d(J).
    Linear,
    /// d(sJ) = d(J) (Nash-MTL).
    Invariant,
}

/// One parameter of a method.
#[derive(Debug, Clone, Copy)]
pub struct ParamInfo {
    /// Name as written in `--param name=value` and in configs.
    pub name: &'static str,
    /// Default value, as text.
    pub default: &'static str,
    /// One line: meaning and allowed range.
    pub description: &'static str,
}

/// One registered method.
#[derive(Debug, Clone, Copy)]
pub struct MethodInfo {
    /// Registry name.
    pub name: &'static str,
    /// One line, with the paper.
    pub description: &'static str,
    /// What it needs.
    pub kind: Kind,
    /// Which gradients it expects.
    pub input: Input,
    /// Its parameters.
    pub params: &'static [ParamInfo],
    /// Its scale behaviour.
    pub scaling: Scaling,
    /// Whether it draws random numbers (so results depend on its seed and state).
    pub stochastic: bool,
    build: fn(&Params) -> Result<Method, Error>,
}

const SEED: ParamInfo = ParamInfo {
    name: "seed",
    default: "0",
    description: "seed of the method's random stream (unsigned integer)",
};

/// Every method, in the order `mtlscope methods` lists them.
pub static METHODS: &[MethodInfo] = &[
    MethodInfo {
        name: "sum",
        description: "sum of the task gradients (UMTG, C = 1)",
        kind: Kind::Gramian,
        input: Input::Parameters,
        params: &[],
        scaling: Scaling::Linear,
        stochastic: false,
        build: |_| Ok(Method::Gramian(Box::new(Sum))),
    },
    MethodInfo {
        name: "mean",
        description: "mean of the task gradients (UMTG, C = 1/K)",
        kind: Kind::Gramian,
        input: Input::Parameters,
        params: &[],
        scaling: Scaling::Linear,
        stochastic: false,
        build: |_| Ok(Method::Gramian(Box::new(Mean))),
    },
    MethodInfo {
        name: "mgda",
        description: "min-norm point of the gradients' convex hull, exact (Sener & Koltun 2018)",
        kind: Kind::Gramian,
        input: Input::Parameters,
        params: &[],
        scaling: Scaling::Linear,
        stochastic: false,
        build: |_| Ok(Method::Gramian(Box::new(Mgda::new()))),
    },
    MethodInfo {
        name: "mgda_ub",
        description: "MGDA on gradients w.r.t. the shared representation (Sener & Koltun 2018)",
        kind: Kind::Gramian,
        input: Input::Representation,
        params: &[],
        scaling: Scaling::Linear,
        stochastic: false,
        build: |_| Ok(Method::Gramian(Box::new(Mgda::upper_bound()))),
    },
    MethodInfo {
        name: "pcgrad",
        description: "project each gradient off the ones it conflicts with (Yu et al. 2020)",
        kind: Kind::Gramian,
        input: Input::Parameters,
        params: &[SEED],
        scaling: Scaling::Linear,
        stochastic: true,
        build: |p| Ok(Method::Gramian(Box::new(PcGrad::new(p.seed()?)))),
    },
    MethodInfo {
        name: "upgrad",
        description: "mean of the projections onto the dual cone, exact (Quinton & Rey 2024)",
        kind: Kind::Gramian,
        input: Input::Parameters,
        params: &[],
        scaling: Scaling::Linear,
        stochastic: false,
        build: |_| Ok(Method::Gramian(Box::new(UpGrad))),
    },
    MethodInfo {
        name: "dualproj",
        description: "projection of the mean onto the dual cone, exact (Quinton & Rey 2024)",
        kind: Kind::Gramian,
        input: Input::Parameters,
        params: &[],
        scaling: Scaling::Linear,
        stochastic: false,
        build: |_| Ok(Method::Gramian(Box::new(DualProj))),
    },
    MethodInfo {
        name: "cagrad",
        description: "best worst-case improvement within a ball around the mean (Liu et al. 2021)",
        kind: Kind::Gramian,
        input: Input::Parameters,
        params: &[
            ParamInfo {
                name: "c",
                default: "0.4",
                description: "radius of the ball, as a multiple of the mean's norm (>= 0)",
            },
            ParamInfo {
                name: "rescale",
                default: "1",
                description: "divide d by 1 (0), 1 + c^2 (1) or 1 + c (2)",
            },
        ],
        scaling: Scaling::Linear,
        stochastic: false,
        build: |p| {
            let c = p.f64("c", |x| x >= 0.0, "must be >= 0")?;
            let rescale = p.f64(
                "rescale",
                |x| [0.0, 1.0, 2.0].contains(&x),
                "must be 0, 1 or 2",
            )?;
            Ok(Method::Gramian(Box::new(CaGrad::new(c, rescale as u8))))
        },
    },
    MethodInfo {
        name: "imtl_g",
        description:
            "equal projections onto every unit gradient, weights sum to 1 (Liu et al. 2021)",
        kind: Kind::Gramian,
        input: Input::Parameters,
        params: &[],
        scaling: Scaling::Linear,
        stochastic: false,
        build: |_| Ok(Method::Gramian(Box::new(ImtlG))),
    },
    MethodInfo {
        name: "nash_mtl",
        description: "Nash bargaining solution G a = 1/a, exact by Newton (Navon et al. 2022)",
        kind: Kind::Gramian,
        input: Input::Parameters,
        params: &[],
        scaling: Scaling::Invariant,
        stochastic: false,
        build: |_| Ok(Method::Gramian(Box::new(NashMtl::new()))),
    },
    MethodInfo {
        name: "aligned_mtl",
        description:
            "align the gradients' principal components, condition number 1 (Senushkin et al. 2023)",
        kind: Kind::Gramian,
        input: Input::Parameters,
        params: &[],
        scaling: Scaling::Linear,
        stochastic: false,
        build: |_| Ok(Method::Gramian(Box::new(AlignedMtl))),
    },
    MethodInfo {
        name: "config",
        description:
            "equal angle with every gradient, length = sum of projections (Liu et al. 2024)",
        kind: Kind::Gramian,
        input: Input::Parameters,
        params: &[],
        scaling: Scaling::Linear,
        stochastic: false,
        build: |_| Ok(Method::Gramian(Box::new(Config))),
    },
    MethodInfo {
        name: "gradvac",
        description: "steer pairwise cosines towards their running averages (Wang et al. 2021)",
        kind: Kind::Gramian,
        input: Input::Parameters,
        params: &[
            ParamInfo {
                name: "beta",
                default: "0.01",
                description: "EMA rate of the cosine targets, in (0, 1]",
            },
            SEED,
        ],
        scaling: Scaling::Linear,
        stochastic: true,
        build: |p| {
            let beta = p.f64("beta", |x| x > 0.0 && x <= 1.0, "must be in (0, 1]")?;
            Ok(Method::Gramian(Box::new(GradVac::new(beta, p.seed()?))))
        },
    },
    MethodInfo {
        name: "graddrop",
        description: "per-coordinate sign dropout by sign purity, needs J (Chen et al. 2020)",
        kind: Kind::Jacobian,
        input: Input::Parameters,
        params: &[
            ParamInfo {
                name: "leak",
                default: "0",
                description: "share of each dropped component kept, in [0, 1]",
            },
            SEED,
        ],
        scaling: Scaling::Linear,
        stochastic: true,
        build: |p| {
            let leak = p.f64("leak", |x| (0.0..=1.0).contains(&x), "must be in [0, 1]")?;
            Ok(Method::Jacobian(Box::new(GradDrop::new(leak, p.seed()?))))
        },
    },
    MethodInfo {
        name: "random",
        description: "random weights softmax(z), z ~ N(0, I), each step (RLW; Lin et al. 2022)",
        kind: Kind::Gramian,
        input: Input::Parameters,
        params: &[SEED],
        scaling: Scaling::Linear,
        stochastic: true,
        build: |p| Ok(Method::Gramian(Box::new(Random::new(p.seed()?)))),
    },
];

/// The entry named `name`.
pub fn find(name: &str) -> Option<&'static MethodInfo> {
    METHODS.iter().find(|m| m.name == name)
}

/// Every registered name.
pub fn names() -> Vec<&'static str> {
    METHODS.iter().map(|m| m.name).collect()
}

/// Builds `name` with `params` (name, value as text); unset parameters take their defaults.
///
/// ```
/// use mtl_aggregate::{registry, Error};
/// let m = registry::build("cagrad", &[("c".into(), "0.5".into())]).unwrap();
/// assert_eq!(m.name(), "cagrad");
/// let e = registry::build("cagrad", &[("c".into(), "-0.5".into())]).unwrap_err();
/// assert_eq!(e.to_string(), "cagrad.c must be >= 0, got -0.5");
/// assert!(matches!(registry::build("pcgard", &[]), Err(Error::UnknownMethod { .. })));
/// ```
pub fn build(name: &str, params: &[(String, String)]) -> Result<Method, Error> {
    let info = find(name).ok_or_else(|| Error::UnknownMethod {
        name: name.to_string(),
        known: names().iter().map(|s| s.to_string()).collect(),
    })?;
    for (key, _) in params {
        if !info.params.iter().any(|p| p.name == key) {
            return Err(Error::UnknownParam {
                method: name.to_string(),
                param: key.clone(),
                known: info.params.iter().map(|p| p.name.to_string()).collect(),
            });
        }
    }
    (info.build)(&Params {
        info,
        given: params,
    })
}

/// The parameters given to one build, with defaults from the registry.
struct Params<'a> {
    info: &'static MethodInfo,
    given: &'a [(String, String)],
}

impl Params<'_> {
    fn raw(&self, name: &str) -> &str {
        self.given
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .or_else(|| {
                self.info
                    .params
                    .iter()
                    .find(|p| p.name == name)
                    .map(|p| p.default)
            })
            .unwrap_or_default()
    }

    fn bad(&self, name: &str, value: &str, why: &str) -> Error {
        Error::BadParam {
            method: self.info.name.to_string(),
            param: name.to_string(),
            value: value.to_string(),
            why: why.to_string(),
        }
    }

    fn f64(&self, name: &str, ok: impl Fn(f64) -> bool, why: &str) -> Result<f64, Error> {
        let raw = self.raw(name);
        let x: f64 = raw
            .trim()
            .parse()
            .map_err(|_| self.bad(name, raw, "must be a number"))?;
        if x.is_finite() && ok(x) {
            Ok(x)
        } else {
            Err(self.bad(name, raw, why))
        }
    }

    fn seed(&self) -> Result<u64, Error> {
        let raw = self.raw("seed");
        raw.trim()
            .parse()
            .map_err(|_| self.bad("seed", raw, "must be an unsigned 64-bit integer"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_builds_with_defaults_and_matches_its_kind() {
        for info in METHODS {
            let m = build(info.name, &[]).unwrap();
            assert_eq!(m.name(), info.name);
            assert_eq!(m.needs_jacobian(), info.kind == Kind::Jacobian);
        }
        let mut sorted = names();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), METHODS.len());
    }

    #[test]
    fn errors_name_the_offence() {
        let e = build("pcgrad", &[("sede".into(), "1".into())]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown parameter `sede` for method pcgrad; known: seed"
        );
        let e = build("cagrad", &[("rescale".into(), "3".into())]).unwrap_err();
        assert_eq!(e.to_string(), "cagrad.rescale must be 0, 1 or 2, got 3");
        let e = build("gradvac", &[("beta".into(), "x".into())]).unwrap_err();
        assert_eq!(e.to_string(), "gradvac.beta must be a number, got x");
        let e = build("random", &[("seed".into(), "-1".into())]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "random.seed must be an unsigned 64-bit integer, got -1"
        );
        let e = build("mean", &[("c".into(), "1".into())]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown parameter `c` for method mean; known: (none)"
        );
        let e = build("nope", &[]).unwrap_err();
        assert!(e
            .to_string()
            .starts_with("unknown method `nope`; known: sum, mean, mgda"));
    }
}
