//! The layering rule of `ARCHITECTURE.md`, checked on the source itself: imports point
//! downward only. This module holds nothing but that test, so that `cargo test` (and with
//! it `scripts/test` and CI) fails the moment a `crate::…` path points up a layer.
//!
//! Layers, top to bottom (a layer may use any layer below it, never one above):
//! `cli` · `web` | `views` (siblings) · `control` · `monitor` · `remote` · `store` ·
//! `pipeline` · `model` (plain shared types, usable by every layer). `web` may name `views`
//! only where it launches the root component (`web/liveview.rs`).

#![cfg(test)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Rank of a top-level module: lower ranks sit higher. `None` for files that are not a layer
/// (`lib.rs`, `main.rs`, this file).
fn rank(layer: &str) -> Option<u8> {
    Some(match layer {
        "cli" => 0,
        "web" | "views" => 1,
        "control" => 2,
        "monitor" => 3,
        "remote" => 4,
        "store" => 5,
        "pipeline" => 6,
        "model" => 7,
        _ => return None,
    })
}

/// The one allowed sideways import: the web server launching the root view.
fn allowed_sideways(file: &Path, from: &str, to: &str) -> bool {
    from == "web" && to == "views" && file.ends_with("web/liveview.rs")
}

/// Lower layers a layer must not reach past its neighbours: views render the hub and send
/// commands (never the store or the remote side: the run states, roles and kinds they show
/// come from `model`); the remote side knows only the pipeline and the model.
fn forbidden_below(from: &str, to: &str) -> bool {
    matches!(
        (from, to),
        ("views", "store" | "remote") | ("remote", "store" | "monitor")
    )
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Source without `//` comments (doc comments included) and string literals, so that a
/// path mentioned in prose or a message is not taken for an import.
fn code_only(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    for line in source.lines() {
        let mut in_str = false;
        let mut prev = '\0';
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            if !in_str && c == '/' && chars.peek() == Some(&'/') {
                break;
            }
            if c == '"' && prev != '\\' {
                in_str = !in_str;
            } else if !in_str {
                out.push(c);
            }
            prev = c;
        }
        out.push('\n');
    }
    out
}

/// Every top-level module named after `crate::`, including the groups of
/// `use crate::{a::X, b::{Y, Z}}`.
fn crate_targets(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        let trimmed = rest.trim_start();
        if let Some(group) = trimmed.strip_prefix('{') {
            // First-level items of the group, up to its matching brace.
            let mut depth = 0usize;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        push_ident(&item, &mut found);
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                if depth == 0 {
                    item.push(c);
                }
            }
            push_ident(&item, &mut found);
        } else {
            push_ident(trimmed, &mut found);
        }
    }
    found
}

fn push_ident(text: &str, found: &mut BTreeSet<String>) {
    let ident: String = text
        .trim_start()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    if !ident.is_empty() && ident != "self" {
        found.insert(ident);
    }
}

#[test]
fn imports_point_down_the_layers_only() {
    // Cargo's run-time value first: a target directory shared between checkouts can keep
    // a test binary whose compile-time value names a checkout that is gone.
    let root = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    let src = root.join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut violations = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap_or(file);
        let layer = relative
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .map(|s| s.trim_end_matches(".rs"))
            .unwrap_or_default();
        let Some(from) = rank(layer) else { continue };
        let source = std::fs::read_to_string(file)
            .unwrap_or_else(|e| panic!("read {}: {e}", file.display()));
        for target in crate_targets(&code_only(&source)) {
            let Some(to) = rank(&target) else { continue };
            let upward = to < from || (to == from && target != layer);
            let entry = format!("{}: {layer} uses crate::{target}", relative.display());
            if (upward && !allowed_sideways(file, layer, &target))
                || forbidden_below(layer, &target)
            {
                violations.push(entry);
            }
        }
    }
    assert!(
        violations.is_empty(),
        "imports that point up the layers (see src/layers.rs and ARCHITECTURE.md):\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_import_scanner_sees_groups_and_paths_but_not_comments() {
    let code = code_only(
        "use crate::{monitor::X, store::{A, B}};\n// crate::web in a comment\nlet s = \"crate::views\";\nfn f() { crate::remote::run(); }\n",
    );
    let found: Vec<_> = crate_targets(&code).into_iter().collect();
    assert_eq!(found, ["monitor", "remote", "store"]);
}
