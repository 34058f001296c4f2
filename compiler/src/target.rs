//! GPU targets the code generator and the runtime agree on.

use std::fmt;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Arch {
    /// Ampere (A100): mma.sync, cp.async.
    Sm80,
    /// Hopper with arch-specific features (wgmma, setmaxnreg).
    Sm90a,
}

impl Arch {
    pub const ALL: [Arch; 2] = [Arch::Sm80, Arch::Sm90a];

    pub fn name(self) -> &'static str {
        match self {
            Arch::Sm80 => "sm_80",
            Arch::Sm90a => "sm_90a",
        }
    }

    /// The best target for a device of compute capability `major.minor`, if any.
    pub fn for_compute_capability(major: i32, minor: i32) -> Option<Arch> {
        match (major, minor) {
            (9, 0) => Some(Arch::Sm90a),
            (8, _) | (9, _) | (10..=12, _) => Some(Arch::Sm80),
            _ => None,
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown GPU architecture `{0}`; supported: sm_80, sm_90a")]
pub struct UnknownArch(pub String);

impl FromStr for Arch {
    type Err = UnknownArch;
    fn from_str(s: &str) -> Result<Arch, UnknownArch> {
        Arch::ALL.into_iter().find(|a| a.name() == s).ok_or_else(|| UnknownArch(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_supported_names() {
        assert_eq!("sm_90a".parse::<Arch>(), Ok(Arch::Sm90a));
    }

    #[test]
    fn unknown_name_lists_supported() {
        assert_eq!(
            "sm_70".parse::<Arch>().unwrap_err().to_string(),
            "unknown GPU architecture `sm_70`; supported: sm_80, sm_90a"
        );
    }
}
