//! Tokenisation of text datasets with a pretrained model's tokenizer, into the token inputs
//! [`Inputs::Tokens`](super::Inputs::Tokens) stores: `i32` `[N, 3, L]`, per example its token
//! ids, token type ids and attention mask, padded at the end with the tokenizer's pad id to the
//! split's longest sequence.
//!
//! The tokenizer is Hugging Face's, through the `tokenizers` crate (the Rust library behind
//! `transformers`' fast tokenizers, so the ids are the ones `AutoTokenizer` gives). `data.tokenizer`
//! names either
//! - a `tokenizer.json` file, or a model folder holding one (what `save_pretrained` writes), or
//! - a model folder holding `vocab.json` + `merges.txt` only (older RoBERTa/GPT-2 checkpoints):
//!   RoBERTa's byte-level BPE is built from them as `transformers`' `RobertaConverter` does —
//!   ByteLevel pre-tokenizer without prefix space, ByteLevel decoder, `RobertaProcessing` with
//!   `<s>` and `</s>` from the vocab, the special tokens registered so that literal `<s>` in a
//!   text stays one token.
//!
//! Encoding: special tokens as the post-processor places them (RoBERTa: `<s> A </s>` and
//! `<s> A </s></s> B </s>`; BERT-style templates give segment B token type 1), truncated to
//! `data.max_length` tokens, special tokens included, by the longest-first strategy
//! (`transformers`' default for `truncation=True`; with the fast tokenizer's rule that an odd
//! budget favours the longer text, where the slow Python tokenizers trim the second text first
//! on ties). The tokenizer file's own `padding` and `truncation` sections are replaced: padding
//! is done here, per split, and per batch by `Inputs::prepare`. The pad id is the `padding`
//! section's, else the id of `<pad>` or `[PAD]`.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use tch::Tensor;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::processors::roberta::RobertaProcessing;
use tokenizers::{
    AddedToken, EncodeInput, Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy,
};

/// Examples encoded per call of the batch encoder: bounds the memory of full `Encoding`s
/// (tokens, offsets, masks) to a chunk, since only ids and token types are kept (MNLI: 393k
/// pairs).
const CHUNK: usize = 8192;

/// A loaded tokenizer with its truncation length and pad id.
pub struct TextTokenizer {
    tok: Tokenizer,
    pad_id: u32,
    max_length: usize,
    path: PathBuf,
}

impl std::fmt::Debug for TextTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextTokenizer")
            .field("path", &self.path)
            .field("pad_id", &self.pad_id)
            .field("max_length", &self.max_length)
            .finish()
    }
}

impl TextTokenizer {
    /// Loads the tokenizer `data.tokenizer` names (`path`: a `tokenizer.json` file, or a folder
    /// with `tokenizer.json`, or with `vocab.json` + `merges.txt`), truncating to `max_length`
    /// tokens.
    pub fn load(path: &Path, max_length: usize) -> Result<Self> {
        let (mut tok, file) = if path.is_file() {
            (read_json(path)?, path.to_path_buf())
        } else if path.join("tokenizer.json").is_file() {
            let file = path.join("tokenizer.json");
            (read_json(&file)?, file)
        } else if path.join("vocab.json").is_file() && path.join("merges.txt").is_file() {
            (roberta_from_vocab(path)?, path.join("vocab.json"))
        } else if path.is_dir() {
            bail!(
                "data.tokenizer: {} holds neither tokenizer.json nor vocab.json + merges.txt \
                 (name a Hugging Face model folder or a tokenizer.json file)",
                path.display()
            );
        } else {
            bail!(
                "data.tokenizer: {} does not exist (name a Hugging Face model folder holding \
                 tokenizer.json, or vocab.json + merges.txt, or a tokenizer.json file)",
                path.display()
            );
        };
        let pad_id = match tok.get_padding() {
            Some(p) => p.pad_id,
            None => ["<pad>", "[PAD]"]
                .iter()
                .find_map(|t| tok.token_to_id(t))
                .with_context(|| {
                    format!(
                        "data.tokenizer: {} names no padding token (no `padding` section, no \
                         `<pad>` or `[PAD]` token)",
                        file.display()
                    )
                })?,
        };
        let specials = tok
            .get_post_processor()
            .map_or(0, |p| tokenizers::PostProcessor::added_tokens(p, true));
        if max_length < specials.max(1) {
            bail!(
                "data.max_length = {max_length} leaves no room for text: {} adds {specials} \
                 special tokens to a pair",
                file.display()
            );
        }
        tok.with_padding(None);
        tok.with_truncation(Some(TruncationParams {
            direction: TruncationDirection::Right,
            max_length,
            strategy: TruncationStrategy::LongestFirst,
            stride: 0,
        }))
        .map_err(|e| anyhow!("data.max_length = {max_length}: {e}"))?;
        Ok(Self {
            tok,
            pad_id,
            max_length,
            path: file,
        })
    }

    /// The id padding positions hold.
    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }

    /// Number of distinct tokens, added tokens included.
    pub fn vocab_size(&self) -> usize {
        self.tok.get_vocab_size(true)
    }

    /// Tokens per example at most, special tokens included.
    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// The file the tokenizer was read from (`vocab.json` for a vocab + merges folder).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Token ids of one text or pair with the special tokens, truncated (no padding).
    pub fn ids(&self, text_a: &str, text_b: Option<&str>) -> Result<Vec<u32>> {
        let input = match text_b {
            Some(b) => EncodeInput::Dual(text_a.into(), b.into()),
            None => EncodeInput::Single(text_a.into()),
        };
        let e = self
            .tok
            .encode_fast(input, true)
            .map_err(|e| anyhow!("tokenizing with {}: {e}", self.path.display()))?;
        Ok(e.get_ids().to_vec())
    }

    /// The token inputs of `texts` (each one text or a pair): `i32` `[N, 3, L]`, rows token
    /// ids, token type ids and attention mask, padded at the end with [`Self::pad_id`] (type 0,
    /// mask 0) to the longest sequence L (at least 1).
    pub fn encode(&self, texts: &[(&str, Option<&str>)]) -> Result<Tensor> {
        let mut lens = Vec::with_capacity(texts.len());
        let (mut ids, mut types) = (Vec::new(), Vec::new());
        for chunk in texts.chunks(CHUNK) {
            let inputs: Vec<EncodeInput> = chunk
                .iter()
                .map(|&(a, b)| match b {
                    Some(b) => EncodeInput::Dual(a.into(), b.into()),
                    None => EncodeInput::Single(a.into()),
                })
                .collect();
            // Offsets are not needed: the fast path skips them, with the same ids.
            let encodings = self
                .tok
                .encode_batch_fast(inputs, true)
                .map_err(|e| anyhow!("tokenizing with {}: {e}", self.path.display()))?;
            for e in &encodings {
                lens.push(e.get_ids().len());
                ids.extend_from_slice(e.get_ids());
                types.extend_from_slice(e.get_type_ids());
            }
        }
        let l = lens.iter().copied().max().unwrap_or(0).max(1);
        let n = lens.len();
        let pad = i32::try_from(self.pad_id).context("pad id exceeds i32")?;
        let mut out = vec![0i32; n * 3 * l];
        let mut at = 0;
        for (i, &len) in lens.iter().enumerate() {
            let row = &mut out[i * 3 * l..(i + 1) * 3 * l];
            for j in 0..l {
                if j < len {
                    row[j] = i32::try_from(ids[at + j]).context("token id exceeds i32")?;
                    row[l + j] = types[at + j] as i32;
                    row[2 * l + j] = 1;
                } else {
                    row[j] = pad;
                }
            }
            at += len;
        }
        // The tensor copies `out`: free the unpadded ids first (MNLI's train split holds
        // ~50M tokens).
        drop((ids, types));
        Ok(Tensor::from_slice(&out).view([n as i64, 3, l as i64]))
    }
}

fn read_json(file: &Path) -> Result<Tokenizer> {
    Tokenizer::from_file(file)
        .map_err(|e| anyhow!("data.tokenizer: reading {}: {e}", file.display()))
}

/// RoBERTa's byte-level BPE from `dir/vocab.json` + `dir/merges.txt`.
fn roberta_from_vocab(dir: &Path) -> Result<Tokenizer> {
    let (vocab, merges) = (dir.join("vocab.json"), dir.join("merges.txt"));
    let mut bpe = BPE::from_file(&vocab.to_string_lossy(), &merges.to_string_lossy());
    // RoBERTa's converter sets no unk token: its 256 byte symbols cover every input. A vocab
    // without them would silently drop bytes instead, so `<unk>` is used when present.
    let words: serde_json::Map<String, serde_json::Value> = serde_json::from_str(
        &std::fs::read_to_string(&vocab)
            .with_context(|| format!("data.tokenizer: reading {}", vocab.display()))?,
    )
    .with_context(|| format!("data.tokenizer: {}: not a JSON object", vocab.display()))?;
    let id = |t: &str| words.get(t).and_then(|v| v.as_u64()).map(|v| v as u32);
    if words.contains_key("<unk>") {
        bpe = bpe.unk_token("<unk>".into());
    }
    let bpe = bpe.build().map_err(|e| {
        anyhow!(
            "data.tokenizer: reading {} and {}: {e}",
            vocab.display(),
            merges.display()
        )
    })?;
    let (Some(cls), Some(sep)) = (id("<s>"), id("</s>")) else {
        bail!(
            "data.tokenizer: {} has no `<s>` or no `</s>` (RoBERTa's special tokens)",
            vocab.display()
        );
    };
    let mut tok = Tokenizer::new(bpe);
    tok.with_pre_tokenizer(Some(ByteLevel::default().add_prefix_space(false)));
    tok.with_decoder(Some(ByteLevelDecoder::default()));
    tok.with_post_processor(Some(
        RobertaProcessing::new(("</s>".into(), sep), ("<s>".into(), cls))
            .trim_offsets(true)
            .add_prefix_space(false),
    ));
    let specials: Vec<AddedToken> = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
        .into_iter()
        .filter(|t| words.contains_key(*t))
        // RobertaTokenizer's mask token absorbs the space before it.
        .map(|t| AddedToken::from(t, true).lstrip(t == "<mask>"))
        .collect();
    tok.add_special_tokens(specials)
        .map_err(|e| anyhow!("data.tokenizer: {}: {e}", vocab.display()))?;
    Ok(tok)
}

/// A RoBERTa-style `tokenizer.json` (Hugging Face's format, as `roberta-base` ships it): a
/// byte-level BPE with `vocab` and `merges` (ranks in order), `<s>`, `<pad>`, `</s>`, `<unk>`
/// as special added tokens at their vocab ids, RoBERTa's post-processor, no padding or
/// truncation section.
fn roberta_json(vocab: &[(String, u32)], merges: &[&str], unk: bool) -> serde_json::Value {
    use serde_json::json;
    let id = |t: &str| vocab.iter().find(|(s, _)| s == t).map(|(_, i)| *i);
    let added: Vec<_> = ["<s>", "<pad>", "</s>", "<unk>"]
        .iter()
        .filter_map(|t| id(t).map(|i| (t, i)))
        .map(|(t, i)| {
            json!({"id": i, "content": t, "single_word": false, "lstrip": false,
                   "rstrip": false, "normalized": true, "special": true})
        })
        .collect();
    let vocab: serde_json::Map<String, serde_json::Value> =
        vocab.iter().map(|(s, i)| (s.clone(), json!(i))).collect();
    let byte_level = |prefix: bool| {
        json!({"type": "ByteLevel", "add_prefix_space": prefix, "trim_offsets": true,
               "use_regex": true})
    };
    json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": byte_level(false),
        "post_processor": {"type": "RobertaProcessing", "sep": ["</s>", id("</s>")],
                           "cls": ["<s>", id("<s>")], "trim_offsets": true,
                           "add_prefix_space": false},
        "decoder": byte_level(true),
        "model": {"type": "BPE", "dropout": null, "unk_token": if unk { json!("<unk>") } else { json!(null) },
                  "continuing_subword_prefix": "", "end_of_word_suffix": "", "fuse_unk": false,
                  "byte_fallback": false, "vocab": vocab, "merges": merges}
    })
}

/// Writes a tiny RoBERTa-style tokenizer to `dir/tokenizer.json` (tests, `mtlscope data
/// miniature glue`): a byte-level BPE of 50 ids, so a test model with a 50-row embedding table
/// can read its output — `<s>` 0, `<pad>` 1, `</s>` 2, `<unk>` 3 as in RoBERTa, then the byte
/// symbols of what miniature GLUE text uses (`Ġ` for the space, `a`–`z`, `0`–`9`, `"`, `'`,
/// `?`; ids 4–43), then six merges (`en`, `Ġs`, `Ġa`, `th`, `Ġsen`, `in`; ids 44–49). Any
/// other byte becomes `<unk>` (the model's `unk_token`), which RoBERTa's full 256-symbol
/// alphabet never needs.
pub fn write_tiny_tokenizer(dir: &Path) -> Result<()> {
    let mut symbols: Vec<String> = ["<s>", "<pad>", "</s>", "<unk>", "Ġ"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    symbols.extend(('a'..='z').chain('0'..='9').map(String::from));
    symbols.extend(["\"", "'", "?"].map(String::from));
    let merges = ["e n", "Ġ s", "Ġ a", "t h", "Ġs en", "i n"];
    symbols.extend(merges.iter().map(|m| m.replace(' ', "")));
    let vocab: Vec<(String, u32)> = symbols
        .into_iter()
        .enumerate()
        .map(|(i, s)| (s, i as u32))
        .collect();
    debug_assert_eq!(vocab.len(), 50);
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("tokenizer.json");
    let text = serde_json::to_string_pretty(&roberta_json(&vocab, &merges, true))?;
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Kind;

    /// Merges of the test tokenizer, ids 260.. in rank order.
    const MERGES: [&str; 5] = ["Ġ t", "h e", "Ġt he", "l l", "o r"];

    /// The test vocabulary: RoBERTa's four special tokens at 0–3, the 256 byte-level symbols
    /// in code-point order at 4–259 (so printable ASCII `c` is `c - 29`, and `Ġ`, the space,
    /// is 224: 188 symbols that stand for themselves, then bytes 0..=32 as U+0100..=U+0120),
    /// then the merges' results.
    fn vocab() -> Vec<(String, u32)> {
        let mut alphabet: Vec<char> = ByteLevel::alphabet().into_iter().collect();
        alphabet.sort();
        assert_eq!(alphabet.len(), 256);
        let mut v: Vec<String> = ["<s>", "<pad>", "</s>", "<unk>"].map(String::from).to_vec();
        v.extend(alphabet.iter().map(|c| c.to_string()));
        v.extend(MERGES.iter().map(|m| m.replace(' ', "")));
        v.into_iter()
            .enumerate()
            .map(|(i, s)| (s, i as u32))
            .collect()
    }

    /// The same tokenizer as `tokenizer.json` in `json/` and as `vocab.json` + `merges.txt` in
    /// `files/`.
    fn write_both(root: &Path) -> (PathBuf, PathBuf) {
        let (json, files) = (root.join("json"), root.join("files"));
        std::fs::create_dir_all(&json).unwrap();
        std::fs::create_dir_all(&files).unwrap();
        let v = vocab();
        std::fs::write(
            json.join("tokenizer.json"),
            roberta_json(&v, &MERGES, false).to_string(),
        )
        .unwrap();
        let map: serde_json::Map<_, _> = v
            .iter()
            .map(|(s, i)| (s.clone(), serde_json::json!(i)))
            .collect();
        std::fs::write(
            files.join("vocab.json"),
            serde_json::Value::Object(map).to_string(),
        )
        .unwrap();
        std::fs::write(
            files.join("merges.txt"),
            format!("#version: 0.2\n{}\n", MERGES.join("\n")),
        )
        .unwrap();
        (json, files)
    }

    // By hand: "Hello" → H e l l o, `l l` merges: H(43) e(72) ll(263) o(82); " the" → Ġ t h e,
    // `Ġ t` (rank 0) before `h e` (rank 1), then `Ġt he`: Ġthe(262); " world" → Ġ w o r l d,
    // `o r`: Ġ(224) w(90) or(264) l(79) d(71). "the" without a space: t(87) he(261);
    // " end" → Ġ(224) e(72) n(81) d(71); "?" is its own pre-token: 34.
    const A: &str = "Hello the world";
    const A_IDS: [u32; 10] = [43, 72, 263, 82, 262, 224, 90, 264, 79, 71];
    const B: &str = "the end?";
    const B_IDS: [u32; 7] = [87, 261, 224, 72, 81, 71, 34];

    #[test]
    fn sentence_and_pair_by_hand_in_both_formats() {
        let tmp = tempfile::tempdir().unwrap();
        let (json, files) = write_both(tmp.path());
        let file = TextTokenizer::load(&json.join("tokenizer.json"), 128).unwrap();
        for path in [json, files] {
            let t = TextTokenizer::load(&path, 128).unwrap();
            assert_eq!(t.pad_id(), 1);
            assert_eq!(t.vocab_size(), 265);
            let single: Vec<u32> = [0].into_iter().chain(A_IDS).chain([2]).collect();
            assert_eq!(t.ids(A, None).unwrap(), single, "{}", path.display());
            let pair: Vec<u32> = [0]
                .into_iter()
                .chain(A_IDS)
                .chain([2, 2])
                .chain(B_IDS)
                .chain([2])
                .collect();
            assert_eq!(t.ids(A, Some(B)).unwrap(), pair, "{}", path.display());
            // Special tokens written in a text stay whole, as added tokens.
            assert_eq!(t.ids("<s>", None).unwrap(), [0, 0, 2]);
            for text in ["naïve 😀 tabs\tand  spaces", "", "x"] {
                assert_eq!(
                    t.ids(text, Some("q")).unwrap(),
                    file.ids(text, Some("q")).unwrap()
                );
            }
        }
    }

    #[test]
    fn longest_first_truncation_and_padding_layout() {
        let tmp = tempfile::tempdir().unwrap();
        let (json, _) = write_both(tmp.path());
        // Pair budget 13 - 4 = 9 over 10 + 7 tokens: both cut, the longer keeps the odd one
        // (5 + 4); over 10 + 3 ("end" alone): only the longer, to 6.
        let t = TextTokenizer::load(&json, 13).unwrap();
        let ids = t.ids(A, Some(B)).unwrap();
        assert_eq!(ids.len(), 13);
        assert_eq!(&ids[1..6], &A_IDS[..5]);
        assert_eq!(&ids[8..12], &B_IDS[..4]);
        let ids = t.ids(A, Some("end")).unwrap();
        assert_eq!(ids.len(), 13);
        assert_eq!(&ids[1..7], &A_IDS[..6]);
        assert_eq!(&ids[9..12], [72, 81, 71]);
        let t = TextTokenizer::load(&json, 6).unwrap();
        assert_eq!(t.ids(A, None).unwrap(), [0, 43, 72, 263, 82, 2]);

        let t = TextTokenizer::load(&json, 128).unwrap();
        let x = t.encode(&[("the", None), (A, Some(B))]).unwrap();
        assert_eq!((x.size(), x.kind()), (vec![2, 3, 21], Kind::Int));
        let row = |i: i64, r: i64| Vec::<i32>::try_from(&x.get(i).get(r)).unwrap();
        let mut first = vec![0, 87, 261, 2];
        first.resize(21, 1);
        assert_eq!(row(0, 0), first);
        assert_eq!(row(0, 1), vec![0; 21]);
        assert_eq!(
            row(0, 2),
            (0..21).map(|j| i32::from(j < 4)).collect::<Vec<_>>()
        );
        assert_eq!(row(1, 2), vec![1; 21]);
        // RoBERTa's post-processor gives segment B type 0 too.
        assert_eq!(row(1, 1), vec![0; 21]);
        let empty = t.encode(&[]).unwrap();
        assert_eq!(empty.size(), [0, 3, 1]);
    }

    #[test]
    fn tiny_tokenizer_keeps_ids_below_50() {
        let tmp = tempfile::tempdir().unwrap();
        write_tiny_tokenizer(tmp.path()).unwrap();
        let t = TextTokenizer::load(tmp.path(), 64).unwrap();
        assert_eq!((t.vocab_size(), t.pad_id()), (50, 1));
        // " sentence" → Ġs en t en c e with `e n`, `Ġ s`, then `Ġs en`; "X" is unknown.
        let ids = t.ids("a sentence X", Some("that 's?")).unwrap();
        assert_eq!(&ids[..8], [0, 5, 48, 24, 44, 7, 9, 4]);
        assert_eq!(ids[8], 3);
        assert!(ids.iter().all(|&i| i < 50), "{ids:?}");
    }

    #[test]
    fn errors_name_the_key_and_the_path() {
        let tmp = tempfile::tempdir().unwrap();
        let e = format!(
            "{:#}",
            TextTokenizer::load(&tmp.path().join("nope"), 128).unwrap_err()
        );
        assert!(e.contains("data.tokenizer") && e.contains("nope"), "{e}");
        let e = format!("{:#}", TextTokenizer::load(tmp.path(), 128).unwrap_err());
        assert!(e.contains("neither tokenizer.json"), "{e}");
        let bad = tmp.path().join("tokenizer.json");
        std::fs::write(&bad, "{").unwrap();
        let e = format!("{:#}", TextTokenizer::load(tmp.path(), 128).unwrap_err());
        assert!(
            e.contains("data.tokenizer") && e.contains("tokenizer.json"),
            "{e}"
        );
        // No pad token anywhere.
        let v: Vec<(String, u32)> = vocab().into_iter().filter(|(s, _)| s != "<pad>").collect();
        std::fs::write(&bad, roberta_json(&v, &MERGES, false).to_string()).unwrap();
        let e = format!("{:#}", TextTokenizer::load(&bad, 128).unwrap_err());
        assert!(
            e.contains("no padding token") && e.contains("tokenizer.json"),
            "{e}"
        );
    }
}
