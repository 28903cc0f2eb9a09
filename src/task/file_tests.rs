//! Task files: the four in `tasks/` reproduce the built-ins; bad files
//! give errors naming the file, the line and the key.

use std::path::{Path, PathBuf};

use rand::RngCore;

use super::*;
use crate::rng;
use crate::task::{builtin_task, Task};

fn task_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tasks")
        .join(name)
}

/// Hand-made output windows: zeros, constants just beyond and inside every
/// threshold used by the built-ins, and a few excursions.
fn windows() -> Vec<Vec<f64>> {
    let mut w: Vec<Vec<f64>> = [
        0.0, 0.29, 0.31, -0.29, -0.31, 0.69, 0.71, -0.69, -0.71, 1.0, -1.0,
    ]
    .iter()
    .map(|&v| vec![v; 5])
    .collect();
    w.push(vec![0.0, 0.8, 0.0, -0.8, 0.0]);
    w.push(vec![0.1, -0.5, 0.2]);
    w.push(vec![0.2, 0.75, 0.1]);
    w
}

/// `file` and `builtin` agree on shapes, type names, windows, thresholds,
/// scoring and on the trials of 40 seeds (bit for bit, same draws used).
fn same_task(file: &dyn Task, builtin: &dyn Task) {
    assert_eq!(file.n_inputs(), builtin.n_inputs());
    assert_eq!(file.n_steps(), builtin.n_steps());
    assert_eq!(file.trial_types(), builtin.trial_types());
    assert_eq!(file.response_start(), builtin.response_start());
    for k in 0..builtin.trial_types().len() {
        assert_eq!(file.thresholds(k), builtin.thresholds(k), "kind {k}");
        for w in windows() {
            assert_eq!(
                file.is_correct(k, &w),
                builtin.is_correct(k, &w),
                "kind {k}: {w:?}"
            );
        }
    }
    for seed in 0..40 {
        let (mut a, mut b) = (rng::stream(seed, &[7]), rng::stream(seed, &[7]));
        let (x, y) = (file.sample(&mut a), builtin.sample(&mut b));
        assert_eq!(x.kind, y.kind, "seed {seed}");
        assert_eq!(x.u, y.u, "seed {seed}");
        assert_eq!(x.target, y.target, "seed {seed}");
        assert_eq!(a.next_u64(), b.next_u64(), "seed {seed}: the same draws");
        // Scoring of the target, its negation and a half-height copy, on the
        // rate and the spiking time scale.
        for o in [
            y.target.clone(),
            y.target.iter().map(|v| -v).collect(),
            y.target.iter().map(|v| v * 0.5).collect(),
        ] {
            assert_eq!(file.score(x.kind, &o, 1), builtin.score(y.kind, &o, 1));
            let spk: Vec<f64> = o.iter().flat_map(|&v| [v; 4]).collect();
            assert_eq!(
                file.score_spiking(x.kind, &spk, None, 25),
                builtin.score_spiking(y.kind, &spk, None, 25)
            );
        }
    }
}

#[test]
fn the_four_task_files_reproduce_the_builtins() {
    for (file, name) in [
        ("go-nogo.toml", "go-nogo"),
        ("xor.toml", "xor"),
        ("mante.toml", "mante"),
        ("dms.toml", "dms"),
    ] {
        let f = FileTask::load(&task_file(file)).unwrap();
        let b = builtin_task(name, None).unwrap();
        assert_eq!(f.name(), format!("{name}-file"));
        same_task(&f, b.as_ref());
    }
}

#[test]
fn the_dms_file_with_the_short_delay_matches_the_short_builtin() {
    let text = std::fs::read_to_string(task_file("dms.toml")).unwrap();
    let short = text
        .replace("duration_ms = 750", "duration_ms = 50")
        .replace("from_ms = 1450", "from_ms = 750");
    let f = FileTask::parse(&short, Path::new("short.toml")).unwrap();
    same_task(&f, builtin_task("dms", Some(50.0)).unwrap().as_ref());
}

#[test]
fn sign_variables_are_shared_between_cue_and_probe() {
    let text = r#"
name = "dms-vars"
inputs = 2
[[epochs]]
name = "cue"
duration_ms = 50
[[epochs]]
name = "probe"
duration_ms = 50
[[epochs]]
name = "response"
duration_ms = 50
[[types]]
name = "trial"
[input.trial]
cue = [{ sign = "a" }, 0]
probe = [0, { sign = "b", scale = 2 }]
[target.trial]
response = "a * b"
[scoring]
from_ms = 100
rule.trial = { follow = 0.7 }
"#;
    let t = FileTask::parse(text, Path::new("v.toml")).unwrap();
    assert_eq!(
        t.trial_types(),
        ["trial a+ b+", "trial a+ b-", "trial a- b+", "trial a- b-"]
    );
    let mut seen = [false; 4];
    for seed in 0..40 {
        let tr = t.sample(&mut rng::from_seed(seed));
        let (a, b) = (tr.u[[0, 0]], tr.u[[1, 10]] / 2.0);
        assert_eq!(tr.u[[0, 9]], a);
        assert_eq!(tr.target[20], a * b);
        assert_eq!(t.kind_signs(tr.kind), vec![a, b]);
        assert!(t.score(tr.kind, &tr.target, 1));
        assert!(!t.score(
            tr.kind,
            &tr.target.iter().map(|v| -v).collect::<Vec<_>>(),
            1
        ));
        seen[tr.kind] = true;
    }
    assert_eq!(seen, [true; 4]);
}

#[test]
fn unequal_probabilities_draw_accordingly() {
    let text = std::fs::read_to_string(task_file("go-nogo.toml")).unwrap();
    let text = text
        .replace("name = \"go\"\n", "name = \"go\"\nprobability = 0.8\n")
        .replace("name = \"nogo\"\n", "name = \"nogo\"\nprobability = 0.2\n");
    let t = FileTask::parse(&text, Path::new("p.toml")).unwrap();
    let go = (0..2000)
        .filter(|&s| t.sample(&mut rng::from_seed(s)).kind == 0)
        .count();
    // Binomial(2000, 0.8): sd 17.9; within 5 sd.
    assert!((go as f64 - 1600.0).abs() < 90.0, "{go}");
}

/// The error of `text` with `from` replaced by `to` in the Go-NoGo file.
fn error_of(from: &str, to: &str) -> String {
    let text = std::fs::read_to_string(task_file("go-nogo.toml")).unwrap();
    assert!(text.contains(from), "{from}");
    let text = text.replacen(from, to, 1);
    let e = FileTask::parse(&text, Path::new("bad.toml")).expect_err("an error");
    e.to_string()
}

#[test]
fn bad_files_name_the_file_the_line_and_the_key() {
    let cases = [
        // (replace, with, line, key)
        (
            "inputs = 1",
            "inputs = 1\nchannels = 2",
            "line 5",
            "channels",
        ),
        (
            "duration_ms = 125",
            "duration_ms = -125",
            "line 12",
            "epochs[1].duration_ms",
        ),
        (
            "duration_ms = 125",
            "duration_ms = 12",
            "line 12",
            "epochs[1].duration_ms",
        ),
        (
            "from_ms = 375",
            "from_ms = 1000",
            "line 31",
            "scoring.from_ms",
        ),
        ("[target.go]", "[target.maybe]", "line 27", "target.maybe"),
        ("[input.go]", "[input.stop]", "line 24", "input.stop"),
        (
            "stimulus = [1]",
            "stimulus = [1, 0]",
            "line 25",
            "input.go.stimulus",
        ),
        (
            "response = 1",
            "respond = 1",
            "line 28",
            "target.go.respond",
        ),
        (
            "rule.nogo = { within = 0.3 }",
            "rule.nogo = { inside = 0.3 }",
            "line 33",
            "inside",
        ),
        (
            "rule.nogo = { within = 0.3 }",
            "rule.stop = { within = 0.3 }",
            "line 33",
            "scoring.rule.stop",
        ),
        (
            "stimulus = [1]",
            "stimulus = [{ mean = 1 }]",
            "line 25",
            "input.go.stimulus",
        ),
    ];
    for (from, to, line, key) in cases {
        let e = error_of(from, to);
        assert!(
            e.starts_with("bad.toml, ") && e.contains(line) && e.contains(key),
            "{to}: {e}"
        );
    }
    let e = error_of("[[types]]\nname = \"nogo\"\n", "");
    assert!(
        e.contains("bad.toml, line 31") && e.contains("scoring.rule.nogo"),
        "{e}"
    );
}
