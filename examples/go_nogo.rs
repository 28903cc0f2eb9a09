//! The tutorial through the library API: train a Go-NoGo rate RNN, save it,
//! search lambda (training the next seed while the spiking network misses
//! the target, like `spikernn run`), evaluate it and draw the figures.
//!
//! `cargo run --release --example go_nogo [OUT_DIR]` (default `runs/example-go-nogo`).

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use spikernn::config::RunConfig;
use spikernn::io::model_file;
use spikernn::pipeline::{attempt_seed, make_figures};
use spikernn::rate::train::train;
use spikernn::spiking::search::{evaluate, grid_search};
use spikernn::task::GoNoGo;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "runs/example-go-nogo".into()),
    );
    std::fs::create_dir_all(&out)?;
    let cancel = AtomicBool::new(false);
    // `spikernn run` defaults: N = 200, P_inh = 0.33 with 20 SOM units (the
    // paper's Fig. S3 network), P_rec = 0.2, taus 4–20 steps (20–100 ms),
    // sigmoid, L2 loss, Adam lr 0.01, seed 1, up to 3 networks, target 0.95.
    let base = RunConfig::for_run("go-nogo")?;
    let task = GoNoGo::default();

    // Parts 1–3, repeated with the next seed while the spiking network
    // misses the target (as `spikernn run` does).
    let mut attempt = 0;
    let (cfg, trained, model, model_path, search) = loop {
        let mut cfg = base.clone();
        cfg.seed = attempt_seed(base.seed, attempt);

        // Part 1: train the rate network (stops when loss < 7 and accuracy > 0.95).
        let trained = train(&cfg.net_config()?, &cfg.train_config()?, &task, &cancel)?;
        println!(
            "seed {}: trained in {} trials ({:.1} s), stopping rule met: {}",
            cfg.seed, trained.trials, trained.seconds, trained.success
        );

        // Part 2: save it as a .mat file (scipy / MATLAB readable).
        let model_path = out.join(format!("model-seed-{}.mat", cfg.seed));
        model_file::save_model(&model_path, &trained.model)?;
        let mut model = model_file::load_model(&model_path)?;

        // Part 3: convert to LIF networks and search the scaling factor lambda.
        let search = grid_search(&model, &task, &cfg.search_options()?, &cancel)?;
        model_file::write_search_record(&model_path, &search.to_record())?;
        model.search = Some(search.to_record());
        println!(
            "seed {}: best lambda {} (accuracy {:.3})",
            cfg.seed, search.best_lambda, search.best_accuracy
        );
        attempt += 1;
        if search.best_accuracy >= base.target() || attempt == base.attempts {
            break (cfg, trained, model, model_path, search);
        }
    };
    println!("kept {}", model_path.display());

    // Part 4: evaluate on fresh trials and plot.
    let ev = evaluate(
        &model,
        &task,
        search.best_lambda,
        &cfg.eval_options()?,
        &cancel,
    )?;
    println!(
        "spiking accuracy {:.3} (95% CI {:.3}–{:.3}), E {:.2} Hz, I {:.2} Hz",
        ev.overall.accuracy, ev.ci95.0, ev.ci95.1, ev.overall.exc_rate_hz, ev.overall.inh_rate_hz
    );
    let figs = make_figures(
        &model,
        &task,
        search.best_lambda,
        Some(&search),
        &trained.evals,
        &cfg,
        &out.join("figures"),
    )?;
    println!("figures: {}", figs.names.join(", "));
    Ok(())
}
