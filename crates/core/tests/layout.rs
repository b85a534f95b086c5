//! The core's layout holds: every top-level module imports only modules of lower layers (the rule and the
//! reasons are in `docs/design/0009-layout.md`), so there is no import cycle and each feature reads alone.
//! Names the crate root re-exports (`crate::Directory`, `crate::Caller`, …) count as their modules.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The core's top-level modules, lowest layer first. A module may import the modules before it, never
/// those after it; a new module joins this list where it belongs.
const LAYERS: &[&str] = &[
    "kernel",
    "filter",
    "store",
    "schema",
    "rules",
    "query",
    "auth",
    "credentials",
    "directory",
    "changelog",
    "outbox",
    "users",
    "authentication_methods",
    "contacts",
    "groups",
    "role_management",
    "applications",
    "tenants",
    "deleted",
    "membership",
    "licensing",
    "conditional_access",
    "sign_in",
    "invitations",
    "sharing",
    "scim",
    "provisioning",
    "directory_audits",
    "processors",
];

/// What the crate root re-exports, by the module it comes from.
const ROOT_NAMES: &[(&str, &str)] = &[
    ("Caller", "auth"),
    ("Directory", "directory"),
    ("DirectoryConfig", "directory"),
    ("Clock", "kernel"),
    ("SystemClock", "kernel"),
    ("Error", "kernel"),
    ("ErrorKind", "kernel"),
    ("Result", "kernel"),
];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("the source folder reads") {
        let path = entry.expect("a folder entry reads").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules a source file names through `crate::`, outside its inline tests.
fn imports(code: &str) -> Vec<String> {
    let code = code.split("#[cfg(test)]").next().unwrap_or_default();
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(list) = rest.strip_prefix('{') {
            // `use crate::{a::B, C, d}`: every first segment of the list, nested lists skipped.
            let (mut depth, mut item) = (0, String::new());
            for c in list.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => out.push(std::mem::take(&mut item)),
                    _ if depth == 0 => item.push(c),
                    _ => {}
                }
            }
            out.push(item);
        } else {
            out.push(rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect());
        }
    }
    out.iter()
        .map(|item| item.trim().split("::").next().unwrap_or_default().trim().to_owned())
        .filter(|name| !name.is_empty())
        .map(|name| ROOT_NAMES.iter().find(|(n, _)| *n == name).map_or(name, |(_, module)| (*module).to_owned()))
        .collect()
}

#[test]
fn modules_import_only_lower_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let rank: BTreeMap<&str, usize> = LAYERS.iter().enumerate().map(|(i, m)| (*m, i)).collect();
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut wrong = Vec::new();
    for file in files {
        let relative = file.strip_prefix(&src).expect("under src");
        let top = relative
            .components()
            .next()
            .expect("a path has a first component")
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_owned();
        if top == "lib" {
            continue;
        }
        let Some(&own) = rank.get(top.as_str()) else {
            wrong.push(format!("{}: module `{top}` has no place in LAYERS", relative.display()));
            continue;
        };
        for module in imports(&std::fs::read_to_string(&file).expect("a source file reads")) {
            match rank.get(module.as_str()) {
                Some(&other) if other > own => {
                    wrong.push(format!("{}: `{top}` imports `{module}`, a higher layer", relative.display()))
                }
                _ => {}
            }
        }
    }
    wrong.sort();
    wrong.dedup();
    assert!(wrong.is_empty(), "imports against the layout:\n{}", wrong.join("\n"));
}

/// The modules whose use cases are a service on the directory's context: on `Directory` itself they may
/// define only the accessor of their service (`pub fn users(&self) -> Users<'_>`), so the context does not
/// grow back into one type that carries every feature.
const FEATURES: &[&str] = &[
    "outbox",
    "users",
    "authentication_methods",
    "contacts",
    "groups",
    "role_management",
    "applications",
    "tenants",
    "deleted",
    "membership",
    "licensing",
    "conditional_access",
    "sign_in",
    "invitations",
    "sharing",
    "scim",
    "provisioning",
    "directory_audits",
];

/// The functions each `impl Directory` block of the code defines, by their first line.
fn directory_functions(code: &str) -> Vec<Vec<String>> {
    let code = code.split("#[cfg(test)]").next().unwrap_or_default();
    let mut blocks = Vec::new();
    let mut lines = code.lines();
    while let Some(line) = lines.next() {
        if line != "impl Directory {" {
            continue;
        }
        let block = lines.by_ref().take_while(|l| *l != "}");
        blocks.push(block.filter(|l| l.trim_start().contains("fn ")).map(|l| l.trim().to_owned()).collect());
    }
    blocks
}

#[test]
fn features_extend_the_context_only_with_their_service() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut wrong = Vec::new();
    for file in files {
        let relative = file.strip_prefix(&src).expect("under src");
        let top = relative.components().next().expect("a path has a first component").as_os_str();
        if !FEATURES.contains(&top.to_string_lossy().trim_end_matches(".rs")) {
            continue;
        }
        let code = std::fs::read_to_string(&file).expect("a source file reads");
        for functions in directory_functions(&code) {
            let accessor = |f: &String| f.starts_with("pub fn ") && f.contains("(&self) -> ") && f.ends_with("<'_> {");
            if functions.len() != 1 || !functions.iter().all(accessor) {
                wrong.push(format!("{}: impl Directory defines {functions:?}", relative.display()));
            }
        }
    }
    assert!(wrong.is_empty(), "use cases belong on the feature's service:\n{}", wrong.join("\n"));
}

#[test]
fn the_service_reader_finds_each_block() {
    let code = "impl Directory {\n    pub fn users(&self) -> Users<'_> {\n        Users { directory: self }\n    }\n}\n\nimpl Directory {\n    pub async fn create_user(&self) {}\n}\n";
    assert_eq!(
        directory_functions(code),
        [vec!["pub fn users(&self) -> Users<'_> {".to_owned()], vec!["pub async fn create_user(&self) {}".to_owned()]]
    );
}

#[test]
fn the_import_reader_sees_lists_and_root_names() {
    let code = "use crate::{query::{Filter, Op}, store::Write, Directory};\nfn f() { crate::groups::x(); }";
    assert_eq!(imports(code), ["query", "store", "directory", "groups"]);
    assert_eq!(imports("#[cfg(test)]\nmod tests { use crate::licensing; }"), Vec::<String>::new());
}
