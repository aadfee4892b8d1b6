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
