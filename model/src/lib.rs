//! sparsefill-model: the LLaMA/Qwen2-family executor. Empty until the model issue lands.
