//! Test helpers shared by the spiking modules' tests.

use ndarray::{Array1, Array2};

use crate::rate::{Activation, NetConfig, RateModel, Taus};

/// A Dale network of `n` units with no recurrent weights and one input
/// with weight `w_in[i]`.
pub(crate) fn toy_model(w: Array2<f64>, w_in: Vec<f64>, inh: Vec<bool>) -> RateModel {
    let n = inh.len();
    let mut m = Array2::zeros((n, n));
    for i in 0..n {
        m[[i, i]] = if inh[i] { -1.0 } else { 1.0 };
    }
    RateModel {
        w0: w.clone(),
        w,
        m,
        som_m: Array2::ones((n, n)),
        w_in: Array2::from_shape_vec((n, 1), w_in).unwrap(),
        w_out: Array1::ones(n),
        b_out: 0.0,
        som_n: 0,
        inh,
        taus: Taus::Fixed(4.0),
        taus_gaus: Array1::zeros(n),
        taus_gaus0: Array1::zeros(n),
        activation: Activation::Sigmoid,
        dale: true,
        training: None,
        search: None,
        task: None,
        init_from: None,
    }
}

pub(crate) fn constant_stimulus(cols: usize) -> Array2<f64> {
    Array2::ones((1, cols))
}

/// A freshly initialised 24-unit, one-input network (seed 4).
pub(crate) fn small_model() -> RateModel {
    let cfg = NetConfig {
        n: 24,
        ..NetConfig::default()
    };
    RateModel::init(&cfg, 1, &mut crate::rng::from_seed(4)).unwrap()
}
