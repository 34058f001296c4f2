//! scripts/sass_loops.py on a small listing laid out as `cuobjdump -sass` prints it: the
//! loops it finds, and each way to fail.

use std::io::Write;
use std::process::{Command, Output, Stdio};

/// A kernel of eight instructions: a loop 0x20..0x50 closed by a predicated branch, and
/// an out-of-line wait at 0x60 that jumps back to 0x30.
const SASS: &str = "
\tcode for sm_90a
\t\tFunction : walk
        /*0000*/                   MOV R1, c[0x0][0x28] ;                 /* 0x00000a0000017a02 */
        /*0010*/                   S2R R0, SR_TID.X ;                    /* 0x0000000000007919 */
        /*0020*/                   FFMA R2, R2, R3, R4 ;                 /* 0x0000000302027223 */
        /*0030*/                   FFMA R5, R5, R3, R4 ;                 /* 0x0000000305057223 */
        /*0040*/                   MUFU.EX2 R2, R2 ;                     /* 0x0000000200027308 */
        /*0050*/              @!P0 BRA 0x20 ;                            /* 0xfffffffc00000947 */
        /*0060*/                   SYNCS.PHASECHK.TRANS64.TRYWAIT P1, [UR4], R1 ; /* 0x0000000000007947 */
        /*0070*/                   BRA 0x30 ;                            /* 0xfffffff800007947 */
";

fn run(args: &[&str], stdin: Option<&str>) -> Output {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/sass_loops.py");
    let mut child = Command::new("python3")
        .arg(script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut input = child.stdin.take().expect("a stdin pipe");
    input.write_all(stdin.unwrap_or("").as_bytes()).expect("the script reads its input");
    drop(input);
    child.wait_with_output().expect("the script ends")
}

/// A reader that stops before the report (`| head`) ends it quietly: exit 0, no traceback.
#[test]
fn a_closed_output_pipe_ends_the_report_quietly() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/sass_loops.py");
    let mut child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    drop(child.stdout.take());
    let mut input = child.stdin.take().expect("a stdin pipe");
    input.write_all(SASS.as_bytes()).expect("the script reads its input");
    drop(input);
    let out = child.wait_with_output().expect("the script ends");
    assert!(out.status.success() && out.stderr.is_empty(), "{out:?}");
}

fn printed(args: &[&str], stdin: &str) -> Vec<String> {
    let out = run(args, Some(stdin));
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect()
}

fn refused(args: &[&str], stdin: &str) -> String {
    let out = run(args, Some(stdin));
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_predicated_backward_branch_closes_a_loop_with_its_opcodes() {
    let lines = printed(&["--top", "2"], SASS);
    assert_eq!(lines[0], "8 instructions, 1 loops");
    assert_eq!(lines[1], "    20..50         4 instructions: FFMA 2 MUFU 1");
}

#[test]
fn an_unconditional_jump_back_is_marked_as_no_loop() {
    let lines = printed(&[], SASS);
    assert!(lines[2].starts_with("    30..70         5 instructions (an unconditional jump back"), "{lines:?}");
}

#[test]
fn a_listing_from_a_file_reads_like_standard_input() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("walk.sass");
    std::fs::write(&path, SASS).unwrap();
    assert_eq!(printed(&[path.to_str().unwrap()], ""), printed(&[], SASS));
}

#[test]
fn text_without_instructions_is_refused() {
    assert!(refused(&[], "ptxas info: nothing here\n").contains("no SASS instruction lines"));
}

#[test]
fn a_missing_file_is_named() {
    assert!(refused(&["/no/such/file.sass"], "").contains("cannot read `/no/such/file.sass`"));
}

#[test]
fn a_top_of_zero_is_refused() {
    assert!(refused(&["--top", "0"], SASS).contains("--top must be at least 1; got 0"));
}
