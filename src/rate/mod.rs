//! The rate half: the continuous-rate RNN, its forward pass and exact
//! gradient, and its training.
//!
//! - [`network`] — parameters, initialisation, the effective recurrent
//!   matrix (docs/model.md#rate-network; re-exported here);
//! - [`bptt`] — forward pass and backpropagation through time;
//! - [`train`] — Adam and the training protocol with its stopping rule;
//! - [`wgrad`] — the recurrent-weight gradient over the live weights only.

pub mod bptt;
pub mod network;
pub mod train;
pub mod wgrad;

pub use network::*;
