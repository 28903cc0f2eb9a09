//! The spiking network in one import (kept for existing `spiking::lif::…`
//! paths): the pieces live in [`super::neuron`] (the LIF/QIF step),
//! [`super::synapse`] (the double-exponential filter), [`super::network`]
//! (the conversion) and [`super::simulate`] (the trial loop); the noise
//! sampler in [`crate::rng`].

pub use super::network::{ConversionOptions, LifNetwork};
pub use super::neuron::{neuron_step, LifParams, LifState, NeuronConsts, NeuronModel};
pub use super::simulate::{Opto, OptoMode, Record, SimOptions, SimResult};
pub use super::synapse::{synapse_step, SynapseParams, SynapseState};
pub use crate::rng::{fill_normal, normal_pair};
