//! The layering the README's "Architecture" section states: every module of `src/` imports
//! only from modules below it (or from itself), so there is no cycle and no upward import.
//! Read from the source text, as a newcomer would check it.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

/// Modules from the bottom up; a module may import from those of a lower rank only.
/// Modules of one rank are independent of each other.
const RANKS: &[(&str, u8)] = &[
    ("bytes", 0),
    ("log", 0),
    ("addr", 1),
    ("event", 2),
    ("blocklist", 2),
    ("parse", 3),
    ("detect", 4),
    ("host", 5),
    ("source", 5),
    ("ban", 5),
    ("print", 5),
    ("metrics", 5),
    ("fleet", 5),
    ("decide", 6),
    ("store", 7),
    ("config", 8),
    ("control", 9),
    ("install", 9),
    ("engine", 10),
    ("cli", 11),
];

fn rank(module: &str) -> Option<u8> {
    RANKS.iter().find(|(m, _)| *m == module).map(|(_, r)| *r)
}

/// The top-level module a file of `src/` belongs to (`src/engine/batch.rs` → `engine`).
fn owner(rel: &Path) -> String {
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_owned()
}

fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every `crate::name` the text mentions.
fn imports(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("crate::") {
        let tail = &rest[at + "crate::".len()..];
        let name: String = tail
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            out.insert(name);
        }
        rest = tail;
    }
    // `use crate::{a, b::c}` names several at once.
    let mut rest = text;
    while let Some(at) = rest.find("use crate::{") {
        let tail = &rest[at + "use crate::{".len()..];
        let end = tail.find("};").unwrap_or(tail.len());
        for part in tail[..end].split(',') {
            let name: String = part
                .trim()
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.insert(name);
            }
        }
        rest = tail;
    }
    out
}

#[test]
fn no_module_imports_from_a_module_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    files(&src, &mut all);
    let mut wrong = Vec::new();
    for path in &all {
        let rel = path.strip_prefix(&src).unwrap();
        let own = owner(rel);
        if matches!(own.as_str(), "lib" | "main") {
            continue;
        }
        let own_rank = rank(&own).unwrap_or_else(|| {
            panic!(
                "{} belongs to `{own}`, which the layering does not place",
                rel.display()
            )
        });
        let text = fs::read_to_string(path).unwrap();
        for name in imports(&text) {
            if name == own {
                continue;
            }
            match rank(&name) {
                Some(r) if r < own_rank => {}
                // Re-exports at the crate root (`crate::Event`) are the vocabulary.
                None if name.chars().next().is_some_and(char::is_uppercase) => {}
                _ => wrong.push(format!("{} ({own}) imports crate::{name}", rel.display())),
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "upward or sideways imports:\n{}",
        wrong.join("\n")
    );
}
