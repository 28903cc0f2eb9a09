//! The spiking half: the LIF (or QIF) network built one-to-one from a trained
//! rate network, its simulation, the λ search and the spiking evaluation.
//!
//! - [`lif`] — neuron and synapse models, conversion, simulation;
//! - [`search`] — λ grid search and evaluation on fresh trials.

pub mod lif;
pub mod search;

pub use lif::{ConversionOptions, LifNetwork, Record, SimOptions, SimResult};
pub use search::{evaluate, grid_search, EvalOptions, EvalResult, SearchOptions, SearchResult};
