//! The conversion (docs/model.md#spiking-conversion): a trained rate network mapped one-to-one onto
//! a spiking network with scaling factor λ,
//!
//! ```text
//! W_spk = ((w·m) ⊙ som_m)/λ,   w_out_spk = w_out/λ,   td_i = tau_i · 5 ms,   tr = 2 ms.
//! ```
//!
//! [`LifNetwork`] holds the converted weights, the neuron parameters and
//! the synaptic constants; [`LifNetwork::simulate`] (in
//! [`crate::spiking::simulate`]) runs a trial.

use ndarray::Array2;

use crate::error::{Error, Result};
use crate::rate::RateModel;
use crate::spiking::kernels::dot;
use crate::spiking::neuron::LifParams;
use crate::spiking::synapse::SynapseParams;
use crate::units::{rate_steps_to_ms, SPIKING_DT_MS};

/// Options of [`LifNetwork::from_rate`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConversionOptions {
    /// Convert the initial weights `w0` instead of the trained `w`.
    pub use_initial_weights: bool,
    /// Under Dale's principle, keep negative raw weights as they are instead
    /// of applying relu (reproduces files saved by the Python tutorial).
    pub keep_negative_weights: bool,
    /// Neuron parameters.
    pub neuron: LifParams,
    /// Synaptic rise constant tr (ms); 0 selects the single exponential.
    pub tr_ms: f64,
    /// Add the rate network's output bias to the spiking readout:
    /// out = (w_out/λ)·r + b_out (docs/conversion.md, option a). Off (the
    /// paper and docs/model.md drop b_out): out = (w_out/λ)·r.
    pub output_bias: bool,
}

impl Default for ConversionOptions {
    fn default() -> Self {
        ConversionOptions {
            use_initial_weights: false,
            keep_negative_weights: false,
            neuron: LifParams::lif(),
            tr_ms: 2.0,
            output_bias: false,
        }
    }
}

/// A spiking network converted from a rate network with scaling factor λ.
#[derive(Debug, Clone, PartialEq)]
pub struct LifNetwork {
    pub(super) n: usize,
    lambda: f64,
    /// W_spk transposed: column j (presynaptic unit j) at `[j·n, (j+1)·n)`.
    pub(super) w_cols: Vec<f64>,
    pub(super) w_in: Array2<f64>,
    pub(super) w_out: Vec<f64>,
    /// Readout bias b (0 unless `output_bias` or a refitted readout).
    pub(super) b_out: f64,
    inh: Vec<bool>,
    pub(super) syn: SynapseParams,
    negative_clipped: usize,
    /// Neuron parameters (public so that e.g. the noise can be switched off).
    pub neuron: LifParams,
}

impl LifNetwork {
    /// Convert `model` with scaling factor `lambda`: W_spk = ((w·m)⊙som_m)/λ,
    /// w_out/λ, td_i = tau_i · 5 ms, tr from `opts` (2 ms by default).
    ///
    /// Under Dale's principle negative raw weights are set to 0 (relu) unless
    /// `opts.keep_negative_weights`; their count is available from
    /// [`LifNetwork::negative_weights_clipped`] and [`LifNetwork::warning`].
    ///
    /// # Examples
    ///
    /// A freshly initialised 10-unit Go-NoGo network at λ = 20, one 0.1 s
    /// trial (21 stimulus columns of 5 ms → 2 000 steps of 0.05 ms):
    ///
    /// ```
    /// use ndarray::Array2;
    /// use spikernn::rate::{NetConfig, RateModel};
    /// use spikernn::spiking::{ConversionOptions, LifNetwork, SimOptions};
    ///
    /// let cfg = NetConfig { n: 10, ..NetConfig::default() };
    /// let model = RateModel::init(&cfg, 1, &mut spikernn::rng::from_seed(1)).unwrap();
    /// let net = LifNetwork::from_rate(&model, 20.0, &ConversionOptions::default()).unwrap();
    /// assert_eq!(net.n(), 10);
    /// // W_spk = ((w·m) ⊙ som_m)/λ and w_out/λ.
    /// assert_eq!(net.w_out()[0], model.w_out[0] / 20.0);
    ///
    /// let u = Array2::ones((1, 21));
    /// let res = net
    ///     .simulate(&u, &SimOptions::default(), &mut spikernn::rng::from_seed(2))
    ///     .unwrap();
    /// assert_eq!(res.n_steps, 2_000);
    /// assert!((res.t_sec - 0.1).abs() < 1e-12);
    /// assert_eq!(res.out.len(), 2_000);
    /// ```
    pub fn from_rate(model: &RateModel, lambda: f64, opts: &ConversionOptions) -> Result<Self> {
        if !(lambda.is_finite() && lambda > 0.0) {
            return Err(Error::param(
                "lambda",
                format!("the scaling factor must be positive and finite, got {lambda}"),
            ));
        }
        opts.neuron.validate()?;
        let n = model.n();
        let raw = if opts.use_initial_weights {
            &model.w0
        } else {
            &model.w
        };
        if raw.dim() != (n, n) || model.m.dim() != (n, n) || model.som_m.dim() != (n, n) {
            return Err(Error::param(
                "model",
                format!("w, m and som_m must all be {n}×{n}"),
            ));
        }
        if model.w_in.nrows() != n || model.w_out.len() != n || model.taus_gaus.len() != n {
            return Err(Error::param(
                "model",
                format!("w_in, w_out and taus_gaus must have {n} rows"),
            ));
        }
        let mut w = raw.clone();
        let mut negative_clipped = 0;
        if model.dale {
            let neg = w.iter().filter(|&&x| x < 0.0).count();
            if !opts.keep_negative_weights {
                negative_clipped = neg;
                w.mapv_inplace(|x| x.max(0.0));
            }
        }
        let wm = w.dot(&model.m) * &model.som_m;
        let mut w_cols = vec![0.0; n * n];
        for j in 0..n {
            for i in 0..n {
                w_cols[j * n + i] = wm[[i, j]] / lambda;
            }
        }
        let td_ms: Vec<f64> = model
            .tau_steps()
            .iter()
            .map(|&t| rate_steps_to_ms(t))
            .collect();
        let syn = SynapseParams::new(td_ms, opts.tr_ms, SPIKING_DT_MS)?;
        Ok(LifNetwork {
            n,
            lambda,
            w_cols,
            w_in: model.w_in.clone(),
            w_out: model.w_out.iter().map(|&x| x / lambda).collect(),
            b_out: if opts.output_bias { model.b_out } else { 0.0 },
            inh: model.inh.clone(),
            syn,
            negative_clipped,
            neuron: opts.neuron,
        })
    }

    /// Number of units N.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Number of inputs (rows of the stimulus).
    pub fn n_inputs(&self) -> usize {
        self.w_in.ncols()
    }

    /// The scaling factor λ.
    pub fn lambda(&self) -> f64 {
        self.lambda
    }

    /// W_spk[post, pre].
    pub fn weight(&self, post: usize, pre: usize) -> f64 {
        self.w_cols[pre * self.n + post]
    }

    /// W_spk as an N×N matrix (row = postsynaptic unit).
    pub fn w_spk(&self) -> Array2<f64> {
        Array2::from_shape_fn((self.n, self.n), |(i, j)| self.weight(i, j))
    }

    /// Readout weights w_out/λ.
    pub fn w_out(&self) -> &[f64] {
        &self.w_out
    }

    /// Readout bias b (dimensionless).
    pub fn b_out(&self) -> f64 {
        self.b_out
    }

    /// The output for filtered spike trains r (1/ms): w·r + b. Without a
    /// bias exactly w·r (no `+ 0.0`, which would turn −0 into +0).
    #[inline(always)]
    pub fn readout(&self, r: &[f64]) -> f64 {
        let o = dot(&self.w_out, r);
        if self.b_out == 0.0 {
            o
        } else {
            o + self.b_out
        }
    }

    /// Replace the readout by out = w·r + b, e.g. one refitted on spiking
    /// rates ([`crate::spiking::readout`]); `w` (1 × N, ms) already
    /// includes the 1/λ.
    pub fn set_readout(&mut self, w: &[f64], b: f64) -> Result<()> {
        if w.len() != self.n || !b.is_finite() || w.iter().any(|x| !x.is_finite()) {
            return Err(Error::param(
                "readout",
                format!("needs {} finite weights and a finite bias", self.n),
            ));
        }
        self.w_out = w.to_vec();
        self.b_out = b;
        Ok(())
    }

    /// Inhibitory units.
    pub fn inh(&self) -> &[bool] {
        &self.inh
    }

    /// Synaptic decay constants td_i (ms).
    pub fn td_ms(&self) -> &[f64] {
        self.syn.td_ms()
    }

    /// Synaptic rise constant tr (ms).
    pub fn tr_ms(&self) -> f64 {
        self.syn.tr_ms()
    }

    /// Number of negative raw weights set to 0 by the conversion (Dale only).
    pub fn negative_weights_clipped(&self) -> usize {
        self.negative_clipped
    }

    /// A warning to show the user, if the conversion clipped negative weights.
    pub fn warning(&self) -> Option<String> {
        (self.negative_clipped > 0).then(|| {
            format!(
                "the model obeys Dale's principle but its raw w holds {} negative \
                 entries (a file saved by the Python tutorial?); relu was applied to them",
                self.negative_clipped
            )
        })
    }

    /// Column `j` of W_spk (the drive a spike of presynaptic unit `j` adds
    /// to every postsynaptic unit).
    #[inline(always)]
    pub(super) fn column(&self, j: usize) -> &[f64] {
        &self.w_cols[j * self.n..(j + 1) * self.n]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spiking::testutil::toy_model;

    #[test]
    fn conversion_scales_and_clips() {
        let mut w = Array2::from_shape_fn((3, 3), |(i, j)| (i * 3 + j) as f64 / 10.0);
        w[[0, 1]] = -0.3;
        let model = toy_model(w.clone(), vec![1.0; 3], vec![false, true, false]);
        let net = LifNetwork::from_rate(&model, 4.0, &ConversionOptions::default()).unwrap();
        assert_eq!(net.negative_weights_clipped(), 1);
        assert!(net.warning().unwrap().contains("1 negative"));
        let eff = model.effective_weights();
        for i in 0..3 {
            for j in 0..3 {
                assert!((net.weight(i, j) - eff[[i, j]] / 4.0).abs() < 1e-15);
            }
        }
        assert_eq!(net.weight(0, 1), 0.0);
        assert!(net.weight(2, 1) < 0.0);
        assert_eq!(net.w_out(), &[0.25, 0.25, 0.25]);
        assert_eq!(net.td_ms(), &[20.0, 20.0, 20.0]);
        assert_eq!(net.tr_ms(), 2.0);
        let keep = ConversionOptions {
            keep_negative_weights: true,
            ..ConversionOptions::default()
        };
        let raw = LifNetwork::from_rate(&model, 4.0, &keep).unwrap();
        assert_eq!(raw.negative_weights_clipped(), 0);
        assert!((raw.weight(0, 1) - 0.3 / 4.0).abs() < 1e-15);
        let init = ConversionOptions {
            use_initial_weights: true,
            ..ConversionOptions::default()
        };
        let mut m2 = model.clone();
        m2.w0 = Array2::zeros((3, 3));
        assert!(LifNetwork::from_rate(&m2, 4.0, &init)
            .unwrap()
            .w_spk()
            .iter()
            .all(|&x| x == 0.0));
    }

    #[test]
    fn output_bias_and_set_readout() {
        let mut model = crate::spiking::testutil::small_model();
        model.b_out = 0.375;
        let r: Vec<f64> = (0..model.n()).map(|i| 0.01 * i as f64).collect();
        let plain = LifNetwork::from_rate(&model, 20.0, &ConversionOptions::default()).unwrap();
        assert_eq!(plain.b_out(), 0.0);
        assert_eq!(plain.readout(&r), dot(plain.w_out(), &r));
        let biased = ConversionOptions {
            output_bias: true,
            ..ConversionOptions::default()
        };
        let mut net = LifNetwork::from_rate(&model, 20.0, &biased).unwrap();
        // out = (w_out/λ)·r + b_out.
        assert_eq!(net.b_out(), 0.375);
        assert_eq!(net.readout(&r), dot(plain.w_out(), &r) + 0.375);
        let w = vec![0.5; model.n()];
        net.set_readout(&w, -1.0).unwrap();
        let want = 0.5 * r.iter().sum::<f64>() - 1.0;
        assert!((net.readout(&r) - want).abs() < 1e-12);
        assert!(net.set_readout(&w[1..], 0.0).is_err());
        assert!(net.set_readout(&w, f64::NAN).is_err());
    }
}
