//! The one definition of every configuration parameter.
//!
//! [`section!`] takes one field list — doc (with the unit), type, default —
//! and generates, per section:
//! - the section struct (serde, `Default`) as it appears in a complete TOML
//!   file and in [`super::RunConfig`];
//! - its TOML patch twin (every field `Option<T>`, `deny_unknown_fields`),
//!   so that a file holds only what it changes;
//! - one or more flag groups (every field `Option<T>`, `clap::Args` with the
//!   `cli` feature): the command-line flags `--n`, `--p-inh` …, grouped so
//!   that a command takes only the groups it uses;
//! - `apply` on the patch and on each group: set what was given.
//!
//! A field without `= default` is an optional override: `Option<T>` in the
//! section, `None` by default, left out of the TOML when unset.
//!
//! Adding a parameter = one field here (doc, type, default), plus its use
//! where the library takes it.

use serde::Serialize;

use crate::lesion::Lesion;
use crate::rate::bptt::Loss;
use crate::rate::train::TrainConfig;
use crate::rate::{Activation, NetConfig, Taus, WeightDist};
use crate::spiking::lif::{ConversionOptions, NeuronModel};
use crate::spiking::readout::RefitOptions;
use crate::spiking::search::{EvalOptions, LambdaRule, SearchOptions};
use crate::task::NoGoRule;

use super::scoring::ScoringPreset;

/// The section type of a field: `T`, or `Option<T>` for an override
/// without default.
macro_rules! field_ty {
    ($t:ty, $d:expr) => { $t };
    ($t:ty) => { Option<$t> };
}

/// The default of a field: its expression, or `None` for an override.
macro_rules! field_default {
    ($d:expr) => {
        $d
    };
    () => {
        None
    };
}

/// Set a section field from a given patch value.
macro_rules! field_set {
    ($dst:expr, $v:expr, $d:expr) => {
        $dst = $v.clone()
    };
    ($dst:expr, $v:expr) => {
        $dst = Some($v.clone())
    };
}

/// See the module documentation.
macro_rules! section {
    (
        $(#[doc = $sdoc:literal])*
        $section:ident in $key:literal, toml $patch:ident {
            $(
                $(#[doc = $gdoc:literal])*
                flags $group:ident {
                    $(
                        $(#[doc = $doc:literal])*
                        $(#[arg($($arg:tt)*)])*
                        $field:ident : $ty:ty $(= $default:expr)?,
                    )*
                }
            )*
        }
    ) => {
        $(#[doc = $sdoc])*
        #[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $section {
            $($(
                $(#[doc = $doc])*
                #[serde(skip_serializing_if = "unset")]
                pub $field: field_ty!($ty $(, $default)?),
            )*)*
        }

        impl Default for $section {
            fn default() -> Self {
                $section { $($( $field: field_default!($($default)?), )*)* }
            }
        }

        impl $section {
            /// The table of this section in a TOML file.
            pub const KEY: &'static str = $key;
        }

        #[doc = concat!("A partial `[", $key, "]` table: only the keys a file sets.")]
        #[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $patch {
            $($(
                $(#[doc = $doc])*
                pub $field: Option<$ty>,
            )*)*
        }

        impl $patch {
            /// Set in `s` every field this patch gives.
            pub fn apply(&self, s: &mut $section) {
                $($( if let Some(v) = &self.$field { field_set!(s.$field, v $(, $default)?); } )*)*
            }
        }

        $(
            $(#[doc = $gdoc])*
            #[derive(Debug, Clone, Default, PartialEq)]
            #[cfg_attr(feature = "cli", derive(clap::Args))]
            pub struct $group {
                $(
                    $(#[doc = $doc])*
                    #[cfg_attr(feature = "cli", arg(long $(, $($arg)*)*))]
                    pub $field: Option<$ty>,
                )*
            }

            impl $group {
                /// The section's table in a TOML file.
                pub const SECTION: &'static str = $key;
                /// The fields (= flag ids, = TOML keys) of this group.
                pub const FIELDS: &'static [&'static str] = &[$(stringify!($field)),*];

                /// Set in `s` every field given on the command line.
                pub fn apply(&self, s: &mut $section) {
                    $( if let Some(v) = &self.$field { field_set!(s.$field, v $(, $default)?); } )*
                }
            }
        )*
    };
}

/// Serialised as nothing: an override that is not set.
fn unset<T: Serialize>(v: &T) -> bool {
    serde_json::to_value(v).is_ok_and(|j| j.is_null())
}

/// A `--lesion` value (see [`crate::lesion`]).
#[cfg(feature = "cli")]
fn parse_lesion(s: &str) -> std::result::Result<Lesion, String> {
    s.parse().map_err(|e: crate::Error| e.to_string())
}

/// A count flag: a whole number ≥ 0 (a negative one is a range error naming
/// the flag, not clap's "unexpected argument").
#[cfg(feature = "cli")]
fn count(s: &str) -> std::result::Result<usize, String> {
    match s.trim().parse::<i128>() {
        Ok(v) if v < 0 => Err(format!("must be ≥ 0, got {v}")),
        Ok(v) => usize::try_from(v).map_err(|_| format!("{v} is too large")),
        Err(_) => Err(format!("'{s}' is not a whole number")),
    }
}

section! {
    /// Network architecture (`[net]`).
    NetSection in "net", toml NetPatch {
        /// Network flags.
        flags NetFlags {
            /// Number of units N.
            #[arg(value_parser = count, allow_negative_numbers = true)]
            n: usize = NetConfig::default().n,
            /// Synaptic decay constant(s) in rate steps of 5 ms: one value
            /// (fixed) or MIN MAX (trained range).
            #[arg(num_args = 1..=2, allow_negative_numbers = true)]
            taus: Vec<f64> = taus_list(NetConfig::default().taus),
            /// Probability that a unit is inhibitory, in [0, 1].
            #[arg(allow_negative_numbers = true)]
            p_inh: f64 = NetConfig::default().p_inh,
            /// Initial connection probability, in (0, 1].
            #[arg(allow_negative_numbers = true)]
            p_rec: f64 = NetConfig::default().p_rec,
            /// Gain of the gaus initial weights (dimensionless).
            #[arg(allow_negative_numbers = true)]
            gain: f64 = NetConfig::default().gain,
            /// Number of SOM units (inhibitory units that receive no inhibition).
            #[arg(value_parser = count, allow_negative_numbers = true)]
            som_n: usize = NetConfig::default().som_n,
            /// Dale's principle (flag `--no-dale` turns it off: no inhibitory units).
            #[arg(long = "no-dale", num_args = 0, default_missing_value = "false")]
            dale: bool = NetConfig::default().dale,
            /// Initial weight distribution.
            #[arg(value_name = "DIST")]
            w_dist: WeightDist = NetConfig::default().w_dist,
            /// Activation of the rate units.
            #[arg(value_name = "ACTIVATION")]
            act: Activation = NetConfig::default().activation,
        }
    }
}

section! {
    /// Rate training by BPTT (`[train]`).
    TrainSection in "train", toml TrainPatch {
        /// Training flags.
        flags TrainFlags {
            /// Maximum number of training trials.
            #[arg(value_parser = count, allow_negative_numbers = true)]
            n_trials: usize = TrainConfig::default().n_trials,
            /// Evaluate every this many trials.
            #[arg(value_parser = count, allow_negative_numbers = true)]
            eval_freq: usize = TrainConfig::default().eval_freq,
            /// Trials per evaluation.
            #[arg(value_parser = count, allow_negative_numbers = true)]
            eval_trials: usize = TrainConfig::default().eval_trials,
            /// Adam learning rate.
            #[arg(allow_negative_numbers = true)]
            lr: f64 = TrainConfig::default().lr,
            /// Trials per Adam update.
            #[arg(value_parser = count, allow_negative_numbers = true)]
            batch: usize = TrainConfig::default().batch,
            /// Loss over the output trace (l2 is the paper's).
            loss: Loss = TrainConfig::default().loss,
            /// Stopping rule: mean evaluation loss below this.
            #[arg(allow_negative_numbers = true)]
            loss_threshold: f64 = TrainConfig::default().loss_threshold,
            /// Stopping rule: evaluation accuracy (fraction) above this.
            #[arg(allow_negative_numbers = true)]
            acc_threshold: f64 = TrainConfig::default().acc_threshold,
            /// SD σ_rec of the recurrent noise during training, per unit and
            /// rate step of 5 ms: x_t += σ_rec·N(0, 1) (0.1 = the paper's
            /// N(0, 0.01)); the stopping rule's evaluations keep 0.1.
            #[arg(long = "rec-noise", allow_negative_numbers = true)]
            rec_noise_sd: f64 = TrainConfig::default().noise.rec_sd,
            /// SD σ_in of Gaussian noise added to every input channel and
            /// rate step of a training trial (0: clean inputs).
            #[arg(long = "input-noise", allow_negative_numbers = true)]
            input_noise_sd: f64 = TrainConfig::default().noise.input_sd,
        }
    }
}

section! {
    /// The λ search and the spiking network (`[search]`).
    SearchSection in "search", toml SearchPatch {
        /// Lambda-search flags.
        flags SearchFlags {
            /// Coarse λ grid START:STOP:STEP (inclusive) or a list a,b,c.
            lambdas: String = grid_text(&SearchOptions::default().lambdas),
            /// Trials per λ.
            #[arg(value_parser = count, allow_negative_numbers = true)]
            trials: usize = SearchOptions::default().n_trials,
            /// Refine around the best coarse λ (flag `--no-refine`: the
            /// MATLAB-identical grid only).
            #[arg(long = "no-refine", num_args = 0, default_missing_value = "false")]
            refine: bool = SearchOptions::default().refine,
            /// How the refinement picks λ: peak (best finalist) or margin
            /// (highest lower 95 % Wilson bound of the trials within ±1 of
            /// λ; docs/conversion.md, option d).
            lambda_rule: LambdaRule = SearchOptions::default().lambda_rule,
            /// After λ is chosen, refit the spiking readout (w, b) by ridge
            /// regression on the spiking rates of fresh fitting trials and
            /// evaluate with it (docs/conversion.md, option b);
            /// `--refit-readout=false` turns it off.
            #[arg(num_args = 0..=1, require_equals = true, default_missing_value = "true")]
            refit_readout: bool = false,
            /// Fitting trials K of the readout refit.
            #[arg(value_parser = count, allow_negative_numbers = true)]
            refit_trials: usize = RefitOptions::default().n_trials,
            /// Fraction of the fitting trials held out to choose the ridge
            /// penalty, in (0, 1).
            #[arg(allow_negative_numbers = true)]
            refit_holdout: f64 = RefitOptions::default().holdout,
        }
        /// Spiking-network flags shared by search, eval, simulate and run.
        flags SpikeFlags {
            /// Scoring protocol of spiking trials: paper (MATLAB's
            /// lambda_grid_search.m, which scored the published numbers) or
            /// strict (the task's response window; NoGo max |output| < 0.3).
            /// See docs/model.md, "Scoring protocols".
            scoring: ScoringPreset = ScoringPreset::default(),
            /// Score from this spiking step (0.05 ms each; before
            /// down-sampling) instead of the preset's window.
            #[arg(value_parser = count, allow_negative_numbers = true)]
            window_start: usize,
            /// NoGo trials (go-nogo) instead of the preset's rule: abs = max
            /// |output| < 0.3, max = max output < 0.3.
            nogo_rule: NoGoRule,
            /// Down-sampling factor d: every d-th stimulus column, dt = d·0.05 ms.
            #[arg(value_parser = count, allow_negative_numbers = true)]
            downsample: usize = SearchOptions::default().downsample,
            /// Neuron model of the spiking network.
            neuron: NeuronModel = ConversionOptions::default().neuron.model,
            /// Convert the initial weights w0 instead of the trained w.
            #[arg(num_args = 0, default_missing_value = "true")]
            initial_weights: bool = ConversionOptions::default().use_initial_weights,
            /// Keep negative raw weights of a Dale model (files of the Python
            /// tutorial) instead of applying relu.
            #[arg(num_args = 0, default_missing_value = "true")]
            keep_negative_weights: bool = ConversionOptions::default().keep_negative_weights,
            /// Absolute refractory period of the spiking neurons in ms
            /// (default: the neuron model's, 2 ms; the paper's Fig. 6A
            /// sweeps 0–50 ms).
            #[arg(allow_negative_numbers = true)]
            refractory_ms: f64,
            /// Synaptic rise time in ms; 0 selects the single-exponential synapse.
            #[arg(allow_negative_numbers = true)]
            tr_ms: f64 = ConversionOptions::default().tr_ms,
            /// Add the rate network's output bias b_out to the spiking
            /// readout: out = (w_out/λ)·r + b_out (docs/conversion.md,
            /// option a); `--output-bias=false` turns it off.
            #[arg(num_args = 0..=1, require_equals = true, default_missing_value = "true")]
            output_bias: bool = ConversionOptions::default().output_bias,
            /// Lesion applied to the loaded network before conversion
            /// (repeatable): TARGET:ACTION, e.g. ii:scale=0.7, ee:remove=0.5,
            /// units=I:remove; in a connection class (ee, ei, ie, ii) the
            /// first letter is the postsynaptic population. Random removals
            /// draw from --seed; the model file is never changed.
            #[arg(value_name = "LESION", action = clap::ArgAction::Append, value_parser = parse_lesion)]
            lesion: Vec<Lesion> = Vec::new(),
        }
    }
}

section! {
    /// The final spiking evaluation (`[eval]`).
    EvalSection in "eval", toml EvalPatch {
        /// Evaluation flags.
        flags EvalFlags {
            /// Fresh trials of the spiking evaluation.
            #[arg(value_parser = count, allow_negative_numbers = true)]
            trials: usize = EvalOptions::default().n_trials,
        }
    }
}

/// Taus in the file form: one value or [min, max] (rate steps of 5 ms).
fn taus_list(t: Taus) -> Vec<f64> {
    match t {
        Taus::Fixed(v) => vec![v],
        Taus::Range(a, b) => vec![a, b],
    }
}

/// A λ grid as text: `START:STOP:STEP` when evenly spaced (as the library's
/// default is), else `a,b,c`.
pub(super) fn grid_text(g: &[f64]) -> String {
    let even = g.len() > 2
        && g.windows(2)
            .all(|w| ((w[1] - w[0]) - (g[1] - g[0])).abs() < 1e-9);
    if even {
        format!("{}:{}:{}", g[0], g[g.len() - 1], g[1] - g[0])
    } else {
        g.iter().map(f64::to_string).collect::<Vec<_>>().join(",")
    }
}
