//! Everything loading or running a model can report.

use crate::backend::BackendError;
use crate::checkpoint::CheckpointError;
use crate::config::ConfigError;
use crate::patterns::PatternsError;
use crate::sampling::SamplingError;
use crate::tokenizer::{TokenizerError, TOKENIZER_FILE};
use std::path::PathBuf;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ModelError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
    #[error(transparent)]
    Patterns(#[from] PatternsError),
    #[error(transparent)]
    Sampling(#[from] SamplingError),
    #[error("backend: {0}")]
    Backend(#[from] BackendError),
    #[error("`{}` has no {TOKENIZER_FILE}; text prompts need one", dir.display())]
    NoTokenizer { dir: PathBuf },
    #[error("the prompt is empty; pre-fill needs at least one token")]
    EmptyPrompt,
    #[error("the prompt has {tokens} tokens but the model takes at most {max} (max_position_embeddings)")]
    PromptTooLong { tokens: usize, max: usize },
    #[error("token {token} at position {position} is outside the vocabulary of {vocab} tokens (vocab_size)")]
    TokenOutOfRange { token: u32, position: usize, vocab: usize },
    #[error("decode needs a pre-fill first (or again, after a failed step)")]
    NotPrefilled,
    #[error("the context is full: all {max} positions (max_position_embeddings) are used")]
    ContextFull { max: usize },
}
