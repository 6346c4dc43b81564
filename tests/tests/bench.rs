//! The benchmark binaries run end to end on a small load, so they do not rot between the
//! times someone measures with them (their figures are not checked: speed is for the note).

use std::process::Command;

/// Runs `fjord-bench` with `args` on 20,000 records of 100 B; returns its stdout.
fn bench(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_fjord-bench"))
        .args([
            "--records",
            "20000",
            "--sizes",
            "100",
            "--timeout-secs",
            "120",
        ])
        .args(args)
        .output()
        .expect("fjord-bench runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "fjord-bench {args:?} failed\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The records/s of a phase's row (`fjord consume   1,017,605   101.8 ...`).
fn phase_rate(stdout: &str, phase: &str) -> u64 {
    let row = stdout
        .lines()
        .find(|l| l.starts_with(phase))
        .unwrap_or_else(|| panic!("no {phase} row in\n{stdout}"));
    row[phase.len()..]
        .split_whitespace()
        .next()
        .and_then(|r| r.replace(',', "").parse().ok())
        .unwrap_or_else(|| panic!("no rate in {row:?}"))
}

#[test]
fn fjord_bench_produces_and_consumes_every_record_with_both_consumer_apis() {
    for api in ["batch", "poll"] {
        let stdout = bench(&["--consumer-api", api]);
        // Every phase completed (the binary fails when a phase falls short of --records)
        // and reports a rate.
        for phase in ["sink produce", "fjord produce", "fjord consume"] {
            assert!(phase_rate(&stdout, phase) > 0, "{phase}: {stdout}");
        }
        assert!(stdout.contains("fjord/sink produce throughput"), "{stdout}");
    }
}

#[test]
fn fjord_txn_bench_commits_every_transaction() {
    let out = Command::new(env!("CARGO_BIN_EXE_fjord-txn-bench"))
        .args(["--records", "2000", "--txn-records", "100"])
        .output()
        .expect("fjord-txn-bench runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "fjord-txn-bench failed\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // 2,000 records at 100 per transaction: 20 commits, each timed.
    assert!(stdout.contains("(20 commits)"), "{stdout}");
    assert!(
        stdout.contains("transactional / idempotent throughput"),
        "{stdout}"
    );
}
