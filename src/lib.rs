//! # spikernn
//!
//! Functional spiking recurrent neural networks by the method of Kim, Li &
//! Sejnowski (PNAS 2019): train a continuous-rate RNN obeying Dale's principle
//! by backpropagation through time, map it one-to-one onto a leaky
//! integrate-and-fire network, find the scaling factor lambda, evaluate.
//!
//! The layout follows the method:
//! - [`task`] — cognitive tasks (stimulus, target, scoring), one definition
//!   for the rate and the spiking network;
//! - [`rate`] — the rate half: network ([`rate::network`]), BPTT
//!   ([`rate::bptt`]), training ([`rate::train`]);
//! - [`spiking`] — the spiking half: LIF/QIF network and its simulation
//!   ([`spiking::lif`]), λ search and evaluation ([`spiking::search`]);
//! - [`io`] — `.mat` files, model files, atomic writes;
//! - [`report`] — figures and the run report;
//! - [`lesion`] — lesions and manipulations of a trained network;
//! - [`config`] — every parameter with its default and unit;
//! - [`pipeline`] — the whole tutorial in one call;
//! - [`observe`] — progress events and cancellation (the library never
//!   prints);
//! - [`units`] — time steps and their ratios; [`rng`] — seeded streams.

#![warn(missing_docs)]

pub mod config;
pub mod error;
pub mod io;
pub mod lesion;
pub mod observe;
pub mod pipeline;
pub mod rate;
pub mod report;
pub mod rng;
pub mod spiking;
pub mod sweep;
pub mod task;
pub mod units;

pub use error::{Error, Result};
