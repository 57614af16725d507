//! Toy problems from the literature, in pure f64 (no libtorch), each reproducing a published
//! figure or table; `mtlscope toy <name>` runs them (see docs/toys.md).
//!
//! | toy | paper | file |
//! | --- | --- | --- |
//! | CAGrad's two-task 2-D problem under GD / Adam, any aggregator | Liu et al. 2021, Fig. 1; Elich et al. 2024, Fig. 1, Tab. 1 / A3 | [`cagrad`] |
//! | loss-scale invariance of SGD, Adam, UW-O and per-task Adam | Elich et al. 2024, §4.1, App. A1–A2, Figs. A1–A2 | [`invariance`] |
//! | MT2O (as reconstructed from the abstract and MGD) vs independent runs on the bi-objective toy with a known front | Bai et al. 2024; Lin et al. 2019 / Mahapatra & Rajan 2020 (the problem) | [`mt2o`] |
//!
//! [`optim`] holds the toys' f64 GD / SGD / Adam, [`plot`] their figures.

pub mod cagrad;
pub mod invariance;
pub mod mt2o;
pub mod optim;
pub mod plot;
