//! The GLUE benchmark's files as its publisher distributes them (Wang et al. 2019, "GLUE: A
//! multi-task benchmark and analysis platform for natural language understanding", ICLR;
//! the `glue_data/` layout written by the benchmark's `download_glue_data.py`):
//! `<root>/<TASK>/train.tsv`, `dev.tsv` (MNLI: `dev_matched.tsv`, `dev_mismatched.tsv`), tab
//! separated, UTF-8. Mueller et al. (2025) use the 8 tasks without WNLI.
//!
//! Per task, the columns read and the labels (label ids as the Hugging Face `glue` dataset
//! numbers them, so heads and published checkpoints agree):
//!
//! | task | folder | text(s) | label |
//! |---|---|---|---|
//! | `cola` | CoLA | column 4 (no header) | column 2: 0 unacceptable, 1 acceptable |
//! | `sst2` | SST-2 | `sentence` | `label`: 0 negative, 1 positive |
//! | `mrpc` | MRPC | `#1 String`, `#2 String` | `Quality`: 0, 1 (paraphrase) |
//! | `stsb` | STS-B | `sentence1`, `sentence2` | `score`: a float in [0, 5] |
//! | `qqp` | QQP | `question1`, `question2` | `is_duplicate`: 0, 1 |
//! | `mnli` | MNLI | `sentence1`, `sentence2` | `gold_label`: entailment 0, neutral 1, contradiction 2 |
//! | `qnli` | QNLI | `question`, `sentence` | `label`: entailment 0, not_entailment 1 |
//! | `rte` | RTE | `sentence1`, `sentence2` | `label`: entailment 0, not_entailment 1 |
//!
//! Quirks handled: CoLA's files have no header row; fields are split on tabs only, so quotes
//! inside QQP and MNLI text are literal characters, never CSV quoting; MRPC's files may start
//! with a UTF-8 byte-order mark; MNLI's dev files carry five annotator labels before
//! `gold_label` (columns are found by header name); Windows line ends are accepted. A row with
//! the wrong number of fields, an unknown label or a score outside [0, 5] is an error naming the
//! file and line. GLUE's test labels are not public: the official dev set serves as the test
//! split.
//!
//! The `glue` dataset ([`Glue`]): one task per GLUE task, each on its own inputs.
//! - Kinds: `cola` multiclass 2 with the MCC (GLUE's CoLA metric) listed first, `sst2`, `qnli`, `rte`
//!   multiclass 2, `mrpc` and `qqp` multiclass 2 with F1 (of class 1, as GLUE reports), `stsb`
//!   regression (one output, MSE; Pearson and Spearman among its metrics), `mnli` multiclass 3
//!   with subsets `m` and `mm` (matched and mismatched accuracy; targets `[N, 2]`).
//! - Splits: GLUE's test labels are not public, so the official dev set is the test split
//!   (MNLI: dev_matched then dev_mismatched, subset column 0 and 1; train and validation are
//!   subset 0). Validation is held out of `train.tsv` by a shuffle seeded with
//!   `data.split_seed` (same seed, same split, whatever else the config says): `data.val_size`
//!   examples per task, by default 10% of the task's training file (at least 1) capped at 1,000
//!   ([`VAL_SIZE`]: RTE 249, MRPC 367, STS-B 575, CoLA 856, the others 1,000). The training
//!   split is the rest in the shuffled order, so `data.train_limit` keeps a random subset (and
//!   a smaller limit a subset of a larger one).
//! - Inputs: every split tokenised with `data.tokenizer` ([`super::tokenize`]) truncated to
//!   `data.max_length` tokens, stored as [`Inputs::Tokens`].

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::Tensor;

use super::tokenize::TextTokenizer;
use super::{Dataset, Inputs, Split, TaskData};
use crate::config::DataConfig;
use crate::task::multiclass::{ClassMetric, MulticlassSpec};
use crate::task::regression::{RegressionMetric, RegressionSpec};
use crate::task::{TaskInfo, TaskSpec};

/// A GLUE task (WNLI is left out, as Mueller et al. 2025 do).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GlueTask {
    /// Corpus of Linguistic Acceptability.
    Cola,
    /// Stanford Sentiment Treebank (binary).
    Sst2,
    /// Microsoft Research Paraphrase Corpus.
    Mrpc,
    /// Semantic Textual Similarity Benchmark (regression).
    Stsb,
    /// Quora Question Pairs.
    Qqp,
    /// Multi-Genre Natural Language Inference.
    Mnli,
    /// Question NLI (from SQuAD).
    Qnli,
    /// Recognizing Textual Entailment.
    Rte,
}

/// A label: a class id, or STS-B's similarity score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Label {
    /// Class id.
    Class(i64),
    /// Score in [0, 5].
    Score(f64),
}

/// One example: one or two texts and the label.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// First (or only) text.
    pub text_a: String,
    /// Second text of a sentence pair.
    pub text_b: Option<String>,
    /// Label.
    pub label: Label,
}

/// Which columns hold the texts and the label, and how labels map to ids.
struct Layout {
    folder: &'static str,
    header: bool,
    text_a: Column,
    text_b: Option<Column>,
    label: Column,
    labels: &'static [&'static str],
}

enum Column {
    Index(usize),
    Named(&'static str),
}

impl GlueTask {
    /// Every task, in GLUE's order.
    pub const ALL: [GlueTask; 8] = [
        GlueTask::Cola,
        GlueTask::Sst2,
        GlueTask::Mrpc,
        GlueTask::Stsb,
        GlueTask::Qqp,
        GlueTask::Mnli,
        GlueTask::Qnli,
        GlueTask::Rte,
    ];

    /// mtlscope's task name (`cola`, `sst2`, …).
    pub fn name(self) -> &'static str {
        match self {
            GlueTask::Cola => "cola",
            GlueTask::Sst2 => "sst2",
            GlueTask::Mrpc => "mrpc",
            GlueTask::Stsb => "stsb",
            GlueTask::Qqp => "qqp",
            GlueTask::Mnli => "mnli",
            GlueTask::Qnli => "qnli",
            GlueTask::Rte => "rte",
        }
    }

    /// The task called `name`, or an error listing the known ones.
    pub fn from_name(name: &str) -> Result<GlueTask> {
        Self::ALL
            .into_iter()
            .find(|t| t.name() == name)
            .with_context(|| {
                let known: Vec<&str> = Self::ALL.iter().map(|t| t.name()).collect();
                format!("unknown GLUE task `{name}`; known: {}", known.join(", "))
            })
    }

    /// Number of classes (1 for STS-B's score).
    pub fn outputs(self) -> usize {
        match self {
            GlueTask::Stsb => 1,
            GlueTask::Mnli => 3,
            _ => 2,
        }
    }

    /// The folder under the GLUE root.
    pub fn folder(self) -> &'static str {
        self.layout().folder
    }

    /// The files of the official dev set, which serves as the test split.
    pub fn dev_files(self) -> &'static [&'static str] {
        match self {
            GlueTask::Mnli => &["dev_matched.tsv", "dev_mismatched.tsv"],
            _ => &["dev.tsv"],
        }
    }

    fn layout(self) -> Layout {
        use Column::{Index, Named};
        const BINARY: &[&str] = &["0", "1"];
        const ENTAIL: &[&str] = &["entailment", "not_entailment"];
        let l = |folder, text_a, text_b, label, labels| Layout {
            folder,
            header: true,
            text_a,
            text_b,
            label,
            labels,
        };
        match self {
            GlueTask::Cola => Layout {
                header: false,
                ..l("CoLA", Index(3), None, Index(1), BINARY)
            },
            GlueTask::Sst2 => l("SST-2", Named("sentence"), None, Named("label"), BINARY),
            GlueTask::Mrpc => l(
                "MRPC",
                Named("#1 String"),
                Some(Named("#2 String")),
                Named("Quality"),
                BINARY,
            ),
            GlueTask::Stsb => l(
                "STS-B",
                Named("sentence1"),
                Some(Named("sentence2")),
                Named("score"),
                &[],
            ),
            GlueTask::Qqp => l(
                "QQP",
                Named("question1"),
                Some(Named("question2")),
                Named("is_duplicate"),
                BINARY,
            ),
            GlueTask::Mnli => l(
                "MNLI",
                Named("sentence1"),
                Some(Named("sentence2")),
                Named("gold_label"),
                &["entailment", "neutral", "contradiction"],
            ),
            GlueTask::Qnli => l(
                "QNLI",
                Named("question"),
                Some(Named("sentence")),
                Named("label"),
                ENTAIL,
            ),
            GlueTask::Rte => l(
                "RTE",
                Named("sentence1"),
                Some(Named("sentence2")),
                Named("label"),
                ENTAIL,
            ),
        }
    }

    /// `<root>/<folder>/<file>`.
    pub fn path(self, root: &Path, file: &str) -> PathBuf {
        root.join(self.folder()).join(file)
    }
}

use crate::config::DEFAULT_MAX_LENGTH;

/// The cap on the default validation size per task (10% of the training file otherwise).
pub const VAL_SIZE: usize = 1000;

impl GlueTask {
    /// The task's kind and metrics.
    pub fn spec(self) -> TaskSpec {
        let class = |classes: i64, metrics: Vec<ClassMetric>, subsets: &[&str]| {
            TaskSpec::Multiclass(MulticlassSpec {
                metrics,
                subsets: subsets.iter().map(|s| s.to_string()).collect(),
                ..MulticlassSpec::new(classes)
            })
        };
        match self {
            // MCC first: it is GLUE's CoLA score, so the run's primary metric.
            GlueTask::Cola => class(2, vec![ClassMetric::Mcc, ClassMetric::Accuracy], &[]),
            GlueTask::Mrpc | GlueTask::Qqp => class(2, vec![ClassMetric::F1], &[]),
            GlueTask::Stsb => TaskSpec::Regression(RegressionSpec {
                metrics: vec![RegressionMetric::Pearson, RegressionMetric::Spearman],
                ..RegressionSpec::new(1)
            }),
            GlueTask::Mnli => class(3, vec![], &["m", "mm"]),
            GlueTask::Sst2 | GlueTask::Qnli | GlueTask::Rte => class(2, vec![], &[]),
        }
    }

    /// The default validation size for a training file of `n` examples: 10% (at least 1),
    /// at most [`VAL_SIZE`].
    pub fn default_val_size(n: usize) -> usize {
        n.div_ceil(10).clamp(1, VAL_SIZE)
    }
}

/// The GLUE dataset family.
pub struct Glue;

impl Dataset for Glue {
    fn name(&self) -> &'static str {
        "glue"
    }

    fn about(&self) -> &'static str {
        "GLUE's 8 tasks without WNLI (Wang et al. 2019), tokenised with a pretrained model's tokenizer; the official dev sets as test splits (Mueller et al. 2025)"
    }

    fn layout(&self) -> &'static str {
        "data.data_dir = the GLUE root (glue_data/ as download_glue_data.py writes it): CoLA/, SST-2/, MRPC/, STS-B/, QQP/, QNLI/, RTE/ each with train.tsv and dev.tsv (CoLA's without header), MNLI/ with train.tsv, dev_matched.tsv, dev_mismatched.tsv; data.tokenizer (default model.pretrained) = a Hugging Face model folder with tokenizer.json, or vocab.json + merges.txt, or a tokenizer.json file"
    }

    fn tasks(&self) -> Vec<TaskInfo> {
        GlueTask::ALL
            .iter()
            .map(|t| TaskInfo::new(t.name(), t.spec().build().expect("a valid spec").as_ref()))
            .collect()
    }

    fn takes_val_size(&self) -> bool {
        true
    }

    fn load(&self, cfg: &DataConfig) -> Result<Vec<TaskData>> {
        let Some(root) = cfg.data_dir.as_deref() else {
            bail!(
                "data.data_dir: GLUE is not installed system-wide; point data.data_dir (or \
                 --data-dir) at the GLUE root holding CoLA/, SST-2/, MNLI/, … \
                 (`mtlscope data miniature glue --out DIR` writes a tiny copy)"
            );
        };
        let Some(tok_path) = cfg.tokenizer.as_deref() else {
            bail!(
                "data.tokenizer: GLUE needs a tokenizer; set data.tokenizer (or model.pretrained) \
                 to a Hugging Face model folder with tokenizer.json, or vocab.json + merges.txt"
            );
        };
        // The tokenizer first: a bad path fails before MNLI's 393k rows are read.
        let tok = TextTokenizer::load(tok_path, cfg.max_length.unwrap_or(DEFAULT_MAX_LENGTH))?;
        let mut tasks = Vec::new();
        for name in &cfg.tasks {
            let task = GlueTask::from_name(name).context("data.tasks")?;
            tasks.push(load_task(root, task, cfg, &tok)?);
        }
        Ok(tasks)
    }
}

/// One task's splits: validation held out of train, the dev set(s) as test.
fn load_task(
    root: &Path,
    task: GlueTask,
    cfg: &DataConfig,
    tok: &TextTokenizer,
) -> Result<TaskData> {
    let train_file = read(root, task, "train.tsv")?;
    let n = train_file.len();
    let v = cfg
        .val_size
        .unwrap_or_else(|| GlueTask::default_val_size(n));
    if v >= n {
        bail!(
            "data.val_size: {v} validation examples of {}'s {n} leave none to train on ({})",
            task.name(),
            task.path(root, "train.tsv").display()
        );
    }
    let mut rows: Vec<usize> = (0..n).collect();
    // One stream per task, fixed by the split seed alone.
    rows.shuffle(&mut ChaCha8Rng::seed_from_u64(
        cfg.split_seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (0x61ce << 8) ^ task as u64,
    ));
    let mut train_rows = rows.split_off(v);
    if let Some(l) = cfg.train_limit {
        train_rows.truncate(l);
    }
    let pick = |rs: &[usize]| -> Vec<(&Example, i64)> {
        rs.iter().map(|&r| (&train_file[r], 0)).collect()
    };
    let mut dev = Vec::new();
    for (subset, file) in task.dev_files().iter().enumerate() {
        dev.extend(
            read(root, task, file)?
                .into_iter()
                .map(|e| (e, subset as i64)),
        );
    }
    let dev: Vec<(&Example, i64)> = dev.iter().map(|(e, s)| (e, *s)).collect();
    let split = |ex: &[(&Example, i64)]| -> Result<Split> {
        let texts: Vec<(&str, Option<&str>)> = ex
            .iter()
            .map(|(e, _)| (e.text_a.as_str(), e.text_b.as_deref()))
            .collect();
        Ok(Split {
            x: tok.encode(&texts)?,
            y: targets(task, ex),
        })
    };
    TaskData::new(
        task.name(),
        task.spec(),
        split(&pick(&train_rows))?,
        split(&pick(&rows))?,
        split(&dev)?,
    )
    .map(|t| t.with_inputs(Inputs::Tokens))
}

/// Targets as the task's kind takes them: STS-B's scores f32 `[N]`, MNLI's (label, subset)
/// i64 `[N, 2]`, class ids i64 `[N]`.
fn targets(task: GlueTask, ex: &[(&Example, i64)]) -> Tensor {
    let class = |l: Label| match l {
        Label::Class(c) => c,
        Label::Score(_) => unreachable!("only STS-B has scores"),
    };
    match task {
        GlueTask::Stsb => Tensor::from_slice(
            &ex.iter()
                .map(|(e, _)| match e.label {
                    Label::Score(s) => s as f32,
                    Label::Class(_) => unreachable!("STS-B has scores"),
                })
                .collect::<Vec<f32>>(),
        ),
        GlueTask::Mnli => Tensor::from_slice(
            &ex.iter()
                .flat_map(|(e, s)| [class(e.label), *s])
                .collect::<Vec<i64>>(),
        )
        .view([ex.len() as i64, 2]),
        _ => Tensor::from_slice(&ex.iter().map(|(e, _)| class(e.label)).collect::<Vec<i64>>()),
    }
}

/// Reads one file of `task` under the GLUE root (`train.tsv`, `dev.tsv`, …).
pub fn read(root: &Path, task: GlueTask, file: &str) -> Result<Vec<Example>> {
    let path = task.path(root, file);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "reading {} (GLUE task `{}`: --data-dir names the folder holding {}/)",
            path.display(),
            task.name(),
            task.folder()
        )
    })?;
    parse(&text, task, &path)
}

/// Parses the text of one file of `task`; `path` names it in errors.
pub fn parse(text: &str, task: GlueTask, path: &Path) -> Result<Vec<Example>> {
    let layout = task.layout();
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .enumerate()
        .filter(|(_, l)| !l.is_empty());
    let mut width = None;
    let resolve = |c: &Column, header: Option<&[&str]>| -> Result<usize> {
        match (c, header) {
            (Column::Index(i), _) => Ok(*i),
            (Column::Named(n), Some(h)) => h.iter().position(|x| x == n).with_context(|| {
                format!(
                    "{}: line 1: no `{n}` column in the header (GLUE task `{}`; header: {})",
                    path.display(),
                    task.name(),
                    h.join(", ")
                )
            }),
            (Column::Named(n), None) => bail!("column `{n}` needs a header"),
        }
    };
    let header: Option<Vec<&str>> = if layout.header {
        let Some((_, h)) = lines.next() else {
            bail!("{}: empty file (expected a header row)", path.display());
        };
        let h: Vec<&str> = h.split('\t').collect();
        width = Some(h.len());
        Some(h)
    } else {
        None
    };
    let a = resolve(&layout.text_a, header.as_deref())?;
    let b = match &layout.text_b {
        Some(c) => Some(resolve(c, header.as_deref())?),
        None => None,
    };
    let l = resolve(&layout.label, header.as_deref())?;
    let need = [Some(a), b, Some(l)]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(0)
        + 1;
    let mut out = Vec::new();
    for (i, line) in lines {
        let fields: Vec<&str> = line.split('\t').collect();
        let n = i + 1;
        // Headerless files (CoLA) fix their width by the first row.
        let w = *width.get_or_insert(fields.len());
        if fields.len() != w || fields.len() < need {
            bail!(
                "{}: line {n}: {} tab-separated fields, expected {} (GLUE task `{}`)",
                path.display(),
                fields.len(),
                w.max(need),
                task.name()
            );
        }
        let raw = fields[l].trim();
        let label = if task == GlueTask::Stsb {
            match raw.parse::<f64>() {
                Ok(s) if (0.0..=5.0).contains(&s) => Label::Score(s),
                _ => bail!(
                    "{}: line {n}: score `{raw}` is not a number in [0, 5]",
                    path.display()
                ),
            }
        } else {
            match layout.labels.iter().position(|x| *x == raw) {
                Some(k) => Label::Class(k as i64),
                None => bail!(
                    "{}: line {n}: label `{raw}` is not one of {} (GLUE task `{}`)",
                    path.display(),
                    layout.labels.join(", "),
                    task.name()
                ),
            }
        };
        out.push(Example {
            text_a: fields[a].to_string(),
            text_b: b.map(|b| fields[b].to_string()),
            label,
        });
    }
    Ok(out)
}

/// Writes a miniature GLUE in the distribution's layout under `root` (tests): `n` rows per file
/// for every task, with each task's header (none for CoLA), MRPC's byte-order mark, literal
/// quotes in QQP and MNLI text, and MNLI's five annotator labels in the dev files.
pub fn write_miniature(root: &Path, n: usize) -> Result<()> {
    for task in GlueTask::ALL {
        let dir = root.join(task.folder());
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let files: Vec<&str> = std::iter::once("train.tsv")
            .chain(task.dev_files().iter().copied())
            .collect();
        for file in files {
            let dev = file != "train.tsv";
            let mut s = String::new();
            for i in 0..n {
                let a = format!("sentence {i} about \"{}\" things", task.name());
                let b = format!("another sentence {} that 's it", i * 7 % 5);
                let row = match task {
                    GlueTask::Cola => format!("gj04\t{}\t\t{a}", i % 2),
                    GlueTask::Sst2 => format!("{a}\t{}", i % 2),
                    GlueTask::Mrpc => format!("{}\t{}\t{}\t{a}\t{b}", i % 2, 100 + i, 200 + i),
                    GlueTask::Stsb => format!(
                        "{i}\tmain-news\tMSRvid\t2012test\t{i}\tnone\tnone\t{a}\t{b}\t{:.3}",
                        (i % 6) as f64 * 0.8
                    ),
                    GlueTask::Qqp => {
                        format!("{i}\t{}\t{}\t{a}?\t\"{b}\"?\t{}", 2 * i, 2 * i + 1, i % 2)
                    }
                    GlueTask::Mnli => {
                        let g = ["entailment", "neutral", "contradiction"][i % 3];
                        let parses = format!("( {a} )\t( {b} )\t(ROOT {a})\t(ROOT {b})");
                        if dev {
                            format!("{i}\t{i}\t{i}e\tfiction\t{parses}\t{a}\t\"{b}\"\t{g}\t{g}\t{g}\tneutral\t{g}\t{g}")
                        } else {
                            format!("{i}\t{i}\t{i}e\tfiction\t{parses}\t{a}\t\"{b}\"\t{g}\t{g}")
                        }
                    }
                    GlueTask::Qnli | GlueTask::Rte => {
                        let g = ["entailment", "not_entailment"][i % 2];
                        format!("{i}\t{a}\t{b}\t{g}")
                    }
                };
                s.push_str(&row);
                s.push('\n');
            }
            let header = match task {
                GlueTask::Cola => String::new(),
                GlueTask::Sst2 => "sentence\tlabel\n".into(),
                GlueTask::Mrpc => "\u{feff}Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n".into(),
                GlueTask::Stsb => "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n".into(),
                GlueTask::Qqp => "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n".into(),
                GlueTask::Mnli => {
                    let base = "index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\tsentence1_parse\tsentence2_parse\tsentence1\tsentence2\tlabel1";
                    if dev {
                        format!("{base}\tlabel2\tlabel3\tlabel4\tlabel5\tgold_label\n")
                    } else {
                        format!("{base}\tgold_label\n")
                    }
                }
                GlueTask::Qnli => "index\tquestion\tsentence\tlabel\n".into(),
                GlueTask::Rte => "index\tsentence1\tsentence2\tlabel\n".into(),
            };
            let path = dir.join(file);
            std::fs::write(&path, header + &s)
                .with_context(|| format!("writing {}", path.display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_task_reads_from_the_miniature_layout() {
        let tmp = tempfile::tempdir().unwrap();
        write_miniature(tmp.path(), 6).unwrap();
        for task in GlueTask::ALL {
            for file in std::iter::once("train.tsv").chain(task.dev_files().iter().copied()) {
                let ex = read(tmp.path(), task, file).unwrap();
                assert_eq!(ex.len(), 6, "{} {file}", task.name());
                assert_eq!(
                    ex[0].text_b.is_some(),
                    !matches!(task, GlueTask::Cola | GlueTask::Sst2)
                );
                for (i, e) in ex.iter().enumerate() {
                    match (task, e.label) {
                        (GlueTask::Stsb, Label::Score(s)) => {
                            assert!((s - (i % 6) as f64 * 0.8).abs() < 1e-9)
                        }
                        (GlueTask::Mnli, Label::Class(c)) => assert_eq!(c, (i % 3) as i64),
                        (_, Label::Class(c)) => assert_eq!(c, (i % 2) as i64),
                        (t, l) => panic!("{t:?}: {l:?}"),
                    }
                }
            }
        }
        // Quotes are literal characters, not CSV quoting.
        let qqp = read(tmp.path(), GlueTask::Qqp, "train.tsv").unwrap();
        assert_eq!(
            qqp[1].text_b.as_deref(),
            Some("\"another sentence 2 that 's it\"?")
        );
        assert!(qqp[1].text_a.contains("\"qqp\""));
        // MNLI's dev files: gold_label found by name past the five annotator labels.
        let m = read(tmp.path(), GlueTask::Mnli, "dev_mismatched.tsv").unwrap();
        assert_eq!(m[1].label, Label::Class(1));
        assert_eq!(
            m[1].text_b.as_deref(),
            Some("\"another sentence 2 that 's it\"")
        );
        // MRPC's byte-order mark does not hide its `Quality` column.
        assert_eq!(
            read(tmp.path(), GlueTask::Mrpc, "dev.tsv").unwrap().len(),
            6
        );
        // CoLA: no header, the sentence is column 4.
        let c = read(tmp.path(), GlueTask::Cola, "train.tsv").unwrap();
        assert_eq!(c[0].text_a, "sentence 0 about \"cola\" things");
    }

    #[test]
    fn windows_line_ends_and_blank_last_line() {
        let t = "index\tsentence1\tsentence2\tlabel\r\n0\ta\tb\tentailment\r\n\r\n";
        let ex = parse(t, GlueTask::Rte, Path::new("RTE/dev.tsv")).unwrap();
        assert_eq!(
            ex,
            vec![Example {
                text_a: "a".into(),
                text_b: Some("b".into()),
                label: Label::Class(0)
            }]
        );
    }

    #[test]
    fn malformed_rows_are_named_with_file_and_line() {
        let p = Path::new("/g/RTE/train.tsv");
        let short = "index\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailment\n1\ta\tentailment\n";
        let e = format!("{:#}", parse(short, GlueTask::Rte, p).unwrap_err());
        assert!(
            e.contains("/g/RTE/train.tsv: line 3") && e.contains("3 tab-separated"),
            "{e}"
        );
        let bad = "index\tsentence1\tsentence2\tlabel\n0\ta\tb\tmaybe\n";
        let e = format!("{:#}", parse(bad, GlueTask::Rte, p).unwrap_err());
        assert!(e.contains("line 2") && e.contains("`maybe`"), "{e}");
        let score = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n\
                     0\tg\tf\ty\t0\ts\ts\ta\tb\t5.5\n";
        let e = format!("{:#}", parse(score, GlueTask::Stsb, p).unwrap_err());
        assert!(e.contains("line 2") && e.contains("[0, 5]"), "{e}");
        let e = format!(
            "{:#}",
            parse("sentence\tlbl\nx\t1\n", GlueTask::Sst2, p).unwrap_err()
        );
        assert!(e.contains("no `label` column"), "{e}");
        let e = format!(
            "{:#}",
            read(Path::new("/nonexistent"), GlueTask::Cola, "train.tsv").unwrap_err()
        );
        assert!(e.contains("/nonexistent/CoLA/train.tsv"), "{e}");
        assert!(GlueTask::from_name("wnli")
            .unwrap_err()
            .to_string()
            .contains("known: cola"));
    }
}
