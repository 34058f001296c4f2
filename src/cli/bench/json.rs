//! Reading bench.json and peers.json back with errors that name the file and the
//! field (`lengths[2].patterns[0].ms.attention`), so a hand-edited or truncated file
//! says what to fix.

use super::BenchError;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A JSON file, parsed.
pub fn read(path: &Path) -> Result<Value, BenchError> {
    let text = std::fs::read_to_string(path).map_err(|source| BenchError::Read { path: path.to_path_buf(), source })?;
    serde_json::from_str(&text).map_err(|e| BenchError::NotJson { path: path.to_path_buf(), why: e.to_string() })
}

/// A value inside a file, with the path to it for messages.
pub struct Field<'a> {
    file: &'a Path,
    name: String,
    value: &'a Value,
}

impl<'a> Field<'a> {
    pub fn root(file: &'a Path, value: &'a Value) -> Field<'a> {
        Field { file, name: String::new(), value }
    }

    fn error(&self, why: &str) -> BenchError {
        let field = if self.name.is_empty() { "(the top level)".to_string() } else { self.name.clone() };
        BenchError::Field { path: PathBuf::from(self.file), field, why: why.to_string() }
    }

    fn child(&self, name: String, value: &'a Value) -> Field<'a> {
        Field { file: self.file, name, value }
    }

    fn join(&self, key: &str) -> String {
        if self.name.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.name)
        }
    }

    /// Field `key` of this object; an error if it is absent.
    pub fn get(&self, key: &str) -> Result<Field<'a>, BenchError> {
        self.opt(key).ok_or_else(|| self.child(self.join(key), &Value::Null).error("is missing"))
    }

    /// Field `key` of this object, if present and not null.
    pub fn opt(&self, key: &str) -> Option<Field<'a>> {
        match self.value.get(key) {
            None | Some(Value::Null) => None,
            Some(value) => Some(self.child(self.join(key), value)),
        }
    }

    /// Field `key` as a whole number, or `default` where it is absent (files that predate it).
    pub fn usize_or(&self, key: &str, default: usize) -> Result<usize, BenchError> {
        self.opt(key).map_or(Ok(default), |f| f.usize())
    }

    pub fn items(&self) -> Result<Vec<Field<'a>>, BenchError> {
        let items = self.value.as_array().ok_or_else(|| self.error("must be an array"))?;
        Ok(items.iter().enumerate().map(|(i, value)| self.child(format!("{}[{i}]", self.name), value)).collect())
    }

    pub fn str(&self) -> Result<&'a str, BenchError> {
        self.value.as_str().ok_or_else(|| self.error("must be a string"))
    }

    pub fn f64(&self) -> Result<f64, BenchError> {
        self.value.as_f64().ok_or_else(|| self.error("must be a number"))
    }

    pub fn usize(&self) -> Result<usize, BenchError> {
        self.value.as_u64().map(|v| v as usize).ok_or_else(|| self.error("must be a whole number"))
    }

    pub fn numbers(&self) -> Result<Vec<f64>, BenchError> {
        self.items()?.iter().map(Field::f64).collect()
    }
}
