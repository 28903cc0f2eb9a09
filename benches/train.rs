//! One Go-NoGo training trial (N = 200, T = 200): forward + backward + Adam,
//! single-threaded.

use criterion::{criterion_group, criterion_main, Criterion};
use spikernn::rate::bptt::{loss_and_grad, Grads, Loss, Prepared, Workspace};
use spikernn::rate::train::Adam;
use spikernn::rate::{NetConfig, RateModel};
use spikernn::rng;
use spikernn::task::{GoNoGo, Task};

fn bench_train_trial(c: &mut Criterion) {
    let task = GoNoGo::default();
    let mut r = rng::from_seed(1);
    let mut model = RateModel::init(&NetConfig::default(), 1, &mut r).unwrap();
    let mut adam = Adam::new(200, 0.01);
    let mut grads = Grads::zeros(200);
    let mut ws = Workspace::default();
    let mut prep = Prepared::new(&model);
    c.bench_function("go_nogo_train_trial_n200", |b| {
        b.iter(|| {
            prep.refresh(&model);
            grads.clear();
            let trial = task.sample(&mut r);
            let l = loss_and_grad(&model, &prep, &trial, Loss::L2, &mut r, &mut ws, &mut grads);
            adam.step(&mut model, &grads);
            l
        })
    });
}

criterion_group!(benches, bench_train_trial);
criterion_main!(benches);
