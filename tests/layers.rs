//! The layering of `src/` (ARCHITECTURE.md, "Codemap"): no module imports one that imports it
//! back, and each layer uses only the layers below it. Read from the sources: every
//! `crate::…` and `super::…` path outside `#[cfg(test)]` modules is an import.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The layers, bottom up. The shared modules (`error`, `sync`, `rng`, `progress`) and the command line
/// (`cli`, in the binary) stand outside them.
const LAYERS: [&str; 5] = ["model", "storage", "projection", "ledger", "tools"];

/// Crates a layer must not use.
const FORBIDDEN_CRATES: [(&str, &[&str]); 3] = [
    ("model", &["tokio", "memmap2"]),
    ("storage", &["tokio"]),
    ("projection", &["tokio", "memmap2"]),
];

/// Module path (`storage::reader`, `` for the root) → source text without test modules.
fn modules(src: &Path) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(src).unwrap().with_extension("");
            let mut parts: Vec<String> = relative
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            if matches!(
                parts.last().map(String::as_str),
                Some("mod" | "lib" | "main")
            ) {
                parts.pop();
            }
            let text = std::fs::read_to_string(&path).unwrap();
            found.insert(parts.join("::"), without_test_modules(&text));
        }
    }
    found
}

/// The text with every `#[cfg(test)] mod … { … }` and every comment removed.
fn without_test_modules(text: &str) -> String {
    let mut kept = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let code = line.split("//").next().unwrap_or("");
        if line.trim() == "#[cfg(test)]"
            && lines
                .peek()
                .is_some_and(|next| next.trim_start().starts_with("mod ") && next.contains('{'))
        {
            let mut depth = 0i64;
            for inner in lines.by_ref() {
                let inner = inner.split("//").next().unwrap_or("");
                depth += inner.matches('{').count() as i64 - inner.matches('}').count() as i64;
                if depth <= 0 {
                    break;
                }
            }
            continue;
        }
        kept.push_str(code);
        kept.push('\n');
    }
    kept
}

/// The modules `module` imports: the longest known module prefix of each `crate::` or
/// `super::` path, and of each item of a `{…}` group that follows one.
fn imports(module: &str, text: &str, known: &BTreeSet<String>) -> BTreeSet<String> {
    let here: Vec<&str> = if module.is_empty() {
        vec![]
    } else {
        module.split("::").collect()
    };
    let mut targets = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find(['c', 's']) {
        let tail = &rest[at..];
        let boundary = at == 0 || !rest[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_');
        let base: Option<(Vec<&str>, &str)> = if !boundary {
            None
        } else if let Some(after) = tail.strip_prefix("crate::") {
            Some((vec![], after))
        } else if tail.starts_with("super::") {
            let mut base = here.clone();
            let mut after = tail;
            while let Some(next) = after.strip_prefix("super::") {
                base.pop();
                after = next;
            }
            Some((base, after))
        } else {
            None
        };
        let Some((base, after)) = base else {
            rest = &rest[at + 1..];
            continue;
        };
        let path: String = after
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        let mut paths = vec![path.trim_end_matches(':').to_string()];
        if path.ends_with("::") && after[path.len()..].starts_with('{') {
            let group = &after[path.len() + 1..];
            let group = &group[..group.find('}').unwrap_or(group.len())];
            for item in group.split(',') {
                let item = item.trim().split(" as ").next().unwrap_or("").trim();
                if !item.is_empty() && item != "self" {
                    paths.push(format!("{path}{item}"));
                }
            }
        }
        for path in paths {
            let mut candidate = base.iter().map(|s| s.to_string()).collect::<Vec<_>>();
            let mut best = None;
            for segment in path.split("::").filter(|s| !s.is_empty()) {
                candidate.push(segment.to_string());
                let name = candidate.join("::");
                if known.contains(&name) {
                    best = Some(name);
                } else {
                    break;
                }
            }
            if let Some(target) = best {
                let is_ancestor = module == target || module.starts_with(&format!("{target}::"));
                if !is_ancestor {
                    targets.insert(target);
                }
            }
        }
        rest = &rest[at + 1..];
    }
    targets
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let modules = modules(&src);
    let known: BTreeSet<String> = modules.keys().cloned().collect();
    modules
        .iter()
        .map(|(module, text)| (module.clone(), imports(module, text, &known)))
        .collect()
}

fn layer_of(module: &str) -> Option<usize> {
    let top = module.split("::").next()?;
    LAYERS.iter().position(|layer| *layer == top)
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let graph = graph();
    // Every module that reaches itself through its imports lies on a cycle.
    let mut on_cycles = vec![];
    for start in graph.keys() {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<&String> = graph[start].iter().collect();
        while let Some(module) = stack.pop() {
            if module == start {
                on_cycles.push(format!("{start} -> {:?}", graph[start]));
                break;
            }
            if seen.insert(module) {
                stack.extend(graph.get(module).into_iter().flatten());
            }
        }
    }
    assert!(
        on_cycles.is_empty(),
        "import cycles through: {on_cycles:#?}"
    );
}

#[test]
fn each_layer_uses_only_the_layers_below_it() {
    let graph = graph();
    let mut wrong = vec![];
    for (module, targets) in &graph {
        let Some(layer) = layer_of(module) else {
            continue;
        };
        for target in targets {
            if layer_of(target).is_some_and(|t| t > layer) {
                wrong.push(format!("{module} imports {target}"));
            }
        }
    }
    assert!(wrong.is_empty(), "imports of a higher layer: {wrong:#?}");
}

#[test]
fn the_lower_layers_use_neither_an_async_runtime_nor_mappings_they_do_not_own() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut wrong = vec![];
    for (module, text) in modules(&src) {
        let top = module.split("::").next().unwrap_or("");
        for (layer, crates) in FORBIDDEN_CRATES {
            if top != layer {
                continue;
            }
            for krate in crates {
                if text.contains(&format!("{krate}::")) {
                    wrong.push(format!("{module} uses {krate}"));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// The checks above must see imports at all: a sample of known edges.
#[test]
fn the_import_graph_sees_known_imports() {
    let graph = graph();
    for (from, to) in [
        ("storage::reader", "storage::scan"),
        ("storage::journal", "storage::writer"),
        ("ledger", "projection"),
        ("model::interchange", "model::contract"),
        ("storage::layout", "storage::folder"),
    ] {
        assert!(
            graph[from].contains(to),
            "{from} -> {to} not seen: {:?}",
            graph[from]
        );
    }
}
