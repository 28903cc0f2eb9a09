//! # spikernn
//!
//! Functional spiking recurrent neural networks by the method of Kim, Li &
//! Sejnowski (PNAS 2019): train a continuous-rate RNN obeying Dale's principle
//! by backpropagation through time, map it one-to-one onto a leaky
//! integrate-and-fire network, find the scaling factor lambda, evaluate.
//!
//! Modules, one per concept:
//! - [`task`] — cognitive tasks (stimulus, target, scoring) shared by the rate
//!   and the spiking network;
//! - [`rate`] — the rate network's parameters and initialisation;
//! - [`bptt`] — its forward pass and exact gradient;
//! - [`train`] — Adam and the training protocol;
//! - [`mat`] — MATLAB level-5 `.mat` reader/writer;
//! - [`model_file`] — rate models ↔ `.mat` files;
//! - [`lif`] — the spiking (LIF/QIF) network and its simulation;
//! - [`search`] — lambda grid search and spiking evaluation;
//! - [`plot`] — figures;
//! - [`config`] — the run configuration (every flag, TOML);
//! - [`pipeline`] — the whole tutorial in one call;
//! - [`progress`] — progress bars that leave plain lines in logs;
//! - [`rng`] — seeded random streams.

#![warn(missing_docs)]

pub mod bptt;
pub mod config;
pub mod error;
pub mod lif;
pub mod mat;
pub mod model_file;
pub mod pipeline;
pub mod plot;
pub mod progress;
pub mod rate;
pub mod rng;
pub mod search;
pub mod task;
pub mod train;

pub use error::{Error, Result};
