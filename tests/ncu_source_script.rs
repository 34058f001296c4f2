//! scripts/ncu_source.py on a small source page laid out as ncu 2025.3 writes it
//! (`--page source --csv --print-source sass`): what each view prints, and each way to fail.

use std::process::{Command, Output, Stdio};

const HEADER: &str = "\"Address\",\"Source\",\"Warp Stall Sampling (All Samples)\",\
\"Warp Stall Sampling (Not-issued Samples)\",\"# Samples\",\"Instructions Executed\",\
\"stall_barrier\",\"stall_long_sb\",\"stall_wait\",\"stall_wait (Not Issued)\"";

/// Four instructions from 0x7f0000001000: a loop of three (its branch back to 0x10) and an
/// exit; 100 samples in all.
const ROWS: [&str; 4] = [
    "\"0x7f0000001000\",\"      MOV R1, c[0x0][0x28]\",\"5\",\"5\",\"5\",\"1,024\",\"0\",\"0\",\"5\",\"5\"",
    "\"0x7f0000001010\",\"      WARPGROUP.DEPBAR.LE gsb0, 0x0\",\"60\",\"60\",\"60\",\"65,536\",\"55\",\"0\",\"5\",\"5\"",
    "\"0x7f0000001020\",\"@!P0  BRA 0x7f0000001010\",\"30\",\"20\",\"30\",\"65,536\",\"0\",\"28\",\"2\",\"2\"",
    "\"0x7f0000001030\",\"      EXIT\",\"5\",\"0\",\"5\",\"1,024\",\"0\",\"0\",\"0\",\"0\"",
];

fn page(header: &str) -> String {
    format!("\"Kernel Name\",\"walk\",\n{header}\n{}\n", ROWS.join("\n"))
}

fn run(text: Option<&str>, args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("source.csv");
    if let Some(text) = text {
        std::fs::write(&path, text).unwrap();
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/ncu_source.py");
    let (command, rest) = args.split_first().expect("a command");
    Command::new("python3").arg(script).arg(command).arg(&path).args(rest).output().expect("python3 runs")
}

/// A reader that stops before the report (`| head`) ends it quietly: exit 0, no traceback.
#[test]
fn a_closed_output_pipe_ends_the_report_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("source.csv");
    std::fs::write(&path, page(HEADER)).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/ncu_source.py");
    let mut child = Command::new("python3")
        .args([script, "hot"])
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    // Closed long before python3 has started and read the page.
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("the script ends");
    assert!(out.status.success() && out.stderr.is_empty(), "{out:?}");
}

fn printed(text: &str, args: &[&str]) -> String {
    let out = run(Some(text), args);
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn refused(text: Option<&str>, args: &[&str]) -> String {
    let out = run(text, args);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn hot_lists_instructions_by_samples_with_offsets_and_reasons() {
    let lines: Vec<String> = printed(&page(HEADER), &["hot", "--top", "2"]).lines().map(str::to_string).collect();
    assert_eq!(lines[0], "100 samples over 4 instructions");
    assert!(
        lines[1].starts_with("    10 60.00% ran 65536 ") && lines[1].ends_with("barrier:55.0% wait:5.0%"),
        "{lines:?}"
    );
    assert!(lines[2].contains("@!P0 BRA 0x10 ") && lines[2].ends_with("long_sb:28.0% wait:2.0%"), "{lines:?}");
    assert_eq!(lines.len(), 3);
}

#[test]
fn regions_sum_samples_and_instructions_between_cuts() {
    let out = printed(&page(HEADER), &["regions", "--cuts", "10,30", "--names", "entry,loop,exit"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "entry   5.0% of samples, 1024 warp instructions; wait:5.0%");
    assert_eq!(lines[1], "loop   90.0% of samples, 131072 warp instructions; barrier:55.0% long_sb:28.0% wait:7.0%");
    assert_eq!(lines[2], "exit    5.0% of samples, 1024 warp instructions");
}

#[test]
fn listing_prints_the_instructions_in_its_range() {
    let out = printed(&page(HEADER), &["listing", "--from", "10", "--to", "20"]);
    let offsets: Vec<&str> = out.lines().map(|l| l.split_whitespace().next().unwrap_or("")).collect();
    assert_eq!(offsets, ["10", "20"]);
}

#[test]
fn a_missing_file_is_named() {
    assert!(refused(None, &["hot"]).contains("cannot read `"), "missing file");
}

#[test]
fn a_page_that_is_not_the_source_page_is_refused() {
    let err = refused(Some("Section: GPU Speed Of Light Throughput\n"), &["hot"]);
    assert!(err.contains("no header row with `Address` and `Source`"), "{err}");
}

#[test]
fn a_page_without_the_executed_counts_names_the_column() {
    let header = HEADER.replace("\"Instructions Executed\"", "\"Thread Instructions\"");
    let err = refused(Some(&page(&header)), &["hot"]);
    assert!(err.contains("lacks the column(s) Instructions Executed"), "{err}");
}

#[test]
fn names_that_do_not_match_the_cuts_are_refused() {
    let err = refused(Some(&page(HEADER)), &["regions", "--cuts", "10", "--names", "one"]);
    assert!(err.contains("1 cuts make 2 ranges, but 1 names were given"), "{err}");
}

#[test]
fn a_cut_that_is_not_hex_is_named() {
    let err = refused(Some(&page(HEADER)), &["regions", "--cuts", "1g", "--names", "a,b"]);
    assert!(err.contains("cut `1g` is not a hex offset"), "{err}");
}

#[test]
fn cuts_out_of_order_are_refused() {
    let err = refused(Some(&page(HEADER)), &["regions", "--cuts", "30,10", "--names", "a,b,c"]);
    assert!(err.contains("the cuts must ascend, each once: 30,10"), "{err}");
}

#[test]
fn a_top_of_zero_is_refused() {
    let err = refused(Some(&page(HEADER)), &["hot", "--top", "0"]);
    assert!(err.contains("--top must be at least 1; got 0"), "{err}");
}

#[test]
fn a_count_that_is_not_a_number_is_named() {
    let text = page(HEADER).replace("\"60\",\"60\",\"60\"", "\"n/a\",\"60\",\"60\"");
    let err = refused(Some(&text), &["hot"]);
    assert!(err.contains("`n/a` is not a count"), "{err}");
}

#[test]
fn a_listing_that_ends_before_it_starts_is_refused() {
    let err = refused(Some(&page(HEADER)), &["listing", "--from", "30", "--to", "10"]);
    assert!(err.contains("--from 30 lies after --to 10"), "{err}");
}
