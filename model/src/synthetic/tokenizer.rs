//! A small byte-level BPE `tokenizer.json`: the 256 bytes (GPT-2's byte-to-character map), three merges and
//! BOS/EOS, with a post-processor that puts BOS first. Any text encodes, and decodes back unchanged.

use serde_json::{json, Map, Value};

pub const BOS: &str = "<s>";
pub const EOS: &str = "</s>";

/// The merges beyond the bytes, in priority order; each result takes the next id after the bytes.
const MERGES: [(&str, &str); 3] = [("t", "h"), ("th", "e"), ("Ġ", "the")];

/// Ids of BOS and EOS: after the bytes and the merges.
pub const BOS_ID: u32 = 256 + MERGES.len() as u32;
pub const EOS_ID: u32 = BOS_ID + 1;

/// Token ids the tokenizer uses: the model's vocabulary must be at least this large.
pub const VOCAB: usize = EOS_ID as usize + 1;

/// GPT-2's printable stand-in for each byte: printable Latin-1 bytes stand for themselves, the rest are
/// shifted past 255 in order.
fn byte_char(byte: u8) -> char {
    let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
    if printable(byte) {
        return char::from(byte);
    }
    let shifted = (0..byte).filter(|&b| !printable(b)).count() as u32;
    char::from_u32(256 + shifted).unwrap_or(char::REPLACEMENT_CHARACTER)
}

fn special(id: u32, content: &str) -> Value {
    json!({"id": id, "content": content, "single_word": false, "lstrip": false, "rstrip": false,
           "normalized": false, "special": true})
}

pub fn tokenizer_json() -> Value {
    let mut vocab = Map::new();
    for byte in 0..=255u8 {
        vocab.insert(byte_char(byte).to_string(), json!(byte));
    }
    for (i, (a, b)) in MERGES.iter().enumerate() {
        vocab.insert(format!("{a}{b}"), json!(256 + i));
    }
    vocab.insert(BOS.into(), json!(BOS_ID));
    vocab.insert(EOS.into(), json!(EOS_ID));
    let byte_level = json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true});
    json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": [special(BOS_ID, BOS), special(EOS_ID, EOS)],
        "normalizer": null,
        "pre_tokenizer": byte_level,
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": BOS, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": BOS, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {BOS: {"id": BOS, "ids": [BOS_ID], "tokens": [BOS]}}
        },
        "decoder": byte_level,
        "model": {
            "type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
            "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
            "vocab": vocab,
            "merges": MERGES.iter().map(|(a, b)| json!([a, b])).collect::<Vec<_>>()
        }
    })
}
