//! The spiking half: the LIF (or QIF) network built one-to-one from a trained
//! rate network, its simulation, the λ search and the spiking evaluation.
//!
//! Where is …
//! - the LIF step (membrane equation, refractory clock, threshold) —
//!   [`neuron`];
//! - the synapse (double-exponential filter) — [`synapse`];
//! - the conversion W_spk = ((w·m) ⊙ som_m)/λ — [`network`];
//! - several trials of one network at once, in SIMD lanes (used by the
//!   search and the evaluation) — [`batch`];
//! - the trial loop (input → integrate + noise → opto → spikes → synapses →
//!   output) — [`simulate`];
//! - the λ grid search (coarse grid → refinement → finalists) — [`search`];
//! - the evaluation on fresh trials — [`eval`];
//! - the readout refit after the search (option, off by default) — [`readout`];
//! - the dot-product kernel — [`kernels`].
//!
//! [`lif`] re-exports the network pieces under their former path.

pub mod batch;
pub mod eval;
pub mod kernels;
pub mod lif;
pub mod network;
pub mod neuron;
pub mod readout;
pub mod search;
pub mod simulate;
pub mod synapse;
#[cfg(test)]
pub(crate) mod testutil;
mod trials;

pub use batch::{BatchTrial, BATCH};
pub use eval::{evaluate, EvalOptions, EvalResult, GroupStats};
pub use network::{ConversionOptions, LifNetwork};
pub use neuron::{LifParams, NeuronModel};
pub use search::{grid_search, LambdaPoint, SearchOptions, SearchResult, SearchStage};
pub use simulate::{Opto, OptoMode, Record, SimOptions, SimResult};
