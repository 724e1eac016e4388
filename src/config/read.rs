//! Reading the TOML so that every problem of a file is reported at once, each with its key
//! path and line: a key that fails to deserialize is recorded and left out, and the rest is
//! still built.

use std::ops::Range;

use serde::de::{DeserializeOwned, IntoDeserializer};
use toml::Spanned;
use toml::de::{DeArray, DeTable, DeValue};

use super::Problem;

/// serde names Rust types; a sysadmin reads TOML.
pub(super) fn plain(message: &str) -> String {
    message
        .trim_end()
        .replace("expected f64", "expected a number")
        .replace("expected a sequence", "expected a list like [\"a\", \"b\"]")
}

pub(super) fn line_of(text: &str, offset: usize) -> usize {
    let offset = offset.min(text.len());
    memchr::memchr_iter(b'\n', &text.as_bytes()[..offset]).count() + 1
}

/// The span of the value at `key` (`a.b`, `a.b[2]`) in the document.
pub(super) fn span_of(doc: &DeTable<'_>, key: &str) -> Option<Range<usize>> {
    let mut table = doc;
    let mut parts = key.split('.').peekable();
    while let Some(part) = parts.next() {
        let (name, index) = match part.split_once('[') {
            Some((name, idx)) => (name, idx.strip_suffix(']')?.parse::<usize>().ok()),
            None => (part, None),
        };
        let value = table.get(name)?;
        let value = match (index, value.get_ref()) {
            (Some(i), DeValue::Array(items)) => items.get(i)?,
            (Some(_), _) => return None,
            (None, _) => value,
        };
        if parts.peek().is_none() {
            return Some(value.span());
        }
        match value.get_ref() {
            DeValue::Table(t) => table = t,
            _ => return None,
        }
    }
    None
}

/// A path of keys from the document root to one value.
type KeyPath<'i> = Vec<Spanned<toml::de::DeString<'i>>>;

fn key_string(path: &[Spanned<toml::de::DeString<'_>>]) -> String {
    path.iter()
        .map(|k| k.get_ref().as_ref())
        .collect::<Vec<&str>>()
        .join(".")
}

fn try_build<T: DeserializeOwned>(
    doc: DeTable<'_>,
    span: Range<usize>,
) -> Result<T, toml::de::Error> {
    T::deserialize(Spanned::new(span, DeValue::Table(doc)).into_deserializer())
}

/// A document holding only `value` at `path` (with the spans of the original keys).
fn only<'i>(path: &[Spanned<toml::de::DeString<'i>>], value: Spanned<DeValue<'i>>) -> DeTable<'i> {
    let mut value = value;
    for key in path[1..].iter().rev() {
        let mut table = DeTable::new();
        let span = value.span();
        table.insert(key.clone(), value);
        value = Spanned::new(span, DeValue::Table(table));
    }
    let mut root = DeTable::new();
    root.insert(path[0].clone(), value);
    root
}

/// Deserializes `T` from `doc`. Every key that fails is reported as a problem and left out,
/// so one mistake hides no other and the rest still goes through validation. `None` only
/// if `T` cannot be built even then.
pub(super) fn build<T: DeserializeOwned>(
    doc: &Spanned<DeTable<'_>>,
    text: &str,
    problems: &mut Vec<Problem>,
) -> Option<T> {
    if let Ok(config) = try_build::<T>(doc.get_ref().clone(), doc.span()) {
        return Some(config);
    }
    let mut bad = Vec::new();
    find_bad::<T>(doc.get_ref(), &mut Vec::new(), text, problems, &mut bad);
    let mut pruned = doc.get_ref().clone();
    for path in &bad {
        remove(&mut pruned, path);
    }
    match try_build::<T>(pruned, doc.span()) {
        Ok(config) => Some(config),
        Err(e) => {
            problems.push(problem_from(String::new(), &e, text, None));
            None
        }
    }
}

fn problem_from(
    key: String,
    e: &toml::de::Error,
    text: &str,
    fallback: Option<Range<usize>>,
) -> Problem {
    Problem {
        key,
        line: e.span().or(fallback).map(|s| line_of(text, s.start)),
        message: plain(e.message()),
    }
}

fn find_bad<'i, T: DeserializeOwned>(
    table: &DeTable<'i>,
    path: &mut KeyPath<'i>,
    text: &str,
    problems: &mut Vec<Problem>,
    bad: &mut Vec<KeyPath<'i>>,
) {
    for (key, value) in table.iter() {
        path.push(key.clone());
        let span = value.span();
        let attempt = |v: DeValue<'i>| {
            try_build::<T>(only(path, Spanned::new(span.clone(), v)), span.clone())
        };
        if let Err(e) = attempt(value.get_ref().clone()) {
            match value.get_ref() {
                // The table itself is welcome; the trouble is inside it.
                DeValue::Table(inner) if attempt(DeValue::Table(DeTable::new())).is_ok() => {
                    find_bad::<T>(inner, path, text, problems, bad);
                }
                // An array is welcome; report each bad element, and drop the whole array.
                DeValue::Array(items) if attempt(DeValue::Array(DeArray::new())).is_ok() => {
                    for (i, item) in items.iter().enumerate() {
                        let one: DeArray<'i> = std::iter::once(item.clone()).collect();
                        if let Err(e) = attempt(DeValue::Array(one)) {
                            // toml gives the array's span here; the element's is more useful.
                            problems.push(Problem {
                                key: format!("{}[{i}]", key_string(path)),
                                line: Some(line_of(text, item.span().start)),
                                message: plain(e.message()),
                            });
                        }
                    }
                    bad.push(path.clone());
                }
                _ => {
                    // Unknown keys are reported at the key, bad values at the value.
                    let fallback = if e.message().starts_with("unknown field") {
                        key.span()
                    } else {
                        span.clone()
                    };
                    problems.push(problem_from(key_string(path), &e, text, Some(fallback)));
                    bad.push(path.clone());
                }
            }
        }
        path.pop();
    }
}

fn remove(table: &mut DeTable<'_>, path: &[Spanned<toml::de::DeString<'_>>]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut table = table;
    for key in parents {
        match table.get_mut(key.get_ref().as_ref()).map(|v| v.get_mut()) {
            Some(DeValue::Table(t)) => table = t,
            _ => return,
        }
    }
    table.remove(last.get_ref().as_ref());
}
