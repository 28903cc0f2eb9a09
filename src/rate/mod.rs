//! The rate half: the continuous-rate RNN, its forward pass and exact
//! gradient, and its training.
//!
//! - [`network`] — parameters, initialisation, the effective recurrent
//!   matrix (docs/model.md#rate-network; re-exported here);
//! - [`bptt`] — forward pass and backpropagation through time;
//! - [`train`] — Adam and the training protocol with its stopping rule.

pub mod bptt;
pub mod network;
pub mod train;

pub use network::*;
