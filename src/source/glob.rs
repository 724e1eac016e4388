//! Expanding a log path pattern (`/var/log/auth.log*`, `/srv/*/sshd.log` is not): `*`,
//! `?` and `[…]` in the last path component only, matched on bytes.
//!
//! Must not: read files or follow anything; it only lists a directory.

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The files and other entries whose name matches the last component of `pattern`, sorted.
/// A pattern without wildcards is returned as it is (it may not exist yet: the follower
/// waits for it). As in a shell, a wildcard does not match a leading `.`. A missing or
/// unreadable directory matches nothing.
pub fn expand_glob(pattern: &Path) -> Vec<PathBuf> {
    let Some(name) = pattern.file_name() else {
        return vec![pattern.to_path_buf()];
    };
    let name = name.as_bytes();
    if !name.iter().any(|b| matches!(b, b'*' | b'?' | b'[')) {
        return vec![pattern.to_path_buf()];
    }
    let dir = match pattern.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| {
            let n = e.file_name();
            let n = n.as_bytes();
            (name.starts_with(b".") || !n.starts_with(b".")) && matches(name, n)
        })
        .map(|e| dir.join(e.file_name()))
        .collect();
    out.sort();
    out
}

/// Whether `text` matches `pat` whole. Iterative with one backtrack point for the last
/// `*`, so a hostile pattern costs at most |pat| × |text|.
fn matches(pat: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pat.len() {
            match pat[p] {
                b'*' => {
                    star = Some((p + 1, t));
                    p += 1;
                    continue;
                }
                b'?' => {
                    p += 1;
                    t += 1;
                    continue;
                }
                b'[' => {
                    if let Some((ok, next)) = class(&pat[p..], text[t]) {
                        if ok {
                            p += next;
                            t += 1;
                            continue;
                        }
                    } else if text[t] == b'[' {
                        // An unclosed `[` is a plain character.
                        p += 1;
                        t += 1;
                        continue;
                    }
                }
                c if c == text[t] => {
                    p += 1;
                    t += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, st)) => {
                p = sp;
                t = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    pat[p..].iter().all(|&c| c == b'*')
}

/// `[…]` at the start of `pat`: whether `c` is in it, and the class's length; None when
/// it is not closed. `!` or `^` first negates; `a-z` is a range; `]` first is literal.
fn class(pat: &[u8], c: u8) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = matches!(pat.get(i), Some(b'!' | b'^'));
    if negate {
        i += 1;
    }
    let mut found = false;
    let mut first = true;
    loop {
        let lo = *pat.get(i)?;
        if lo == b']' && !first {
            return Some((found != negate, i + 1));
        }
        first = false;
        if pat.get(i + 1) == Some(&b'-') && pat.get(i + 2).is_some_and(|&h| h != b']') {
            let hi = pat[i + 2];
            found |= lo <= c && c <= hi;
            i += 3;
        } else {
            found |= lo == c;
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        let yes: &[(&str, &str)] = &[
            ("auth.log*", "auth.log"),
            ("auth.log*", "auth.log.1"),
            ("*.log", "secure.log"),
            ("a?c", "abc"),
            ("[ab]x", "bx"),
            ("[a-c]x", "cx"),
            ("[!a]x", "bx"),
            ("[]]x", "]x"),
            ("x[", "x["),
            ("*a*b*c", "zzazzbzzc"),
        ];
        for (p, t) in yes {
            assert!(matches(p.as_bytes(), t.as_bytes()), "{p} {t}");
        }
        let no: &[(&str, &str)] = &[
            ("auth.log*", "auth.lo"),
            ("*.log", "secure.log.1"),
            ("a?c", "ac"),
            ("[ab]x", "cx"),
            ("[!a]x", "ax"),
            ("*a*b*c", "zzazzbzz"),
        ];
        for (p, t) in no {
            assert!(!matches(p.as_bytes(), t.as_bytes()), "{p} {t}");
        }
        let long = "a".repeat(10_000);
        assert!(!matches(b"*a*a*a*a*a*b", long.as_bytes()));
    }

    #[test]
    fn expands_in_a_directory_sorted_without_hidden_files() {
        let dir = tempfile::tempdir().unwrap();
        for n in ["b.log", "a.log", ".c.log", "d.txt"] {
            fs::write(dir.path().join(n), "").unwrap();
        }
        let got = expand_glob(&dir.path().join("*.log"));
        assert_eq!(got, [dir.path().join("a.log"), dir.path().join("b.log")]);
        let plain = dir.path().join("missing.log");
        assert_eq!(expand_glob(&plain), [plain]);
        assert!(expand_glob(&dir.path().join("nodir").join("*.log")).is_empty());
    }
}
