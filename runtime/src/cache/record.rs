//! Payload encodings of the two entry kinds. Both start with the entry's key, so a
//! file copied or renamed to another key's name is rejected instead of loaded.
//!
//! ```text
//! PTX:   key | entry | threads u32 | shared_bytes u32 | ptx | llvm_ir | maps u32 | map*
//! map:   param u32 | rank u32 | box u32 * rank
//! cubin: key | cubin image
//! ```
//!
//! Strings and byte strings are a u64 length and the bytes; integers are little-endian.

use sparsefill_compiler::abi::TensorMap;
use sparsefill_compiler::codegen::PtxModule;

use super::disk::Corruption;

pub fn encode_ptx(key: &str, module: &PtxModule) -> Vec<u8> {
    let mut out = Vec::new();
    put_bytes(&mut out, key.as_bytes());
    put_bytes(&mut out, module.entry.as_bytes());
    out.extend_from_slice(&module.threads.to_le_bytes());
    out.extend_from_slice(&module.shared_bytes.to_le_bytes());
    put_bytes(&mut out, module.ptx.as_bytes());
    put_bytes(&mut out, module.llvm_ir.as_bytes());
    put_u32(&mut out, module.tensor_maps.len());
    for map in &module.tensor_maps {
        put_u32(&mut out, map.param);
        put_u32(&mut out, map.box_dims.len());
        for &side in &map.box_dims {
            out.extend_from_slice(&side.to_le_bytes());
        }
    }
    out
}

/// Counts and indices are far below 2^32 (a kernel's parameters, a tensor's rank);
/// saturating keeps the encoder total, and a saturated count fails to decode.
fn put_u32(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes());
}

pub fn decode_ptx(key: &str, payload: &[u8]) -> Result<PtxModule, Corruption> {
    let mut r = Reader(payload);
    r.expect_key(key)?;
    let entry = r.string()?;
    let threads = r.u32()?;
    let shared_bytes = r.u32()?;
    let ptx = r.string()?;
    let llvm_ir = r.string()?;
    let maps = r.u32()?;
    let mut tensor_maps = Vec::new();
    for _ in 0..maps {
        let param = r.u32()? as usize;
        let rank = r.u32()?;
        let box_dims = (0..rank).map(|_| r.u32()).collect::<Result<_, _>>()?;
        tensor_maps.push(TensorMap { param, box_dims });
    }
    r.finish()?;
    Ok(PtxModule { ptx, llvm_ir, entry, threads, shared_bytes, tensor_maps })
}

pub fn encode_cubin(key: &str, cubin: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(cubin.len() + key.len() + 16);
    put_bytes(&mut out, key.as_bytes());
    put_bytes(&mut out, cubin);
    out
}

pub fn decode_cubin(key: &str, payload: &[u8]) -> Result<Vec<u8>, Corruption> {
    let mut r = Reader(payload);
    r.expect_key(key)?;
    let cubin = r.bytes()?.to_vec();
    r.finish()?;
    Ok(cubin)
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// Reads fields off the front of a payload; every read is bounds-checked.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Corruption> {
        if n > self.0.len() {
            return Err(Corruption::Malformed("a field runs past the end of the payload"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u32(&mut self) -> Result<u32, Corruption> {
        let mut word = [0u8; 4];
        word.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(word))
    }

    fn bytes(&mut self) -> Result<&'a [u8], Corruption> {
        let mut word = [0u8; 8];
        word.copy_from_slice(self.take(8)?);
        let len = usize::try_from(u64::from_le_bytes(word))
            .map_err(|_| Corruption::Malformed("a field length exceeds the address space"))?;
        self.take(len)
    }

    fn string(&mut self) -> Result<String, Corruption> {
        let bytes = self.bytes()?;
        String::from_utf8(bytes.to_vec()).map_err(|_| Corruption::Malformed("a text field is not UTF-8"))
    }

    fn expect_key(&mut self, key: &str) -> Result<(), Corruption> {
        let found = self.string()?;
        if found != key {
            return Err(Corruption::KeyMismatch { found });
        }
        Ok(())
    }

    fn finish(&self) -> Result<(), Corruption> {
        if !self.0.is_empty() {
            return Err(Corruption::Malformed("bytes left over after the last field"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module() -> PtxModule {
        PtxModule {
            ptx: ".version 8.0\n.target sm_90a".into(),
            llvm_ir: "define void @k()".into(),
            entry: "k".into(),
            threads: 128,
            shared_bytes: 4096,
            tensor_maps: vec![TensorMap { param: 1, box_dims: vec![1, 128, 64] }],
        }
    }

    #[test]
    fn ptx_round_trips() {
        assert_eq!(decode_ptx("key", &encode_ptx("key", &module())), Ok(module()));
    }

    #[test]
    fn ptx_under_another_key_is_rejected() {
        assert_eq!(
            decode_ptx("other", &encode_ptx("key", &module())),
            Err(Corruption::KeyMismatch { found: "key".into() })
        );
    }

    #[test]
    fn short_ptx_payload_is_malformed() {
        let payload = encode_ptx("key", &module());
        assert_eq!(
            decode_ptx("key", &payload[..payload.len() - 1]),
            Err(Corruption::Malformed("a field runs past the end of the payload"))
        );
    }

    #[test]
    fn trailing_bytes_are_malformed() {
        let mut payload = encode_cubin("key", b"\x7fELF");
        payload.push(0);
        assert_eq!(decode_cubin("key", &payload), Err(Corruption::Malformed("bytes left over after the last field")));
    }

    #[test]
    fn cubin_round_trips() {
        assert_eq!(decode_cubin("key", &encode_cubin("key", b"\x7fELF\x00\x01")), Ok(b"\x7fELF\x00\x01".to_vec()));
    }

    #[test]
    fn absurd_length_is_malformed_not_a_panic() {
        let mut payload = vec![0xFF; 8];
        payload.extend_from_slice(b"key");
        assert!(matches!(decode_cubin("key", &payload), Err(Corruption::Malformed(_))));
    }
}
