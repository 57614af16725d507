//! The `glue` dataset from a miniature copy in the distribution's layout, tokenised with the
//! tiny 50-id tokenizer: every task's splits, shapes and labels, MNLI's subsets, the seeded
//! validation hold-out, per-batch padding cuts, the errors, and `mtlscope data miniature glue`.

mod common;

use std::collections::HashMap;
use std::path::Path;

use mtlscope::config::DataConfig;
use mtlscope::data::glue::{self, GlueTask, Label};
use mtlscope::data::tokenize::{write_tiny_tokenizer, TextTokenizer};
use mtlscope::data::{load_tasks, Inputs, TaskData};
use tch::{Kind, Tensor};

/// Rows per miniature file: 3 validation examples (10%) held out of 30.
const ROWS: usize = 30;

fn miniature(root: &Path) {
    glue::write_miniature(root, ROWS).unwrap();
    write_tiny_tokenizer(&root.join("tokenizer")).unwrap();
}

fn cfg(root: &Path, tasks: &[&str]) -> DataConfig {
    DataConfig {
        dataset: "glue".into(),
        tasks: tasks.iter().map(|t| t.to_string()).collect(),
        data_dir: Some(root.to_path_buf()),
        tokenizer: Some(root.join("tokenizer")),
        ..DataConfig::default()
    }
}

fn all_tasks() -> Vec<&'static str> {
    GlueTask::ALL.iter().map(|t| t.name()).collect()
}

/// Each example's token ids without padding.
fn sequences(x: &Tensor) -> Vec<Vec<i32>> {
    (0..x.size()[0])
        .map(|i| {
            let ids = Vec::<i32>::try_from(&x.get(i).get(0)).unwrap();
            let mask = Vec::<i32>::try_from(&x.get(i).get(2)).unwrap();
            let len = mask.iter().filter(|&&m| m == 1).count();
            assert!(mask[..len].iter().all(|&m| m == 1), "mask not a prefix");
            assert!(ids[len..].iter().all(|&t| t == 1), "padding is not <pad>");
            ids[..len].to_vec()
        })
        .collect()
}

fn label_of(l: Label) -> f64 {
    match l {
        Label::Class(c) => c as f64,
        Label::Score(s) => s,
    }
}

/// The labels of `y` (the first column for MNLI) as f64.
fn labels(y: &Tensor) -> Vec<f64> {
    let y = if y.dim() == 2 {
        y.select(1, 0)
    } else {
        y.shallow_clone()
    };
    Vec::<f64>::try_from(&y.to_kind(Kind::Double)).unwrap()
}

#[test]
fn every_task_loads_with_the_files_labels() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    miniature(root);
    let tasks = load_tasks(&cfg(root, &all_tasks())).unwrap();
    let tok = TextTokenizer::load(&root.join("tokenizer"), 128).unwrap();
    assert_eq!(tasks.len(), 8);
    for (t, task) in tasks.iter().zip(GlueTask::ALL) {
        assert_eq!(t.name, task.name());
        assert_eq!(t.inputs, Inputs::Tokens);
        let dev_rows = ROWS * task.dev_files().len();
        assert_eq!(
            (t.train.len(), t.val.len(), t.test.len()),
            (ROWS - 3, 3, dev_rows),
            "{}",
            t.name
        );
        for s in [&t.train, &t.val, &t.test] {
            let shape = s.x.size();
            assert_eq!((shape.len(), shape[1], s.x.kind()), (3, 3, Kind::Int));
            assert!(shape[2] <= 128);
            assert!(
                s.x.max().int64_value(&[]) < 50,
                "ids in the tiny vocabulary"
            );
            let want = match task {
                GlueTask::Stsb => (vec![shape[0]], Kind::Float),
                GlueTask::Mnli => (vec![shape[0], 2], Kind::Int64),
                _ => (vec![shape[0]], Kind::Int64),
            };
            assert_eq!((s.y.size(), s.y.kind()), want, "{}", t.name);
        }
        // Test split: the dev file(s) in order, labels as read.
        let dev: Vec<_> = task
            .dev_files()
            .iter()
            .flat_map(|f| glue::read(root, task, f).unwrap())
            .collect();
        let got = labels(&t.test.y);
        for (e, g) in dev.iter().zip(&got) {
            assert!((label_of(e.label) - g).abs() < 1e-6, "{}", t.name);
        }
        // The texts too: each row is the tokenizer's encoding of its file row.
        let seqs = sequences(&t.test.x);
        for (e, s) in dev.iter().zip(&seqs).take(5) {
            let ids = tok.ids(&e.text_a, e.text_b.as_deref()).unwrap();
            assert_eq!(s, &ids.iter().map(|&i| i as i32).collect::<Vec<_>>());
        }
        // Train and validation: each row's label is its train.tsv row's.
        let by_text: HashMap<Vec<i32>, f64> = glue::read(root, task, "train.tsv")
            .unwrap()
            .iter()
            .map(|e| {
                let ids = tok.ids(&e.text_a, e.text_b.as_deref()).unwrap();
                (ids.iter().map(|&i| i as i32).collect(), label_of(e.label))
            })
            .collect();
        assert_eq!(by_text.len(), ROWS, "distinct texts");
        let mut seen = Vec::new();
        for s in [&t.train, &t.val] {
            for (x, y) in sequences(&s.x).into_iter().zip(labels(&s.y)) {
                assert!((by_text[&x] - y).abs() < 1e-6, "{}", t.name);
                seen.push(x);
            }
        }
        seen.sort();
        seen.dedup();
        assert_eq!(
            seen.len(),
            ROWS,
            "{}: train and val disjoint, all rows",
            t.name
        );
    }
    // MNLI: matched then mismatched in the test split; train and val all subset 0.
    let mnli = &tasks[5];
    let sub = Vec::<i64>::try_from(&mnli.test.y.select(1, 1)).unwrap();
    assert_eq!(sub, [vec![0; ROWS], vec![1; ROWS]].concat());
    for split in [&mnli.train, &mnli.val] {
        assert_eq!(
            split.y.select(1, 1).abs().sum(Kind::Int64).int64_value(&[]),
            0
        );
    }
    // Single sentences (CoLA) have no segment B; the tiny tokenizer is RoBERTa's all-0 anyway.
    assert_eq!(
        tasks[0]
            .train
            .x
            .select(1, 1)
            .abs()
            .sum(Kind::Int64)
            .int64_value(&[]),
        0
    );
    let shape = mtlscope::data::input_shape(&tasks).unwrap();
    assert_eq!(shape[0], 3);
}

#[test]
fn the_hold_out_is_fixed_by_the_split_seed_and_limits_apply() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    miniature(root);
    let load = |seed: u64, f: &dyn Fn(&mut DataConfig)| -> TaskData {
        let mut c = cfg(root, &["rte"]);
        c.split_seed = seed;
        f(&mut c);
        let tasks = load_tasks(&c).unwrap();
        tasks.into_iter().find(|t| t.name == "rte").unwrap()
    };
    let val = |t: &TaskData| {
        let mut v = sequences(&t.val.x);
        v.sort();
        v
    };
    let a = load(3, &|_| {});
    // Same seed, same split, whichever other tasks are loaded.
    let b = load(3, &|c| c.tasks = vec!["cola".into(), "rte".into()]);
    assert_eq!(val(&a), val(&b));
    assert!(a.train.x.equal(&b.train.x) && a.train.y.equal(&b.train.y));
    let c = load(4, &|_| {});
    assert_ne!(val(&a), val(&c), "another seed, another split");
    // val_size and train_limit; a limit keeps a prefix of the same shuffled training rows.
    let d = load(3, &|c| {
        c.val_size = Some(5);
        c.train_limit = Some(7);
    });
    assert_eq!((d.train.len(), d.val.len()), (7, 5));
    let e = load(3, &|c| {
        c.val_size = Some(5);
        c.train_limit = Some(4);
    });
    assert_eq!(sequences(&e.train.x), sequences(&d.train.x)[..4]);
    // max_length truncates every split.
    let f = load(3, &|c| c.max_length = Some(8));
    for s in [&f.train, &f.val, &f.test] {
        assert_eq!(s.x.size()[2], 8);
    }
    let mut c = cfg(root, &["rte"]);
    c.val_size = Some(ROWS);
    let e = format!("{:#}", load_tasks(&c).unwrap_err());
    assert!(
        e.contains("data.val_size") && e.contains("RTE/train.tsv"),
        "{e}"
    );
}

#[test]
fn a_batch_is_cut_to_its_longest_sequence() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    miniature(root);
    let t = load_tasks(&cfg(root, &["cola"])).unwrap().remove(0);
    let lens: Vec<i64> = Vec::try_from(&t.train.x.select(1, 2).sum_dim_intlist(
        1,
        false,
        Kind::Int64,
    ))
    .unwrap();
    let l = t.train.x.size()[2];
    assert_eq!(*lens.iter().max().unwrap(), l);
    let (short, &shortest) = lens.iter().enumerate().min_by_key(|(_, &n)| n).unwrap();
    assert!(shortest < l, "miniature lengths vary: {lens:?}");
    let idx = Tensor::from_slice(&[short as i64]);
    let b = Inputs::Tokens.prepare(&t.train.x.index_select(0, &idx));
    assert_eq!((b.size(), b.kind()), (vec![1, 3, shortest], Kind::Int64));
    assert_eq!(b.select(1, 2).sum(Kind::Int64).int64_value(&[]), shortest);
}

#[test]
fn errors_name_the_file_line_and_key() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    miniature(root);
    let rte = root.join("RTE/train.tsv");
    let mut text = std::fs::read_to_string(&rte).unwrap();
    text.push_str("99\tonly two\tentailment\n");
    std::fs::write(&rte, text).unwrap();
    let e = format!("{:#}", load_tasks(&cfg(root, &["rte"])).unwrap_err());
    assert!(
        e.contains("RTE/train.tsv") && e.contains(&format!("line {}", ROWS + 2)),
        "{e}"
    );

    let mut c = cfg(root, &["cola"]);
    c.tokenizer = None;
    let e = format!("{:#}", load_tasks(&c).unwrap_err());
    assert!(e.contains("data.tokenizer"), "{e}");
    c.tokenizer = Some(root.join("no-such-model"));
    let e = format!("{:#}", load_tasks(&c).unwrap_err());
    assert!(
        e.contains("data.tokenizer") && e.contains("no-such-model"),
        "{e}"
    );
    let mut c = cfg(root, &["cola"]);
    c.data_dir = None;
    let e = format!("{:#}", load_tasks(&c).unwrap_err());
    assert!(e.contains("data.data_dir"), "{e}");
    let c = cfg(root, &["wnli"]);
    let e = format!("{:#}", load_tasks(&c).unwrap_err());
    assert!(e.contains("wnli") && e.contains("known: cola"), "{e}");
}

#[test]
fn data_miniature_glue_writes_a_copy_data_check_reads() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("glue");
    let out_s = out.to_str().unwrap();
    let (stdout, _) = common::mtlscope_ok(&["data", "miniature", "glue", "--out", out_s]);
    assert!(stdout.contains("tokenizer"), "{stdout}");
    assert!(out.join("MNLI/dev_mismatched.tsv").is_file());
    for f in ["tokenizer.json", "config.json", "model.safetensors"] {
        assert!(out.join("tiny-roberta").join(f).is_file(), "{f}");
    }
    let tokenizer = out.join("tiny-roberta");
    let (stdout, _) = common::mtlscope_ok(&[
        "data",
        "check",
        "glue",
        "--dir",
        out_s,
        "--tokenizer",
        tokenizer.to_str().unwrap(),
    ]);
    assert!(
        stdout.contains("OK, 8 tasks") && stdout.contains("mnli: train 36, val 4, test 80"),
        "{stdout}"
    );
}
