//! `bench-kernels --only`: which parts run, and the error for an unknown one; `--ab`: the two
//! lowerings it times against each other. The bench
//! binary needs a GPU and has no test harness, so its parser is included here.

#[path = "../benches/common/parts.rs"]
mod parts;

use parts::Parts;

fn check(only: Option<&str>, expected: Result<Parts, String>) {
    assert_eq!(Parts::parse(only), expected, "--only {only:?}");
}

#[test]
fn without_only_every_part_runs() {
    check(None, Ok(Parts { memory: true, gemm: true, attention: true }));
}

#[test]
fn only_attention_runs_attention_alone() {
    check(Some("attention"), Ok(Parts { memory: false, gemm: false, attention: true }));
}

#[test]
fn a_list_with_spaces_runs_each_named_part() {
    check(Some("memory, gemm"), Ok(Parts { memory: true, gemm: true, attention: false }));
}

#[test]
fn an_unknown_part_is_named_with_the_parts() {
    check(Some("gemm,softmax"), Err("--only: unknown part `softmax`; the parts are memory, gemm, attention".into()));
}

#[path = "../benches/common/ab.rs"]
mod ab;

fn side(label: &str, options: &str, tiles: &[(&str, i64)]) -> ab::Side {
    ab::Side {
        label: label.to_string(),
        options: options.parse().expect("test options parse"),
        tiles: tiles.iter().map(|(n, v)| (n.to_string(), *v)).collect(),
        source: None,
    }
}

fn check_ab(given: &str, expected: Result<[ab::Side; 2], &str>) {
    assert_eq!(ab::parse_ab(given), expected.map_err(str::to_string), "--ab {given}");
}

#[test]
fn ab_takes_two_option_lists() {
    check_ab(
        "specialize=early/specialize=producer",
        Ok([
            side("specialize=early", "specialize=early", &[("BM", 128), ("BN", 128)]),
            side("specialize=producer", "specialize=producer", &[("BM", 128), ("BN", 128)]),
        ]),
    );
}

#[test]
fn ab_sides_may_set_tiles_and_options_together() {
    check_ab(
        "BM=128/ BM=64, BN=64,STAGES=3, specialize=early",
        Ok([
            side("BM=128", "", &[("BM", 128), ("BN", 128)]),
            side(
                "BM=64, BN=64,STAGES=3, specialize=early",
                "specialize=early",
                &[("BM", 64), ("BN", 64), ("STAGES", 3)],
            ),
        ]),
    );
}

#[test]
fn ab_an_empty_side_is_the_default() {
    check_ab("/BN=64", Ok([side("", "", &[("BM", 128), ("BN", 128)]), side("BN=64", "", &[("BM", 128), ("BN", 64)])]));
}

#[test]
fn ab_a_side_may_compile_another_source() {
    let edited = ab::Side {
        source: Some("next/attention.tile".into()),
        ..side("source=next/attention.tile", "", &[("BM", 128), ("BN", 128)])
    };
    check_ab("/source=next/attention.tile", Ok([side("", "", &[("BM", 128), ("BN", 128)]), edited]));
}

#[test]
fn ab_a_source_needs_a_path() {
    check_ab("source=/BM=64", Err("--ab `source=`: `source` takes a .tile file's path"));
}

#[test]
fn ab_a_tile_constant_must_be_a_positive_integer() {
    check_ab("BM=64/BN=0", Err("--ab `BN=0`: `BN` takes a positive integer; got `0`"));
}

#[test]
fn ab_a_tile_constant_that_is_not_a_number_is_named() {
    check_ab("BM=sixty/BN=64", Err("--ab `BM=sixty`: `BM` takes a positive integer; got `sixty`"));
}

#[test]
fn ab_without_a_slash_says_what_it_expects() {
    check_ab("specialize=early", Err("--ab `specialize=early`: expected two sides as A/B"));
}

#[test]
fn ab_with_an_unknown_option_names_the_side() {
    check_ab(
        "specialize=early/stages=3",
        Err("--ab `stages=3`: unknown code generation option `stages`; the options are mma, tma, decoupled, pingpong, specialize"),
    );
}

#[test]
fn ab_sources_are_the_shipped_one_unless_a_side_names_a_file() {
    let dir = tempfile::tempdir().expect("scratch directory");
    let file = dir.path().join("next.tile");
    std::fs::write(&file, "kernel attention() {}").expect("write the edited source");
    let sides = ab::parse_ab(&format!("/source={}", file.display())).expect("the sides parse");
    assert_eq!(ab::sources(&sides, "shipped"), Ok(["shipped".to_string(), "kernel attention() {}".to_string()]));
}

#[test]
fn ab_a_missing_source_file_is_named() {
    let sides = ab::parse_ab("source=missing.tile/").expect("the sides parse");
    let message = ab::sources(&sides, "shipped").err().unwrap_or_default();
    assert!(message.starts_with("--ab `source=missing.tile`: cannot read `missing.tile`: "), "{message}");
}

#[test]
fn ab_runs_in_turns_over_every_length_by_default() {
    assert_eq!(ab::AbRuns::parse(None, None, &[8192, 32768]), Ok(ab::AbRuns { sustained_ms: None, len: None }));
}

#[test]
fn ab_sustained_runs_each_side_alone_at_one_length() {
    assert_eq!(
        ab::AbRuns::parse(Some("6000"), Some("32768"), &[8192, 32768]),
        Ok(ab::AbRuns { sustained_ms: Some(6000), len: Some(32768) })
    );
}

#[test]
fn ab_sustained_needs_positive_milliseconds() {
    assert_eq!(
        ab::AbRuns::parse(Some("6s"), None, &[8192]),
        Err("--sustained takes the milliseconds each side runs alone before it is timed; got `6s`".to_string())
    );
}

#[test]
fn ab_len_names_the_lengths_it_takes() {
    assert_eq!(
        ab::AbRuns::parse(None, Some("4096"), &[8192, 32768]),
        Err("--len takes one of the attention lengths, 8192, 32768; got `4096`".to_string())
    );
}

#[path = "../benches/common/clocks.rs"]
mod clocks;

#[test]
fn clocks_are_the_medians_of_the_loaded_samples() {
    let text = "1980, 120.50\n1710, 690.00\n1650, 701.25\n1695, 688.10\n";
    assert_eq!(clocks::loaded_medians(text), Some(clocks::Clocks { mhz: 1695.0, watts: 690.0, samples: 3 }));
}

#[test]
fn clocks_skip_lines_that_do_not_parse() {
    let text = "[N/A], 650.00\n1700, 650.00\n17";
    assert_eq!(clocks::loaded_medians(text), Some(clocks::Clocks { mhz: 1700.0, watts: 650.0, samples: 1 }));
}

#[test]
fn clocks_of_an_idle_card_are_none() {
    assert_eq!(clocks::loaded_medians("1980, 80.00\n1980, 75.00\n"), None);
}

#[test]
fn a_sampler_without_nvidia_smi_gives_none() {
    // CI has no nvidia-smi; where it exists (the GPU machine) an idle card gives no loaded
    // samples either, so this holds on both.
    assert_eq!(clocks::Sampler::start(0).stop(), None);
}
