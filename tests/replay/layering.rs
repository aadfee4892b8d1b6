//! `src/core` is pure: it names no storage, Azure, network or runtime type.

#[test]
fn core_names_no_storage_or_azure_type() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/core");
    let forbidden = [
        "azure",
        "crate::storage",
        "crate::backend",
        "reqwest",
        "tokio",
    ];
    let mut files = 0;
    let mut stack = vec![dir];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            files += 1;
            let text = std::fs::read_to_string(&path).unwrap();
            for word in forbidden {
                assert!(!text.contains(word), "{} mentions `{word}`", path.display());
            }
        }
    }
    assert!(files > 10, "found only {files} files under src/core");
}

/// The source files of a directory (not recursive), by module name.
fn modules(dir: &str) -> Vec<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut out: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    out.sort();
    out
}

/// Code lines only: comments and doc comments dropped.
fn code(text: &str) -> String {
    text.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_worker_reaches_storage_only_through_the_seam() {
    let files = modules("src/worker");
    assert!(files.len() > 10, "found only {} worker files", files.len());
    for (name, text) in &files {
        let code = code(text);
        for word in [
            "crate::storage",
            "TaskHub",
            "azure",
            ".storage()",
            "history()",
            "instances()",
        ] {
            assert!(!code.contains(word), "src/worker/{name}.rs uses `{word}`");
        }
    }
}

#[test]
fn the_worker_modules_import_no_circle() {
    let files = modules("src/worker");
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    // Edges: `super::other` in a module's code (mod.rs wires everything and is left out).
    let edges: Vec<(usize, usize)> = files
        .iter()
        .enumerate()
        .filter(|(_, (n, _))| n != "mod")
        .flat_map(|(i, (_, text))| {
            let code = code(text);
            names
                .iter()
                .enumerate()
                .filter(|(j, other)| {
                    *j != i && **other != "mod" && code.contains(&format!("super::{other}"))
                })
                .map(|(j, _)| (i, j))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(edges.len() > 10, "found only {} imports", edges.len());
    // Depth-first search for a cycle.
    fn visit(n: usize, edges: &[(usize, usize)], state: &mut [u8], path: &mut Vec<usize>) -> bool {
        state[n] = 1;
        path.push(n);
        for &(_, m) in edges.iter().filter(|(a, _)| *a == n) {
            if state[m] == 1 || (state[m] == 0 && visit(m, edges, state, path)) {
                path.push(m);
                return true;
            }
        }
        path.pop();
        state[n] = 2;
        false
    }
    let mut state = vec![0u8; names.len()];
    for n in 0..names.len() {
        let mut path = Vec::new();
        if state[n] == 0 && visit(n, &edges, &mut state, &mut path) {
            let cycle: Vec<&str> = path.iter().map(|i| names[*i]).collect();
            panic!("import circle in src/worker: {}", cycle.join(" -> "));
        }
    }
}
