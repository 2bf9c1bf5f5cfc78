//! The data checked out beside the repository (`../shared`: corpora, the peers' bench
//! inputs), found from the tests and benchmarks of `drivers` and `gateway`, and read at
//! run time so that a clone without it still builds. A clone elsewhere on the same
//! machine finds it at `/work/shared`. Included by path (`#[path = ...] mod`), since
//! those targets live in different crates.

#![allow(dead_code)] // each includer uses its own part

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// `../shared/<rel>` (a file or a folder), or panics naming it.
pub fn shared_path(rel: &str) -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    [here.join("../../shared"), PathBuf::from("/work/shared")]
        .iter()
        .map(|dir| dir.join(rel))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("../shared/{rel} is checked out beside the repository"))
}

/// The text of `../shared/<rel>`, read once per process.
pub fn shared_file(rel: &str) -> &'static str {
    static FILES: OnceLock<Mutex<HashMap<String, &'static str>>> = OnceLock::new();
    let mut files = FILES
        .get_or_init(Mutex::default)
        .lock()
        .expect("no reader panics while holding the lock");
    files.entry(rel.to_string()).or_insert_with(|| {
        let path = shared_path(rel);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        // Test and benchmark data, read once and kept for the process's life.
        Box::leak(text.into_boxed_str())
    })
}
