//! The shape of the code a newcomer walks: shared/'s modules import only downward (so there is
//! an order in which to learn them), and a route reaches its code in two hops (template.yaml →
//! functions/<name>/src/main.rs → the handler it names).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use shared::handlers::HTTP_HANDLERS;
use shared::routes::ROUTES;

/// shared/'s top-level modules, bottom up. A module may use those of lower layers only; README's
/// "Layout" states the same order.
const LAYERS: &[&[&str]] = &[
    &[
        "crypto", "clock", "report", "routes", "body", "metrics", "aws",
    ],
    &["ids", "retry"],
    &["state"],
    &["domain", "catalogue", "config"],
    &["secrets"],
    &["store", "oauth", "queue", "publish"],
    &["unwired"],
    &["app"],
    &["refresh"],
    &["sync"],
    &["error"],
    &["http"],
    &["rate_limit"],
    &["handlers", "jobs"],
    &["lambda"],
];

/// The crate-root modules a source text names (`crate::x`, `use crate::{x, y::z}`), outside
/// comments and `#[cfg(test)]` modules.
fn crate_modules_used(text: &str) -> BTreeSet<String> {
    let code: String = text
        .split("#[cfg(test)]")
        .next()
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut used = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Names at the group's top level: after `{` and after each `,` at depth 0.
            let mut depth = 0;
            let mut expect_name = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => expect_name = true,
                    c if c.is_whitespace() => {}
                    _ if expect_name && depth == 0 => {
                        used.insert(ident(&group[i..]));
                        expect_name = false;
                    }
                    _ => {}
                }
            }
        } else {
            used.insert(ident(rest));
        }
    }
    used
}

/// Each top-level module of shared/src and the text of all its files (tests/ left out).
fn modules(src: &Path) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let relative = path.strip_prefix(src).unwrap();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "tests") {
                    stack.push(path);
                }
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") || relative == Path::new("lib.rs") {
                continue;
            }
            let first = relative.components().next().unwrap().as_os_str();
            let module = Path::new(first)
                .file_stem()
                .unwrap()
                .to_string_lossy()
                .to_string();
            let text = std::fs::read_to_string(&path).unwrap();
            out.entry(module).or_default().push_str(&text);
        }
    }
    out
}

#[test]
fn shared_modules_import_only_lower_layers() {
    let layer_of: BTreeMap<&str, usize> = LAYERS
        .iter()
        .enumerate()
        .flat_map(|(i, names)| names.iter().map(move |n| (*n, i)))
        .collect();
    let modules = modules(&devstack::repo_root().join("shared/src"));
    let unplaced: Vec<&String> = modules
        .keys()
        .filter(|m| !layer_of.contains_key(m.as_str()))
        .collect();
    assert!(unplaced.is_empty(), "modules not in LAYERS: {unplaced:?}");
    let mut upward = Vec::new();
    for (module, text) in &modules {
        let own = layer_of[module.as_str()];
        for used in crate_modules_used(text) {
            match layer_of.get(used.as_str()) {
                Some(&layer) if layer < own => {}
                Some(_) if used == *module => {}
                Some(_) => upward.push(format!("{module} uses {used}")),
                None => {} // an item of the crate root (`crate::App`), not a module
            }
        }
    }
    assert!(upward.is_empty(), "imports that do not go down: {upward:?}");
}

#[test]
fn the_layer_check_sees_each_form_of_import() {
    let text = "use crate::a::B;\nuse crate::{c::D, e, f::{g, h}};\nlet x = crate::i::j();\n// crate::k\n#[cfg(test)]\nmod tests { use crate::l; }";
    let used: Vec<String> = crate_modules_used(text).into_iter().collect();
    assert_eq!(used, ["a", "c", "e", "f", "i"]);
}

#[test]
fn every_http_function_main_hands_its_own_handler_to_the_runtime() {
    let root = devstack::repo_root();
    let mut served = BTreeSet::new();
    for (function, handler) in HTTP_HANDLERS {
        let main = root.join(format!("functions/{}/src/main.rs", function.name()));
        let text = std::fs::read_to_string(&main).unwrap();
        let runner = match function.builds_aws_clients() {
            true => "run_http",
            false => "run_static_http",
        };
        let call = format!("{runner}(Function::{function:?}, {handler})");
        assert!(
            text.contains(&call),
            "{}: expected `{call}`",
            main.display()
        );
        served.insert(function.name());
    }
    let routed: BTreeSet<&str> = ROUTES.iter().map(|r| r.function.name()).collect();
    assert_eq!(
        served, routed,
        "every routed function has a handler, and only those"
    );
}

#[test]
fn readme_names_each_routes_function_and_handler() {
    let readme = std::fs::read_to_string(devstack::repo_root().join("README.md")).unwrap();
    let handler_of: BTreeMap<&str, &str> =
        HTTP_HANDLERS.iter().map(|(f, h)| (f.name(), *h)).collect();
    for route in ROUTES {
        let row_start = format!("| {} {} |", route.method, route.path);
        let row = readme
            .lines()
            .find(|l| l.starts_with(&row_start))
            .unwrap_or_else(|| panic!("README's HTTP API table has no row `{row_start}`"));
        let function = route.function.name();
        let handler = format!("`handlers::{}`", handler_of[function]);
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        assert!(
            cells.contains(&function) && cells.contains(&handler.as_str()),
            "README row for {} {} should name `{function}` and {handler}: {row}",
            route.method,
            route.path
        );
    }
}

/// Every `*.md` / `*.yaml` a source comment cites is a file of the repository (by its path from
/// the root, or README.md), and a quoted section after it (`docs/architecture.md, "Refresh
/// protocol"`) is one of that file's headings.
#[test]
fn every_document_the_code_cites_is_in_the_repository() {
    let root = devstack::repo_root();
    let mut stack: Vec<std::path::PathBuf> = ["shared/src", "functions", "dev/src", "tests/src"]
        .iter()
        .map(|d| root.join(d))
        .collect();
    let mut missing = Vec::new();
    let mut cited = 0;
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
            let text = std::fs::read_to_string(&path).unwrap();
            for line in text.lines().filter(|l| l.trim_start().starts_with("//")) {
                for word in line.split(|c: char| c.is_whitespace() || "(),`".contains(c)) {
                    let word = word.trim_end_matches(['.', ':', ';', '\'']);
                    if !(word.ends_with(".md") || word.ends_with(".yaml")) {
                        continue;
                    }
                    cited += 1;
                    let file = root.join(word);
                    let Ok(doc) = std::fs::read_to_string(&file) else {
                        missing.push(format!("{}: {word}", path.display()));
                        continue;
                    };
                    let after = line.split(word).nth(1).unwrap_or_default();
                    if let Some(section) =
                        after.strip_prefix(", \"").and_then(|s| s.split('"').next())
                    {
                        let heading = doc
                            .lines()
                            .any(|l| l.starts_with('#') && l.contains(section));
                        if !heading {
                            missing.push(format!("{}: {word}, \"{section}\"", path.display()));
                        }
                    }
                }
            }
        }
    }
    assert!(cited > 10, "the scan found only {cited} citations");
    assert!(
        missing.is_empty(),
        "cited but not in the repository: {missing:#?}"
    );
}
