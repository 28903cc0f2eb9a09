//! Time one spiking trial through the Rust API, the baseline of
//! `python/bench/time_trial.py` (same model, λ, stimulus and seeds).
//!
//! cargo run --release -p spikernn-python --example lif_trial -- MODEL.mat LAMBDA [REPS]

use spikernn::config::RunConfig;
use spikernn::io::model_file::load_model;
use spikernn::spiking::lif::{LifNetwork, SimOptions};
use spikernn::task::extend_stimulus;
use std::time::Instant;

const SIM_TAG: u64 = 0x0053_494d;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        return Err("usage: lif_trial MODEL.mat LAMBDA [REPS]".into());
    }
    let model = load_model(std::path::Path::new(&args[1]))?;
    let lam: f64 = args[2].parse()?;
    let reps: usize = args.get(3).map_or(Ok(20), |s| s.parse())?;
    let task = model.task(None, &args[1])?;
    let conv = RunConfig::for_task(task.name())?.conversion()?;
    let net = LifNetwork::from_rate(&model, lam, &conv)?;
    let trial = task.trial_of_kind(0, &mut spikernn::rng::stream(1, &[SIM_TAG, 0]));
    let u = extend_stimulus(&trial.u, 1);
    let opts = SimOptions::default();
    let mut times = Vec::new();
    let mut spikes = 0;
    for i in 0..=reps {
        let t0 = Instant::now();
        let sim = net.simulate(&u, &opts, &mut spikernn::rng::stream(i as u64, &[SIM_TAG]))?;
        let dt = t0.elapsed().as_secs_f64();
        if i > 0 {
            times.push(dt); // the first run warms up
            spikes += sim.spikes.len();
        }
    }
    times.sort_by(|a, b| a.total_cmp(b));
    println!(
        "rust: N = {}, {} reps: median {:.2} ms, min {:.2} ms ({} spikes/trial)",
        model.n(),
        reps,
        times[times.len() / 2] * 1e3,
        times[0] * 1e3,
        spikes / reps.max(1)
    );
    Ok(())
}
