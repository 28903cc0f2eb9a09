//! One Go-NoGo LIF trial (N = 200, 20 000 steps of 0.05 ms, spikes and output
//! recorded), single-threaded. Uses the MATLAB fixture's model when
//! `/work/tf_model.json` exists, and always a freshly initialised N = 200
//! network.

use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};
use spikernn::lif::{ConversionOptions, LifNetwork, SimOptions};
use spikernn::rate::{NetConfig, RateModel};
use spikernn::rng;
use spikernn::task::{extend_stimulus, GoNoGo, Task};

#[path = "../examples/common/tf_json.rs"]
mod tf_json;

fn bench_trial(c: &mut Criterion, name: &str, model: &RateModel, lambda: f64) {
    let net = LifNetwork::from_rate(model, lambda, &ConversionOptions::default()).unwrap();
    let task = GoNoGo::default();
    let mut r = rng::from_seed(1);
    let go = extend_stimulus(&task.trial_of_kind(0, &mut r).u, 1);
    let opts = SimOptions::default();
    let mut k = 0u64;
    c.bench_function(name, |b| {
        b.iter(|| {
            k += 1;
            let mut s = rng::stream(7, &[k]);
            net.simulate(&go, &opts, &mut s).unwrap()
        })
    });
}

fn trial(c: &mut Criterion) {
    let path = Path::new("/work/tf_model.json");
    if path.exists() {
        let model = tf_json::load(path);
        bench_trial(c, "go-nogo trial, fixture model, lambda 30", &model, 30.0);
    }
    let cfg = NetConfig::default();
    let model = RateModel::init(&cfg, 1, &mut rng::from_seed(3)).unwrap();
    bench_trial(c, "go-nogo trial, untrained N=200, lambda 30", &model, 30.0);
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = trial
}
criterion_main!(benches);
