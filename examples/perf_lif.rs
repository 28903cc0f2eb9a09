//! Go-NoGo LIF trials on the reference fixture model at λ 30, for
//! callgrind instruction counts (`cargo bench --bench lif` is the
//! benchmark): `perf_lif REPS [batch]` runs REPS trials (default 1; 0
//! measures the set-up alone) one by one (`simulate`) or, with `batch`,
//! through `simulate_batch` (batches of `spikernn::spiking::BATCH`).
//! `NOISE_SD=x` sets the voltage noise (0: none, to time the rest).
use std::path::Path;

use spikernn::rng;
use spikernn::spiking::{BatchTrial, ConversionOptions, LifNetwork, SimOptions};
use spikernn::task::{extend_stimulus, GoNoGo, Task};

fn main() {
    let mut args = std::env::args().skip(1);
    let reps: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let batch = args.next().as_deref() == Some("batch");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tf_sst_go_nogo_N200.mat");
    let model = spikernn::io::model_file::load_model(&path).expect("fixture model");
    let mut net = LifNetwork::from_rate(&model, 30.0, &ConversionOptions::default()).unwrap();
    if std::env::var("NOISE_SD").is_ok() {
        net.neuron.noise_sd = std::env::var("NOISE_SD").unwrap().parse().unwrap();
    }
    let task = GoNoGo::default();
    let go = extend_stimulus(&task.trial_of_kind(0, &mut rng::from_seed(1)).u, 1);
    let opts = SimOptions::default();
    let res = if batch {
        let trials = (0..reps)
            .map(|k| BatchTrial {
                u: &go,
                rng: rng::stream(7, &[k]),
            })
            .collect();
        net.simulate_batch(trials, &opts).unwrap()
    } else {
        (0..reps)
            .map(|k| net.simulate(&go, &opts, &mut rng::stream(7, &[k])).unwrap())
            .collect()
    };
    let spikes: usize = res.iter().map(|r| r.spikes.len()).sum();
    println!("{reps} trials, {spikes} spikes");
}
