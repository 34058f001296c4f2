//! `sparsefill generate`: pre-fill a prompt through a Hugging Face checkpoint and generate from it, with
//! pre-fill progress, time to first token and decode throughput on stderr and the text on stdout.

use super::device::{Device, ModelDeviceError};
use super::paths::{check_output, OutputPathError};
use super::CliError;
use clap::Args;
use sparsefill_model::{
    Backend, CpuBackend, Event, FinishReason, GenerateOptions, Generation, LoadOptions, Model, ModelError, Patterns,
    PatternsError, PrefillProgress, Sampler, Sampling, SamplingError, Tokenizer,
};
use sparsefill_patterns::config::{ConfigError as PatternConfigError, ModelConfig as PatternConfig};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// Checkpoint directory in Hugging Face layout: config.json, *.safetensors, tokenizer.json.
    #[arg(long, value_name = "DIR")]
    model: PathBuf,
    /// The prompt text.
    #[arg(long, required_unless_present = "prompt_file", conflicts_with = "prompt_file")]
    prompt: Option<String>,
    /// A file holding the prompt text.
    #[arg(long, value_name = "FILE")]
    prompt_file: Option<PathBuf>,
    /// Per-head sparse-pattern config (ours or MInference's); must match the model's layers and heads.
    #[arg(long, value_name = "CONFIG.json")]
    patterns: Option<PathBuf>,
    /// Prompts shorter than this run dense attention even with --patterns.
    #[arg(long, value_name = "TOKENS", default_value_t = 8192)]
    dense_below: usize,
    #[arg(long, value_name = "N", default_value_t = 32)]
    max_new_tokens: usize,
    #[arg(long, value_enum, default_value_t = Device::Cpu)]
    device: Device,
    /// Sampling temperature; 0 picks the most likely token (greedy).
    #[arg(long, default_value_t = 0.0)]
    temperature: f32,
    /// Nucleus sampling: draw from the most likely tokens whose probabilities add up to this.
    #[arg(long, default_value_t = 1.0)]
    top_p: f32,
    /// Seed of the sampler, so that a sampled run can be repeated.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Also write the prompt's token ids, the last prompt token's logits and the generated tokens to this
    /// JSON file, in scripts/hf_reference.py's keys (compare the two with scripts/compare_hf.py).
    #[arg(long, value_name = "FILE.json")]
    logits_out: Option<PathBuf>,
    /// Time each stage of the pre-fill (norms, projections, RoPE, attention, MLP) and print the table.
    /// The device is synchronized around every stage, so the pre-fill itself runs a little slower.
    #[arg(long)]
    profile: bool,
    /// After generating, time the whole pre-fill of the prompt N more times and print each: the first
    /// pre-fill of a process pays one-time costs (a library's first call of a shape, RoPE's tables), the
    /// repeats show the steady state, as `hf_reference.py --repeat-prefill` does for transformers.
    #[arg(long, value_name = "N", default_value_t = 0)]
    repeat_prefill: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error(transparent)]
    Device(#[from] ModelDeviceError),
    #[error("cannot write --logits-out `{}`: {source}", path.display())]
    LogitsOut { path: PathBuf, source: std::io::Error },
    #[error("cannot read prompt file `{}`: {source}", path.display())]
    PromptFile { path: PathBuf, source: std::io::Error },
    #[error("--patterns: {0}")]
    PatternConfig(#[from] PatternConfigError),
    #[error("--patterns `{}`: {source}", path.display())]
    PatternMismatch { path: PathBuf, source: PatternsError },
    #[error("{0}")]
    Model(#[from] ModelError),
    #[error("cannot write the generated text: {0}")]
    Output(std::io::Error),
    #[error(transparent)]
    OutputPath(#[from] OutputPathError),
}

pub fn run(args: GenerateArgs) -> Result<(), CliError> {
    Ok(execute(&args)?)
}

fn execute(args: &GenerateArgs) -> Result<(), GenerateError> {
    match args.device {
        Device::Cpu => generate_on(CpuBackend, args),
        #[cfg(feature = "gpu")]
        Device::Cuda => generate_on(super::device::cuda_backend()?, args),
        #[cfg(not(feature = "gpu"))]
        Device::Cuda => Err(ModelDeviceError::CudaUnsupported.into()),
    }
}

fn generate_on<B: Backend>(backend: B, args: &GenerateArgs) -> Result<(), GenerateError> {
    if let Some(path) = &args.logits_out {
        let inputs: Vec<&Path> =
            [args.prompt_file.as_deref(), args.patterns.as_deref()].into_iter().flatten().collect();
        check_output("--logits-out", path, &inputs)?;
    }
    // The sampling options are checked before the model loads; --top-p too when greedy ignores it, since a
    // value out of range is a mistake either way.
    let sampling = if args.temperature == 0.0 {
        Sampling::Greedy
    } else {
        Sampling::Random { temperature: args.temperature, top_p: args.top_p, seed: args.seed }
    };
    Sampler::new(sampling).map_err(ModelError::from)?;
    if !(args.top_p > 0.0 && args.top_p <= 1.0) {
        return Err(ModelError::from(SamplingError::TopP(args.top_p)).into());
    }
    let text = match (&args.prompt, &args.prompt_file) {
        (Some(text), _) => text.clone(),
        (None, Some(path)) => {
            std::fs::read_to_string(path).map_err(|source| GenerateError::PromptFile { path: path.clone(), source })?
        }
        // clap requires one of the two.
        (None, None) => String::new(),
    };
    let mut model = Model::load_on(backend, &args.model, &LoadOptions::default())?;
    let patterns = load_patterns(args, &model)?;
    let prompt = model.tokenizer()?.encode(&text).map_err(ModelError::from)?;
    let options = GenerateOptions {
        max_new_tokens: args.max_new_tokens,
        sampling,
        stop_tokens: model.config().eos_token_ids.clone(),
        keep_prompt_logits: args.logits_out.is_some(),
        profile: args.profile,
    };
    eprintln!(
        "prompt: {} tokens, {} layers, device {}",
        prompt.len(),
        model.config().num_layers,
        model.backend().name()
    );
    let mut stream = TextStream::new(model.tokenizer()?.clone(), std::io::stdout());
    let generation = model.generate(&prompt, &patterns, &options, &mut |event| match event {
        Event::Prefill(progress) => show_progress(&progress),
        Event::Token(token) => stream.push(token),
    })?;
    stream.finish()?;
    report(&generation);
    // Compiles on first use are part of the time to first token: say whether there were any.
    if let Some(line) = model.backend().kernel_report() {
        eprintln!("{line}");
    }
    if let Some(stages) = &generation.prefill_stages {
        eprintln!("pre-fill by stage (synchronized around each):\n{stages}");
    }
    for _ in 0..args.repeat_prefill {
        let started = std::time::Instant::now();
        model.prefill(&prompt, &patterns)?;
        eprintln!("pre-fill again: {:.1} ms", started.elapsed().as_secs_f64() * 1e3);
    }
    if let (Some(path), Some(logits)) = (&args.logits_out, &generation.prompt_logits) {
        let record = logits_record(&prompt, logits, &generation.tokens, model.backend().name());
        std::fs::write(path, record.to_string())
            .map_err(|source| GenerateError::LogitsOut { path: path.clone(), source })?;
    }
    Ok(())
}

/// What `--logits-out` writes: scripts/hf_reference.py's keys for the prompt, the last prompt token's logits
/// and the continuation (`greedy_tokens` even when sampled, so that the two files compare key for key).
fn logits_record(prompt: &[u32], logits: &[f32], generated: &[u32], device: &str) -> serde_json::Value {
    serde_json::json!({
        "device": device,
        "prompt_tokens": prompt,
        "last_logits": logits,
        "greedy_tokens": generated,
    })
}

fn load_patterns<B: Backend>(args: &GenerateArgs, model: &Model<B>) -> Result<Patterns, GenerateError> {
    let Some(path) = &args.patterns else { return Ok(Patterns::dense()) };
    let patterns = Patterns::sparse(PatternConfig::load(path)?, args.dense_below);
    patterns.check(model.config()).map_err(|source| GenerateError::PatternMismatch { path: path.clone(), source })?;
    Ok(patterns)
}

fn show_progress(progress: &PrefillProgress) {
    eprint!(
        "\rprefill: layer {}/{}, {} tokens, {:.0} tokens/s",
        progress.layers_done,
        progress.layers,
        progress.tokens,
        progress.tokens_per_second()
    );
    if progress.layers_done == progress.layers {
        eprintln!();
    }
}

/// Prints generated text as it comes. The whole sequence is decoded each time, since a token can complete a
/// character that earlier ones began; text ending in an incomplete character (U+FFFD) waits for the next
/// token, and only what is new since the last write is written.
struct TextStream<W: Write> {
    tokenizer: Tokenizer,
    out: W,
    tokens: Vec<u32>,
    printed: String,
    /// The first failure; generation runs on, but nothing more is printed and the command fails.
    error: Option<GenerateError>,
    /// The reader closed the pipe (`| head`): nothing more is printed, and that is no failure.
    closed: bool,
}

impl<W: Write> TextStream<W> {
    fn new(tokenizer: Tokenizer, out: W) -> TextStream<W> {
        TextStream { tokenizer, out, tokens: Vec::new(), printed: String::new(), error: None, closed: false }
    }

    fn push(&mut self, token: u32) {
        if self.error.is_none() && !self.closed {
            self.tokens.push(token);
            self.error = self.write_new(false).err().and_then(|e| self.unless_closed(e));
        }
    }

    /// `e`, unless it says the reader closed the pipe, which only ends the printing.
    fn unless_closed(&mut self, e: GenerateError) -> Option<GenerateError> {
        match e {
            GenerateError::Output(io) if io.kind() == std::io::ErrorKind::BrokenPipe => {
                self.closed = true;
                None
            }
            other => Some(other),
        }
    }

    fn write_new(&mut self, last: bool) -> Result<(), GenerateError> {
        let text = self.tokenizer.decode(&self.tokens).map_err(ModelError::from)?;
        if !last && text.ends_with(char::REPLACEMENT_CHARACTER) {
            return Ok(());
        }
        // Where the new text departs from what was printed (normally: where the printed text ends).
        let common = self.printed.char_indices().zip(text.char_indices()).find(|((_, a), (_, b))| a != b);
        let from = common.map_or(self.printed.len().min(text.len()), |((i, _), _)| i);
        write!(self.out, "{}", &text[from..]).map_err(GenerateError::Output)?;
        if last {
            writeln!(self.out).map_err(GenerateError::Output)?;
        }
        self.printed = text;
        self.out.flush().map_err(GenerateError::Output)
    }

    fn finish(mut self) -> Result<W, GenerateError> {
        if let Some(error) = self.error.take() {
            return Err(error);
        }
        if !self.closed {
            if let Some(error) = self.write_new(true).err().and_then(|e| self.unless_closed(e)) {
                return Err(error);
            }
        }
        Ok(self.out)
    }
}

fn report(generation: &Generation) {
    let ttft = generation.time_to_first_token.as_secs_f64() * 1e3;
    let prefill_rate = generation.prompt_tokens as f64 / generation.prefill.as_secs_f64().max(1e-9);
    eprintln!(
        "prefill: {} tokens at {prefill_rate:.0} tokens/s; time to first token: {ttft:.1} ms",
        generation.prompt_tokens
    );
    let decoded = generation.tokens.len().saturating_sub(1);
    match generation.decode_tokens_per_second() {
        Some(rate) => eprintln!(
            "decode: {decoded} tokens in {:.1} ms, {rate:.1} tokens/s; stopped at {}",
            generation.decode.as_secs_f64() * 1e3,
            why_stopped(generation.finish)
        ),
        None => eprintln!("decode: no tokens after the first; stopped at {}", why_stopped(generation.finish)),
    }
}

fn why_stopped(finish: FinishReason) -> &'static str {
    match finish {
        FinishReason::Length => "--max-new-tokens",
        FinishReason::Stop => "an end-of-sequence token",
        FinishReason::ContextFull => "the model's maximum positions",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sparsefill_model::synthetic::tokenizer_json;

    fn stream() -> (tempfile::TempDir, TextStream<Vec<u8>>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokenizer.json");
        std::fs::write(&path, tokenizer_json().to_string()).unwrap();
        (dir, TextStream::new(Tokenizer::from_file(&path).unwrap(), Vec::new()))
    }

    /// The synthetic tokenizer's ids 0..=255 are the bytes themselves.
    fn written(bytes: &[u8]) -> String {
        let (_dir, mut stream) = stream();
        bytes.iter().for_each(|&b| stream.push(u32::from(b)));
        String::from_utf8(stream.finish().unwrap()).unwrap()
    }

    #[test]
    fn logits_record_uses_the_hf_reference_keys() {
        let record = logits_record(&[1, 2], &[0.5, -1.0], &[7], "cpu");
        assert_eq!(
            record.to_string(),
            r#"{"device":"cpu","greedy_tokens":[7],"last_logits":[0.5,-1.0],"prompt_tokens":[1,2]}"#
        );
    }

    #[test]
    fn multibyte_characters_are_written_once_complete() {
        assert_eq!(written("né ✓".as_bytes()), "né ✓\n");
    }

    #[test]
    fn text_is_written_as_tokens_arrive() {
        let (_dir, mut stream) = stream();
        b"ab".iter().for_each(|&b| stream.push(u32::from(b)));
        assert_eq!(stream.out, b"ab");
    }

    /// A writer whose reader is gone, or whose disk is full.
    struct Failing(std::io::ErrorKind);

    impl Write for Failing {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(self.0.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn finished_into(kind: std::io::ErrorKind) -> Result<(), String> {
        let (_dir, stream) = stream();
        let mut stream = TextStream::new(stream.tokenizer, Failing(kind));
        b"ab".iter().for_each(|&b| stream.push(u32::from(b)));
        stream.finish().map(|_| ()).map_err(|e| e.to_string())
    }

    #[test]
    fn a_closed_pipe_ends_the_text_without_an_error() {
        assert_eq!(finished_into(std::io::ErrorKind::BrokenPipe), Ok(()));
    }

    #[test]
    fn a_failed_write_fails_the_command() {
        assert_eq!(
            finished_into(std::io::ErrorKind::StorageFull),
            Err("cannot write the generated text: no storage space".into())
        );
    }

    #[test]
    fn an_unfinished_character_is_written_at_the_end() {
        assert_eq!(written(&[b'x', 0xE2, 0x9C]), "x\u{FFFD}\n");
    }
}
