//! Wall time per Go-NoGo training trial over a fixed count (argument, default
//! 200): for `perf stat` instruction counts; `cargo bench --bench train` is
//! the benchmark.
use spikernn::rate::bptt::{loss_and_grad, Grads, Loss, Prepared, Workspace};
use spikernn::rate::train::Adam;
use spikernn::rate::{NetConfig, RateModel};
use spikernn::rng;
use spikernn::task::{GoNoGo, Task};
fn main() {
    let task = GoNoGo::default();
    let mut r = rng::from_seed(1);
    let mut model = RateModel::init(&NetConfig::default(), 1, &mut r).unwrap();
    let mut adam = Adam::new(200, 0.01);
    let mut grads = Grads::zeros(200);
    let mut ws = Workspace::default();
    let mut prep = Prepared::new(&model);
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200);
    let t = std::time::Instant::now();
    for _ in 0..n {
        prep.refresh(&model);
        grads.clear();
        let trial = task.sample(&mut r);
        loss_and_grad(&model, &prep, &trial, Loss::L2, &mut r, &mut ws, &mut grads);
        adam.step(&mut model, &grads);
    }
    println!(
        "{:.3} ms/trial",
        t.elapsed().as_secs_f64() * 1000.0 / n as f64
    );
}
