//! The tutorial through the library API: train a Go-NoGo rate RNN, save it
//! and search lambda, training the next seed while the spiking network
//! misses the target ([`train_until_converts`], as `spikernn run` does);
//! then evaluate the kept network and draw the figures.
//!
//! `cargo run --release --example go_nogo [OUT_DIR]` (default `runs/example-go-nogo`).

use std::path::PathBuf;

use spikernn::config::RunConfig;
use spikernn::observe::{Event, Observer};
use spikernn::pipeline::{make_figures, train_until_converts, RunPaths};
use spikernn::spiking::search::evaluate;

/// Prints the library's step lines and warnings (no progress bars).
struct Lines;

impl Observer for Lines {
    fn event(&self, e: &Event) {
        if let Event::Info(_) | Event::Warning(_) = e {
            println!("{e}");
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "runs/example-go-nogo".into()),
    );
    std::fs::create_dir_all(&out)?;
    // `spikernn run` defaults: N = 200, P_inh = 0.33 with 20 SOM units (the
    // paper's Fig. S3 network), P_rec = 0.2, taus 4–20 steps (20–100 ms),
    // sigmoid, L2 loss, Adam lr 0.01, seed 1, up to 3 networks, target 0.95.
    let cfg = RunConfig::for_run("go-nogo")?;
    let paths = RunPaths { dir: out.clone() };

    // Parts 1–3: train (stops when loss < 7 and accuracy > 0.95), save as a
    // .mat file (scipy / MATLAB readable), convert to LIF networks and search
    // λ; retried with the next seed while the spiking network misses the target.
    let attempts = train_until_converts(&cfg, &Lines, &paths)?;
    for a in &attempts.tried {
        println!(
            "seed {}: {} training trials, rate accuracy {:.3}, best spiking accuracy {}, accepted: {} ({})",
            a.cfg.seed,
            a.train.trials,
            a.rate_accuracy,
            a.best_accuracy()
                .map_or("– (not searched)".into(), |x| format!("{x:.3}")),
            a.accepted,
            a.file.display()
        );
    }
    let kept = attempts.kept();
    let search = kept.search.as_ref().expect("the kept network was searched");
    println!(
        "kept seed {} (target {:.2} met: {}): {}",
        kept.cfg.seed,
        attempts.target,
        attempts.target_met(),
        paths.model().display()
    );

    // Part 4: evaluate on fresh trials and plot.
    let mut model = kept.train.model.clone();
    model.search = Some(search.to_record());
    let task = cfg.scoring_task()?;
    let opts = kept.cfg.eval_options()?;
    let ev = evaluate(&model, task.as_ref(), search.best_lambda, &opts, &Lines)?;
    println!(
        "spiking accuracy at λ {}: {:.3} (95% CI {:.3}–{:.3}), E {:.2} Hz, I {:.2} Hz",
        search.best_lambda,
        ev.overall.accuracy,
        ev.ci95.0,
        ev.ci95.1,
        ev.overall.exc_rate_hz,
        ev.overall.inh_rate_hz
    );
    let figs = make_figures(
        &model,
        task.as_ref(),
        search.best_lambda,
        Some(search),
        &kept.train.evals,
        &kept.cfg,
        &paths.figures(),
    )?;
    println!("figures: {}", figs.names.join(", "));
    Ok(())
}
