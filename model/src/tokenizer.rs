//! `tokenizer.json` through the `tokenizers` crate: text to token ids and back.

use std::path::{Path, PathBuf};
use thiserror::Error;

pub const TOKENIZER_FILE: &str = "tokenizer.json";

#[derive(Debug, Error)]
pub enum TokenizerError {
    #[error("cannot load tokenizer `{}`: {message}", path.display())]
    Load { path: PathBuf, message: String },
    #[error("cannot {action} with tokenizer `{}`: {message}", path.display())]
    Codec { path: PathBuf, action: &'static str, message: String },
}

#[derive(Clone)]
pub struct Tokenizer {
    path: PathBuf,
    inner: tokenizers::Tokenizer,
}

impl Tokenizer {
    pub fn from_file(path: &Path) -> Result<Tokenizer, TokenizerError> {
        let inner = tokenizers::Tokenizer::from_file(path)
            .map_err(|e| TokenizerError::Load { path: path.to_owned(), message: e.to_string() })?;
        Ok(Tokenizer { path: path.to_owned(), inner })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The ids of `text`, with the special tokens (such as a BOS) the tokenizer's post-processor adds.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, TokenizerError> {
        let encoding = self.inner.encode(text, true).map_err(|e| self.codec("encode", e))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// The text of `ids`, special tokens left out.
    pub fn decode(&self, ids: &[u32]) -> Result<String, TokenizerError> {
        self.inner.decode(ids, true).map_err(|e| self.codec("decode", e))
    }

    /// Ids the tokenizer knows, added tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    fn codec(&self, action: &'static str, error: tokenizers::Error) -> TokenizerError {
        TokenizerError::Codec { path: self.path.clone(), action, message: error.to_string() }
    }
}
