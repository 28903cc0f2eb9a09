//! Write sample `.mat` files for `tests/scipy_check.py` (run by
//! `.ci/scipy-check`): every class the writer supports, compressed and not,
//! a saved rate model, and an `update` of a file.
//!
//! Usage: `cargo run --release --example write_mat_samples -- DIR`.
//! If `DIR/scipy_made.mat` exists (written by `scipy_check.py prepare`), it
//! is updated in place (variable `b` replaced, `added` appended).

use std::path::{Path, PathBuf};

use spikernn::io::mat::{self, MatData, MatVar, WriteOptions};
use spikernn::io::model_file;
use spikernn::rate::{
    EvalPoint, NetConfig, RateModel, RefitRecord, SearchRecord, TrainNoise, TrainingRecord,
};
use spikernn::rng;

/// The variables of `classes*.mat`; values mirrored in `tests/scipy_check.py`.
fn sample_vars() -> Vec<MatVar> {
    vec![
        // [[0, 1, 2], [3, 4, 5]] column-major.
        MatVar::f64_matrix("a_f64", 2, 3, vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]),
        MatVar::new("a_f32", vec![1, 3], MatData::F32(vec![0.5, -1.25, 3.0e38])),
        MatVar::new("i8", vec![1, 3], MatData::I8(vec![-128, 0, 127])),
        MatVar::new("i16", vec![1, 2], MatData::I16(vec![-300, 300])),
        MatVar::new("i32", vec![1, 2], MatData::I32(vec![-70000, 70000])),
        MatVar::new("i64", vec![1, 1], MatData::I64(vec![-(1 << 40)])),
        MatVar::new("u8", vec![1, 3], MatData::U8(vec![0, 128, 255])),
        MatVar::new("u16", vec![1, 2], MatData::U16(vec![0, 65535])),
        MatVar::new("u32", vec![1, 1], MatData::U32(vec![4_000_000_000])),
        MatVar::new("u64", vec![1, 1], MatData::U64(vec![u64::MAX])),
        MatVar::bool_col("flags", &[true, false, true]),
        MatVar::string("text", "sigmoid"),
        MatVar::string("uni", "tau µs ✓"),
        MatVar::f64_matrix("empty", 0, 0, vec![]),
        // numpy arange(24).reshape((2, 3, 4), order='F').
        MatVar::new(
            "nd",
            vec![2, 3, 4],
            MatData::F64((0..24).map(f64::from).collect()),
        ),
        MatVar::scalar("pi", std::f64::consts::PI),
    ]
}

fn run(dir: &Path) -> spikernn::Result<()> {
    let vars = sample_vars();
    mat::write(&dir.join("classes.mat"), &vars)?;
    mat::write_with(
        &dir.join("classes_plain.mat"),
        &vars,
        &WriteOptions { compress: false },
    )?;

    let cfg = NetConfig {
        n: 20,
        som_n: 1,
        ..NetConfig::default()
    };
    let mut model = RateModel::init(&cfg, 2, &mut rng::from_seed(42))?;
    model.training = Some(TrainingRecord {
        losses: vec![9.0, 4.5, 2.25],
        trials: 300,
        eval_perf_mean: 0.96,
        eval_loss_mean: 3.5,
        evals: vec![
            EvalPoint {
                trial: 100,
                loss: 6.0,
                accuracy: 0.5,
            },
            EvalPoint {
                trial: 200,
                loss: 3.5,
                accuracy: 0.96,
            },
        ],
        noise: TrainNoise {
            rec_sd: 0.3,
            input_sd: 0.05,
        },
    });
    model.task = Some(spikernn::task::TaskSpec::builtin("go-nogo"));
    let mpath = dir.join("model.mat");
    model_file::save_model(&mpath, &model)?;
    model_file::write_search_record(
        &mpath,
        &SearchRecord {
            opt_scaling_factor: 35.0,
            all_perfs: vec![0.5, 0.9, 0.97],
            scaling_factors: vec![25.0, 30.0, 35.0],
            refit: Some(RefitRecord {
                w_out_spk: (0..model.n()).map(|i| i as f64 * 0.01).collect(),
                b_out_spk: 0.125,
                lambda: 35.0,
                alpha: 0.5,
                trials: 100,
                holdout_mse: 0.01,
            }),
        },
    )?;
    // Reference values for the checker: sum of w and w_out[0], N.
    let w_sum: f64 = model.w.sum();
    std::fs::write(
        dir.join("model_expected.txt"),
        format!(
            "{} {:.17e} {:.17e} {}\n",
            model.n(),
            w_sum,
            model.w_out[0],
            model.inh.iter().filter(|&&b| b).count()
        ),
    )
    .map_err(|e| spikernn::Error::io(dir.join("model_expected.txt"), e))?;

    // update on a Rust-written file.
    let upath = dir.join("updated.mat");
    mat::write(
        &upath,
        &[
            MatVar::f64_row("a", vec![1.0, 2.0]),
            MatVar::scalar("b", 1.0),
            MatVar::string("s", "keep me"),
        ],
    )?;
    mat::update(
        &upath,
        &[
            MatVar::scalar("b", 2.0),
            MatVar::new("c", vec![1, 2], MatData::I32(vec![7, 8])),
        ],
        &WriteOptions::default(),
    )?;

    // update on a scipy-written file with cells and structs.
    let spath = dir.join("scipy_made.mat");
    if spath.exists() {
        let warns = mat::update(
            &spath,
            &[MatVar::scalar("b", 42.0), MatVar::string("added", "yes")],
            &WriteOptions { compress: false },
        )?;
        for w in warns {
            eprintln!("note: {w}");
        }
    }
    Ok(())
}

fn main() {
    let dir: PathBuf = match std::env::args_os().nth(1) {
        Some(d) => d.into(),
        None => {
            eprintln!("usage: write_mat_samples DIR");
            std::process::exit(2);
        }
    };
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("{}: {e}", dir.display());
        std::process::exit(1);
    }
    if let Err(e) = run(&dir) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
