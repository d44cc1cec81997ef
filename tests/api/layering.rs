//! The dependency rule, read from the source: base modules import no feature, and the order
//! core imports none of the features that subscribe to its hooks.

use std::path::Path;

/// The `crate::…` modules a file names (first path segment), from its `use` lines and inline paths.
fn crate_modules(file: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let mut found: Vec<String> = text
        .match_indices("crate::")
        .map(|(i, _)| {
            text[i + "crate::".len()..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect()
        })
        .collect();
    // `use crate::{a, b::c}` names several.
    for (i, _) in text.match_indices("use crate::{") {
        let rest = &text[i + "use crate::{".len()..];
        let group = &rest[..rest.find("};").unwrap_or(0)];
        let mut depth = 0;
        let mut start = true;
        for c in group.chars() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => start = true,
                c if start && (c.is_ascii_alphanumeric() || c == '_') => {
                    found.push(c.to_string());
                    start = false;
                }
                c if !start && depth == 0 && (c.is_ascii_alphanumeric() || c == '_') => {
                    if let Some(last) = found.last_mut() {
                        last.push(c);
                    }
                }
                _ if !start && depth == 0 => start = true,
                _ => {}
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

fn files(dir: &str) -> Vec<std::path::PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(dir);
    if root.is_file() {
        return vec![root];
    }
    let mut out: Vec<_> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .collect();
    out.sort();
    out
}

const FEATURES: &[&str] = &[
    "catalog",
    "accounts",
    "points",
    "inventory",
    "payments",
    "orders",
    "flash",
    "orgs",
    "coop",
    "credits",
    "donations",
    "invoices",
    "settlement",
    "seed",
    "startup",
    "jobs",
    "app",
];

#[test]
fn base_modules_import_no_feature() {
    for base in ["error.rs", "money.rs", "config.rs", "db", "cache", "mail"] {
        for file in files(base) {
            let bad: Vec<String> =
                crate_modules(&file).into_iter().filter(|m| FEATURES.contains(&m.as_str())).collect();
            assert!(bad.is_empty(), "{} imports {bad:?}", file.display());
        }
    }
}

#[test]
fn the_order_core_imports_none_of_its_subscribers() {
    for core in ["model.rs", "service.rs", "pricing.rs", "hooks.rs", "status.rs"] {
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/orders").join(core);
        let modules = crate_modules(&file);
        for subscriber in ["orgs", "credits", "coop", "donations", "settlement", "startup", "jobs", "app"] {
            assert!(!modules.iter().any(|m| m == subscriber), "orders/{core} imports {subscriber}");
        }
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        assert!(!text.contains("super::mail"), "orders/{core} calls the mail hook directly");
    }
}

#[test]
fn the_rule_reader_sees_imports() {
    let modules = crate_modules(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src/startup.rs"));
    assert!(modules.iter().any(|m| m == "orgs") && modules.iter().any(|m| m == "credits"), "{modules:?}");
}
