//! Lesions and manipulations of a trained network, applied after loading
//! (the model file is never changed) and seen by the rate and the spiking
//! network alike, since the spiking network is built from the rate model's
//! weights.
//!
//! A lesion is written `TARGET:ACTION`:
//!
//! | target | the connections w_ij (row i postsynaptic, column j presynaptic) |
//! |---|---|
//! | `ee`, `ei`, `ie`, `ii` | a connection class; the FIRST letter is the postsynaptic population (`ei`: I → E) |
//! | `all` | every connection |
//! | `self` | the self-connections w_ii |
//! | `units=E`, `units=I`, `units=3,17,42` | the outgoing connections and the readout weight of those units (0-based indices) |
//! | `units=tau-longest:K`, `units=tau-shortest:K` | the K units with the longest / shortest synaptic decay |
//!
//! | action | effect |
//! |---|---|
//! | `remove` | set the targeted weights to 0 (a removed unit is silenced: nothing it does reaches another unit or the readout) |
//! | `remove=F` | a random fraction F ∈ [0, 1] of the targeted existing connections (w_ij ≠ 0 in the effective matrix), drawn from the run's seed |
//! | `scale=F` | multiply the targeted weights by F ≥ 0 (Kim & Sejnowski 2021 scaled inhibition ×0.7 and ×1.3) |
//!
//! Weights are changed in the raw `w` and `w0` (so `--initial-weights`
//! sees the same lesion); under Dale's principle the effective weight is
//! `relu(w)·m`, and scaling by F ≥ 0 scales it by F. Random removal uses the
//! stream (seed, [`TAG`], lesion index), so a seed reproduces the lesion.
//!
//! # Examples
//!
//! ```
//! use spikernn::lesion::{apply, Lesion};
//! use spikernn::rate::{NetConfig, RateModel};
//!
//! let net = NetConfig { n: 20, ..NetConfig::default() };
//! let mut model = RateModel::init(&net, 1, &mut spikernn::rng::from_seed(1)).unwrap();
//! let before = model.effective_weights();
//! let l: Lesion = "ii:scale=0.7".parse().unwrap();
//! apply(&mut model, &[l], 1).unwrap();
//! let after = model.effective_weights();
//! for a in 0..20 {
//!     for b in 0..20 {
//!         let k = if model.inh[a] && model.inh[b] { 0.7 } else { 1.0 };
//!         assert!((after[[a, b]] - k * before[[a, b]]).abs() < 1e-12);
//!     }
//! }
//! ```

use std::fmt;
use std::str::FromStr;

use rand::seq::index::sample;
use serde::{Serialize, Serializer};

use crate::error::{Error, Result};
use crate::rate::RateModel;
use crate::rng;

/// Stream tag of random lesions (ASCII "LES").
pub const TAG: u64 = 0x004c_4553;

/// Which weights a lesion touches.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// A connection class: (postsynaptic inhibitory?, presynaptic inhibitory?).
    Class {
        /// The postsynaptic population is inhibitory.
        post_inh: bool,
        /// The presynaptic population is inhibitory.
        pre_inh: bool,
    },
    /// Every connection.
    All,
    /// The self-connections.
    SelfConnections,
    /// The outgoing connections and readout weights of a set of units.
    Units(UnitSet),
}

/// A set of units.
#[derive(Debug, Clone, PartialEq)]
pub enum UnitSet {
    /// Every excitatory unit.
    Excitatory,
    /// Every inhibitory unit.
    Inhibitory,
    /// These 0-based indices.
    Indices(Vec<usize>),
    /// The `k` units with the longest (`true`) or shortest synaptic decay.
    Tau {
        /// Longest (`true`) or shortest.
        longest: bool,
        /// How many.
        k: usize,
    },
}

/// What a lesion does to the targeted weights.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Action {
    /// Set a random fraction (1 = all) of the existing targeted connections to 0.
    Remove(f64),
    /// Multiply the targeted weights by a factor ≥ 0.
    Scale(f64),
}

/// One lesion: a target and an action (see the module doc for the syntax).
#[derive(Debug, Clone, PartialEq)]
pub struct Lesion {
    /// Which weights.
    pub target: Target,
    /// What happens to them.
    pub action: Action,
}

fn bad(msg: impl Into<String>) -> Error {
    Error::param("lesion", msg)
}

impl FromStr for UnitSet {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim();
        if let Some((kind, k)) = s.split_once(':') {
            let k: usize = k
                .parse()
                .map_err(|_| bad(format!("'{k}' is not a unit count")))?;
            return match kind {
                "tau-longest" => Ok(UnitSet::Tau { longest: true, k }),
                "tau-shortest" => Ok(UnitSet::Tau { longest: false, k }),
                o => Err(bad(format!(
                    "unknown unit set '{o}' (expected tau-longest:K or tau-shortest:K)"
                ))),
            };
        }
        match s {
            "E" | "e" | "exc" => Ok(UnitSet::Excitatory),
            "I" | "i" | "inh" => Ok(UnitSet::Inhibitory),
            list => list
                .split(',')
                .map(|t| {
                    t.trim().parse::<usize>().map_err(|_| {
                        bad(format!(
                            "'{t}' is not a unit index (units=E, units=I, units=0,5,7, units=tau-longest:K)"
                        ))
                    })
                })
                .collect::<Result<Vec<_>>>()
                .map(UnitSet::Indices),
        }
    }
}

impl FromStr for Target {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let class = |post_inh, pre_inh| Ok(Target::Class { post_inh, pre_inh });
        match s.trim() {
            "ee" => class(false, false),
            "ei" => class(false, true),
            "ie" => class(true, false),
            "ii" => class(true, true),
            "all" => Ok(Target::All),
            "self" => Ok(Target::SelfConnections),
            t => match t.strip_prefix("units=") {
                Some(set) => set.parse().map(Target::Units),
                None => Err(bad(format!(
                    "unknown target '{t}' (expected ee, ei, ie, ii, all, self or units=…)"
                ))),
            },
        }
    }
}

impl FromStr for Action {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let num = |v: &str, what: &str| -> Result<f64> {
            let x: f64 = v
                .parse()
                .map_err(|_| bad(format!("'{v}' is not a number ({what})")))?;
            if !x.is_finite() || x < 0.0 {
                return Err(bad(format!("{what} must be a finite number ≥ 0, got {v}")));
            }
            Ok(x)
        };
        match s.trim().split_once('=') {
            None if s.trim() == "remove" => Ok(Action::Remove(1.0)),
            Some(("remove", v)) => {
                let f = num(v, "fraction")?;
                if f > 1.0 {
                    return Err(bad(format!("remove fraction must be in [0, 1], got {v}")));
                }
                Ok(Action::Remove(f))
            }
            Some(("scale", v)) => num(v, "scale factor").map(Action::Scale),
            _ => Err(bad(format!(
                "unknown action '{s}' (expected remove, remove=F or scale=F)"
            ))),
        }
    }
}

impl FromStr for Lesion {
    type Err = Error;
    /// Parse `TARGET:ACTION`, e.g. `ii:scale=0.7`, `ee:remove=0.5`,
    /// `units=E:remove`, `units=tau-longest:10:remove`.
    fn from_str(s: &str) -> Result<Self> {
        let (target, action) = s
            .rsplit_once(':')
            .ok_or_else(|| bad(format!("'{s}' is not TARGET:ACTION (e.g. ii:scale=0.7)")))?;
        Ok(Lesion {
            target: target.parse()?,
            action: action.parse()?,
        })
    }
}

impl fmt::Display for Lesion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.target {
            Target::Class { post_inh, pre_inh } => {
                let p = |inh: &bool| if *inh { "i" } else { "e" };
                write!(f, "{}{}", p(post_inh), p(pre_inh))?
            }
            Target::All => write!(f, "all")?,
            Target::SelfConnections => write!(f, "self")?,
            Target::Units(UnitSet::Excitatory) => write!(f, "units=E")?,
            Target::Units(UnitSet::Inhibitory) => write!(f, "units=I")?,
            Target::Units(UnitSet::Indices(v)) => {
                let l: Vec<String> = v.iter().map(|i| i.to_string()).collect();
                write!(f, "units={}", l.join(","))?
            }
            Target::Units(UnitSet::Tau { longest, k }) => {
                let which = if *longest { "longest" } else { "shortest" };
                write!(f, "units=tau-{which}:{k}")?
            }
        }
        match self.action {
            Action::Remove(1.0) => write!(f, ":remove"),
            Action::Remove(x) => write!(f, ":remove={x}"),
            Action::Scale(x) => write!(f, ":scale={x}"),
        }
    }
}

/// Lesions serialise as their `TARGET:ACTION` text.
impl Serialize for Lesion {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Lesion {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// What [`apply`] changed, per lesion.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Applied {
    /// The lesion, as written.
    pub lesion: Lesion,
    /// Connections (nonzero effective weights) it removed or scaled.
    pub connections: usize,
    /// Units whose readout weight it removed or scaled (unit lesions).
    pub readout_units: usize,
}

/// The units a [`UnitSet`] names in `model`; indices are checked against N.
fn units(model: &RateModel, set: &UnitSet) -> Result<Vec<usize>> {
    let n = model.n();
    let v: Vec<usize> = match set {
        UnitSet::Excitatory => (0..n).filter(|&i| !model.inh[i]).collect(),
        UnitSet::Inhibitory => (0..n).filter(|&i| model.inh[i]).collect(),
        UnitSet::Indices(v) => v.clone(),
        UnitSet::Tau { longest, k } => {
            let tau = model.tau_steps();
            let mut idx: Vec<usize> = (0..n).collect();
            idx.sort_by(|&a, &b| tau[a].total_cmp(&tau[b]).then(a.cmp(&b)));
            if *longest {
                idx.reverse();
            }
            idx.truncate(*k);
            idx
        }
    };
    if let Some(&i) = v.iter().find(|&&i| i >= n) {
        return Err(bad(format!("unit {i} does not exist (N = {n})")));
    }
    Ok(v)
}

/// Weight entries (post, pre) and readout units a target covers.
type Cells = (Vec<(usize, usize)>, Vec<usize>);

/// The (post, pre) entries a target covers, with their readout units.
fn entries(model: &RateModel, target: &Target) -> Result<Cells> {
    let n = model.n();
    let all = (0..n).flat_map(|i| (0..n).map(move |j| (i, j)));
    Ok(match target {
        Target::Class { post_inh, pre_inh } => (
            all.filter(|&(i, j)| model.inh[i] == *post_inh && model.inh[j] == *pre_inh)
                .collect(),
            vec![],
        ),
        Target::All => (all.collect(), vec![]),
        Target::SelfConnections => ((0..n).map(|i| (i, i)).collect(), vec![]),
        Target::Units(set) => {
            let u = units(model, set)?;
            let cols = u
                .iter()
                .flat_map(|&j| (0..n).map(move |i| (i, j)))
                .collect();
            (cols, u)
        }
    })
}

/// Apply `lesions` in order to `model` (its `w`, `w0` and `w_out`); random
/// removals draw from `seed`. Returns what each lesion changed.
pub fn apply(model: &mut RateModel, lesions: &[Lesion], seed: u64) -> Result<Vec<Applied>> {
    let mut out = Vec::with_capacity(lesions.len());
    for (k, l) in lesions.iter().enumerate() {
        let (cells, readout) = entries(model, &l.target)?;
        let w_eff = model.effective_weights();
        let live: Vec<(usize, usize)> = cells
            .into_iter()
            .filter(|&(i, j)| w_eff[[i, j]] != 0.0)
            .collect();
        let (chosen, factor) = match l.action {
            Action::Scale(f) => (live, f),
            Action::Remove(frac) => {
                let m = (frac * live.len() as f64).round() as usize;
                let mut r = rng::stream(seed, &[TAG, k as u64]);
                let mut pick: Vec<usize> = sample(&mut r, live.len(), m).into_vec();
                pick.sort_unstable();
                (pick.into_iter().map(|p| live[p]).collect(), 0.0)
            }
        };
        for &(i, j) in &chosen {
            model.w[[i, j]] *= factor;
            model.w0[[i, j]] *= factor;
        }
        let readout_factor = match l.action {
            Action::Scale(f) => f,
            Action::Remove(_) => 0.0,
        };
        for &j in &readout {
            model.w_out[j] *= readout_factor;
        }
        out.push(Applied {
            lesion: l.clone(),
            connections: chosen.len(),
            readout_units: readout.len(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rate::Taus;
    use ndarray::{arr1, Array2};

    /// Units 0, 1 excitatory, 2, 3 inhibitory; every w_ij = 1 + i + 10 j
    /// (distinct, positive), so the effective W = w · m.
    fn toy() -> RateModel {
        let n = 4;
        let w = Array2::from_shape_fn((n, n), |(i, j)| 1.0 + i as f64 + 10.0 * j as f64);
        let inh = vec![false, false, true, true];
        let mut m = crate::spiking::testutil::toy_model(w, vec![1.0; n], inh);
        m.w_out = arr1(&[1.0, 2.0, 3.0, 4.0]);
        m.taus = Taus::Range(4.0, 20.0);
        m.taus_gaus = arr1(&[0.0, 2.0, -2.0, 1.0]);
        m
    }

    fn les(s: &str) -> Lesion {
        s.parse().unwrap()
    }

    #[test]
    fn class_scaling_touches_only_its_block() {
        let mut m = toy();
        let w = m.w.clone();
        apply(&mut m, &[les("ii:scale=0.7"), les("ei:scale=1.3")], 1).unwrap();
        for i in 0..4 {
            for j in 0..4 {
                let k = match (i >= 2, j >= 2) {
                    (true, true) => 0.7,
                    (false, true) => 1.3,
                    _ => 1.0,
                };
                assert_eq!(m.w[[i, j]], k * w[[i, j]], "({i}, {j})");
                assert_eq!(m.w0[[i, j]], k * w[[i, j]]);
            }
        }
        assert_eq!(m.w_out, arr1(&[1.0, 2.0, 3.0, 4.0]));
    }

    #[test]
    fn removing_units_silences_their_output_and_readout() {
        let mut m = toy();
        let a = apply(&mut m, &[les("units=I:remove")], 1).unwrap();
        for i in 0..4 {
            assert_eq!(m.w[[i, 2]], 0.0);
            assert_eq!(m.w[[i, 3]], 0.0);
            assert_eq!(m.w[[i, 0]], 1.0 + i as f64);
        }
        assert_eq!(m.w_out, arr1(&[1.0, 2.0, 0.0, 0.0]));
        assert_eq!((a[0].connections, a[0].readout_units), (8, 2));
    }

    #[test]
    fn random_removal_takes_the_fraction_of_live_connections_by_seed() {
        let mut m = toy();
        m.w[[0, 1]] = 0.0; // an absent E→E connection is not counted
        let a = apply(&mut m.clone(), &[les("ee:remove=0.5")], 7).unwrap();
        // 3 live E→E connections, half of them rounded: 2.
        assert_eq!(a[0].connections, 2);
        let mut m1 = m.clone();
        let mut m2 = m.clone();
        apply(&mut m1, &[les("ee:remove=0.5")], 7).unwrap();
        apply(&mut m2, &[les("ee:remove=0.5")], 7).unwrap();
        assert_eq!(m1.w, m2.w);
        let zero_ee = [(0, 0), (0, 1), (1, 0), (1, 1)]
            .iter()
            .filter(|&&(i, j)| m1.w[[i, j]] == 0.0)
            .count();
        assert_eq!(zero_ee, 3);
        // Nothing outside the E→E block moved.
        assert_eq!(
            m1.w.slice(ndarray::s![.., 2..]),
            m.w.slice(ndarray::s![.., 2..])
        );
    }

    #[test]
    fn self_connections_and_tau_sets() {
        let mut m = toy();
        apply(&mut m, &[les("self:remove")], 1).unwrap();
        assert!((0..4).all(|i| m.w[[i, i]] == 0.0));
        assert_eq!(m.w[[0, 1]], 11.0);
        // taus_gaus 0, 2, −2, 1: the longest decay is unit 1, then 3.
        let u = units(&toy(), &"tau-longest:2".parse().unwrap()).unwrap();
        assert_eq!(u, vec![1, 3]);
        let u = units(&toy(), &"tau-shortest:1".parse().unwrap()).unwrap();
        assert_eq!(u, vec![2]);
    }

    #[test]
    fn text_round_trips_and_bad_specs_name_the_flag() {
        for s in [
            "ii:scale=0.7",
            "ee:remove=0.5",
            "units=E:remove",
            "units=1,3:scale=2",
            "units=tau-longest:10:remove",
            "self:remove",
            "all:scale=1.3",
        ] {
            assert_eq!(les(s).to_string(), s);
        }
        for s in [
            "xx:remove",
            "ii",
            "ii:scale=-1",
            "ee:remove=1.5",
            "units=a:remove",
            "ii:grow=2",
        ] {
            let e = s.parse::<Lesion>().unwrap_err().to_string();
            assert!(e.contains("lesion"), "{s}: {e}");
        }
        let e = apply(&mut toy(), &[les("units=9:remove")], 1)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unit 9"), "{e}");
    }
}
