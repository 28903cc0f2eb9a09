//! One Go-NoGo LIF trial (N = 200, 20 000 steps of 0.05 ms, spikes and output
//! recorded), single-threaded, on the MATLAB fixture's trained model and on a
//! freshly initialised N = 200 network; and a batch of `BATCH` (4) trials
//! simulated together (`simulate_batch`, as the search and the evaluation
//! run them): time per trial = the batch's time / 4.

use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};
use spikernn::rate::{NetConfig, RateModel};
use spikernn::rng;
use spikernn::spiking::{BatchTrial, ConversionOptions, LifNetwork, SimOptions, BATCH};
use spikernn::task::{extend_stimulus, GoNoGo, Task};

/// The converted network at `lambda` and one Go stimulus (seed 1).
fn go_trial(model: &RateModel, lambda: f64) -> (LifNetwork, ndarray::Array2<f64>) {
    let net = LifNetwork::from_rate(model, lambda, &ConversionOptions::default()).unwrap();
    let task = GoNoGo::default();
    let mut r = rng::from_seed(1);
    (net, extend_stimulus(&task.trial_of_kind(0, &mut r).u, 1))
}

fn bench_trial(c: &mut Criterion, name: &str, model: &RateModel, lambda: f64) {
    let (net, go) = go_trial(model, lambda);
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

fn bench_batch(c: &mut Criterion, name: &str, model: &RateModel, lambda: f64) {
    let (net, go) = go_trial(model, lambda);
    let opts = SimOptions::default();
    let mut k = 0u64;
    c.bench_function(name, |b| {
        b.iter(|| {
            let trials = (0..BATCH)
                .map(|_| {
                    k += 1;
                    BatchTrial {
                        u: &go,
                        rng: rng::stream(7, &[k]),
                    }
                })
                .collect();
            net.simulate_batch(trials, &opts).unwrap()
        })
    });
}

fn trial(c: &mut Criterion) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tf_sst_go_nogo_N200.mat");
    let model = spikernn::io::model_file::load_model(&path).expect("fixture model");
    bench_trial(c, "go-nogo trial, fixture model, lambda 30", &model, 30.0);
    bench_batch(
        c,
        "go-nogo batch of 4 trials, fixture model, lambda 30",
        &model,
        30.0,
    );
    let cfg = NetConfig::default();
    let model = RateModel::init(&cfg, 1, &mut rng::from_seed(3)).unwrap();
    bench_trial(c, "go-nogo trial, untrained N=200, lambda 30", &model, 30.0);
    bench_batch(
        c,
        "go-nogo batch of 4 trials, untrained N=200, lambda 30",
        &model,
        30.0,
    );
}

/// The voltage noise of one step of a batch: 200 normals in each of the
/// four lanes (800 draws; `spikernn::rng::fill_normal_lanes4_avx2`).
fn noise(c: &mut Criterion) {
    use spikernn::rng::{LaneScratch, Lanes};
    let gens: [rng::Rng; 4] = std::array::from_fn(|b| rng::stream(b as u64, &[1]));
    let mut lanes = Lanes::new(&gens);
    let (mut out, mut scratch) = (vec![0.0; 800], LaneScratch::default());
    c.bench_function("voltage noise, 4 lanes x 200 normals", |b| {
        b.iter(|| {
            #[cfg(target_arch = "x86_64")]
            if rng::has_avx2_fma() {
                // SAFETY: AVX2 and FMA checked just above.
                unsafe {
                    rng::fill_normal_lanes4_avx2(&mut lanes, &mut out, 200, 0.1, &mut scratch)
                };
                return out[17];
            }
            rng::fill_normal_lanes(&mut lanes, &mut out, 200, 0.1, &mut scratch);
            out[17]
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = trial, noise
}
criterion_main!(benches);
