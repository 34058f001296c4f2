//! Checks on the files a command will write, made before the work that produces them, so that a bad
//! path fails in a moment rather than after minutes of compute, and an output never replaces an input.

use std::path::{Path, PathBuf};

/// Why `flag`'s path cannot be written.
#[derive(Debug, thiserror::Error)]
#[error("{flag} `{}`: {why}", path.display())]
pub struct OutputPathError {
    pub flag: &'static str,
    pub path: PathBuf,
    pub why: String,
}

/// `path` can be created or replaced as a file: it is not a directory, and its directory exists.
pub fn check_writable(flag: &'static str, path: &Path) -> Result<(), OutputPathError> {
    let bad = |why: String| OutputPathError { flag, path: path.to_owned(), why };
    if path.is_dir() {
        return Err(bad("is a directory".into()));
    }
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !parent.is_dir() {
        return Err(bad(format!("its directory `{}` does not exist", parent.display())));
    }
    Ok(())
}

/// `output` (`flag`'s path) is writable and is none of the files `inputs` name (through any other
/// spelling of the path or a link), which writing it would destroy.
pub fn check_output(flag: &'static str, output: &Path, inputs: &[&Path]) -> Result<(), OutputPathError> {
    check_writable(flag, output)?;
    if let Some(input) = inputs.iter().find(|input| same_file(output, input)) {
        let why = format!("is the input `{}`; writing it would replace what is read", input.display());
        return Err(OutputPathError { flag, path: output.to_owned(), why });
    }
    Ok(())
}

/// Whether two paths name one file, existing or to be created: each resolved through its directory.
pub fn same_file(a: &Path, b: &Path) -> bool {
    match (resolved(a), resolved(b)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// `path` with links and `.`/`..` resolved, or, for a file not yet created, its resolved directory joined
/// with its name.
fn resolved(path: &Path) -> Option<PathBuf> {
    if let Ok(full) = path.canonicalize() {
        return Some(full);
    }
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    Some(parent.canonicalize().ok()?.join(path.file_name()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sparsefill-paths-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_directory_is_not_writable_as_a_file() {
        let dir = scratch("dir");
        let err = check_writable("--output", &dir).unwrap_err();
        assert_eq!(err.why, "is a directory");
    }

    #[test]
    fn a_missing_directory_is_named() {
        let err = check_writable("--output", Path::new("/nonexistent-sparsefill/o.json")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--output `/nonexistent-sparsefill/o.json`: its directory `/nonexistent-sparsefill` does not exist"
        );
    }

    #[test]
    fn a_new_file_in_the_current_directory_is_writable() {
        assert!(check_writable("--output", Path::new("not-yet-written.json")).is_ok());
    }

    #[test]
    fn the_input_under_another_spelling_is_refused_as_output() {
        let dir = scratch("same");
        let input = dir.join("x.safetensors");
        std::fs::write(&input, b"data").unwrap();
        let other = dir.join(".").join("x.safetensors");
        let err = check_output("--output", &other, &[&input]).unwrap_err();
        assert!(err.why.starts_with("is the input"), "{err}");
    }

    #[test]
    fn two_spellings_of_a_file_not_yet_written_are_one_file() {
        let dir = scratch("new");
        assert!(same_file(&dir.join("r.json"), &dir.join(".").join("r.json")));
    }

    #[test]
    fn a_distinct_existing_file_may_be_replaced() {
        let dir = scratch("distinct");
        let (input, output) = (dir.join("in"), dir.join("out"));
        std::fs::write(&input, b"a").unwrap();
        std::fs::write(&output, b"b").unwrap();
        assert!(check_output("--output", &output, &[&input]).is_ok());
    }
}
