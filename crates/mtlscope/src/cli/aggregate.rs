//! `mtlscope aggregate`: one aggregation of a Jacobian given as JSON, for other tools.
//!
//! Input `{"jacobian": [[...], ...]}` (rows = tasks; `--input -` reads stdin). Output, one JSON
//! object on stdout: `{"method": NAME, "direction": [...], "weights": [...] | null}`.
//! Exit status 2 for an unknown method or a bad `--param` (usage errors, with the known names
//! on stderr), 1 for unreadable or invalid input (saying where), 0 otherwise.

use anyhow::{anyhow, bail, Context, Result};
use mtl_aggregate::{registry, Error, Jacobian};
use serde_json::Value;
use std::io::Read;
use std::process::ExitCode;

/// Arguments of `mtlscope aggregate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Method name (`mtlscope methods` lists them).
    #[arg(long)]
    pub method: String,
    /// A method parameter as `key=value`; repeat for several.
    #[arg(long = "param", value_name = "KEY=VALUE")]
    pub params: Vec<String>,
    /// JSON file holding `{"jacobian": [[...], ...]}`, rows = tasks; `-` reads stdin.
    #[arg(long, value_name = "FILE")]
    pub input: String,
}

/// Runs `mtlscope aggregate`.
pub fn run(args: Args) -> Result<ExitCode> {
    let params = match split_params(&args.params) {
        Ok(p) => p,
        Err(e) => return usage_error(&e.to_string()),
    };
    let mut method = match registry::build(&args.method, &params) {
        Ok(m) => m,
        Err(
            e @ (Error::UnknownMethod { .. } | Error::UnknownParam { .. } | Error::BadParam { .. }),
        ) => return usage_error(&e.to_string()),
        Err(e) => return Err(e.into()),
    };
    let doc = read_json(&args.input)?;
    let rows = matrix_field(&doc, "jacobian").with_context(|| format!("in {}", args.input))?;
    let jacobian = Jacobian::from_rows(&rows).with_context(|| format!("in {}", args.input))?;
    let out = method
        .aggregate(jacobian.view())
        .with_context(|| format!("{} on the jacobian of {}", args.method, args.input))?;
    // Written by hand to keep the documented key order (serde_json's maps sort keys).
    println!(
        "{{\"method\":{},\"direction\":{},\"weights\":{}}}",
        Value::from(args.method.as_str()),
        serde_json::to_string(&out.direction)?,
        serde_json::to_string(&out.weights)?
    );
    Ok(ExitCode::SUCCESS)
}

/// Prints a usage error to stderr and returns exit status 2.
fn usage_error(message: &str) -> Result<ExitCode> {
    eprintln!("error: {message}");
    Ok(ExitCode::from(2))
}

/// `key=value` strings into pairs; the error names the malformed one.
fn split_params(raw: &[String]) -> Result<Vec<(String, String)>> {
    raw.iter()
        .map(|p| {
            p.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .ok_or_else(|| anyhow!("--param `{p}`: expected key=value"))
        })
        .collect()
}

/// Reads and parses a JSON document from `path` (`-` = stdin). Python's `json.dumps` writes
/// `NaN`, `Infinity` and `-Infinity` as bare tokens; they are accepted here (and then rejected
/// by the validation with their position) rather than failing as a syntax error.
pub(crate) fn read_json(path: &str) -> Result<Value> {
    let mut text = String::new();
    if path == "-" {
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading stdin")?;
    } else {
        text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    }
    match serde_json::from_str(&text) {
        Ok(v) => Ok(v),
        Err(first) => serde_json::from_str(&quote_non_finite(&text))
            .map_err(|_| anyhow!("{path}: invalid JSON: {first}")),
    }
}

/// Quotes the bare tokens NaN, Infinity and -Infinity outside strings.
fn quote_non_finite(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut in_string = false;
    let mut escaped = false;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            rest = &rest[c.len_utf8()..];
            continue;
        }
        if c == '"' {
            in_string = true;
        }
        let token = ["-Infinity", "Infinity", "NaN"]
            .into_iter()
            .find(|t| rest.starts_with(t));
        if let Some(t) = token {
            out.push('"');
            out.push_str(t);
            out.push('"');
            rest = &rest[t.len()..];
        } else {
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

/// The array of arrays of numbers under `key`, naming the first entry that is not a number.
pub(crate) fn matrix_field(doc: &Value, key: &str) -> Result<Vec<Vec<f64>>> {
    let rows = doc
        .get(key)
        .ok_or_else(|| anyhow!("no \"{key}\" key at the top level"))?
        .as_array()
        .ok_or_else(|| anyhow!("\"{key}\" must be an array of rows"))?;
    rows.iter()
        .enumerate()
        .map(|(i, row)| {
            let row = row
                .as_array()
                .ok_or_else(|| anyhow!("{key} row {i}: expected an array, got {row}"))?;
            row.iter()
                .enumerate()
                .map(|(k, x)| number(x).with_context(|| format!("{key} row {i}, column {k}")))
                .collect()
        })
        .collect()
}

/// A JSON number, or one of the quoted non-finite tokens.
fn number(x: &Value) -> Result<f64> {
    match x {
        Value::Number(n) => n.as_f64().ok_or_else(|| anyhow!("{n} is not an f64")),
        Value::String(s) if s == "NaN" => Ok(f64::NAN),
        Value::String(s) if s == "Infinity" => Ok(f64::INFINITY),
        Value::String(s) if s == "-Infinity" => Ok(f64::NEG_INFINITY),
        other => bail!("expected a number, got {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_bare_non_finite_tokens_only_outside_strings() {
        let t = r#"{"a": [NaN, -Infinity, Infinity], "b": "NaN \" Infinity"}"#;
        assert_eq!(
            quote_non_finite(t),
            r#"{"a": ["NaN", "-Infinity", "Infinity"], "b": "NaN \" Infinity"}"#
        );
    }

    #[test]
    fn params_must_be_key_value() {
        assert_eq!(
            split_params(&["c = 0.5".into()]).unwrap(),
            vec![("c".to_string(), "0.5".to_string())]
        );
        assert!(split_params(&["c".into()])
            .unwrap_err()
            .to_string()
            .contains("--param `c`"));
    }
}
