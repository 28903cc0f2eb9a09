//! Fidelity against MATLAB (spiking issue, acceptance 4–5): the 12-λ ×
//! 100-trial Go-NoGo search on the fixture model
//! `tests/fixtures/tf_sst_go_nogo_N200.mat` (or the model file given as the
//! first argument) under MATLAB's `lambda_grid_search.m` protocol (scored
//! from spiking step 10 000, NoGo correct when max o < 0.3, no refinement);
//! then the default search with refinement, and the firing rates at λ 30
//! and 35.
//!
//! `cargo run --release --example matlab_fidelity [model.mat] [threads]`

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use spikernn::spiking::search::{evaluate, grid_search, EvalOptions, SearchOptions};
use spikernn::task::{GoNoGo, NoGoRule};

const MATLAB: [f64; 12] = [
    0.69, 0.85, 0.97, 0.97, 0.93, 0.95, 0.88, 0.76, 0.55, 0.36, 0.36, 0.45,
];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = args
        .get(1)
        .map(|s| s.as_str())
        .unwrap_or("tests/fixtures/tf_sst_go_nogo_N200.mat");
    let threads: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(2);
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .expect("thread pool");
    let model =
        spikernn::io::model_file::load_model(std::path::Path::new(path)).expect("model file");
    let task = GoNoGo::default();
    let cancel = AtomicBool::new(false);

    let opts = SearchOptions {
        window_start_override: Some(10_000),
        refine: false,
        seed: 1,
        ..SearchOptions::default()
    };
    let t = Instant::now();
    let matlab_task = GoNoGo {
        nogo_rule: NoGoRule::Max,
        ..GoNoGo::default()
    };
    let grid = grid_search(&model, &matlab_task, &opts, &cancel).expect("grid search");
    let grid_s = t.elapsed().as_secs_f64();
    println!("lambda   MATLAB   ours    diff");
    let mut mad = 0.0;
    for (k, (&l, &a)) in grid.lambdas().iter().zip(&grid.accuracies()).enumerate() {
        let d = a - MATLAB[k];
        mad += d.abs() / 12.0;
        println!("{l:>6}   {:.2}     {a:.2}   {d:+.2}", MATLAB[k]);
    }
    println!(
        "mean |difference| {mad:.3}; best {:.2} at lambda {} (MATLAB 0.97 at 30)",
        grid.best_accuracy, grid.best_lambda
    );
    println!("12 x 100 grid on {threads} threads: {grid_s:.1} s");

    let opts = SearchOptions {
        seed: 2,
        ..SearchOptions::default()
    };
    let t = Instant::now();
    let full = grid_search(&model, &task, &opts, &cancel).expect("search");
    let full_s = t.elapsed().as_secs_f64();
    println!(
        "default search (task window from step 7 500, refinement): best lambda {} accuracy {:.3}",
        full.best_lambda, full.best_accuracy
    );
    for p in full.refined() {
        println!(
            "  refined lambda {}: {:.3} ({} trials)",
            p.lambda, p.accuracy, p.trials
        );
    }
    println!("  {}", full.selection());
    println!("default search with refinement on {threads} threads: {full_s:.1} s");

    for lambda in [30.0, 35.0] {
        let e = evaluate(
            &model,
            &task,
            lambda,
            &EvalOptions {
                seed: 3,
                window_start_override: Some(10_000),
                ..EvalOptions::default()
            },
            &cancel,
        )
        .expect("evaluate");
        println!(
            "lambda {lambda}: accuracy {:.3} [{:.3}, {:.3}], E {:.2} Hz, I {:.2} Hz",
            e.overall.accuracy, e.ci95.0, e.ci95.1, e.overall.exc_rate_hz, e.overall.inh_rate_hz
        );
        for (name, g) in &e.per_type {
            println!(
                "  {name:>5}: {} trials, accuracy {:.3}, E {:.2} Hz, I {:.2} Hz",
                g.n_trials, g.accuracy, g.exc_rate_hz, g.inh_rate_hz
            );
        }
    }
}
