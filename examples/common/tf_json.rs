//! Build a [`RateModel`] from the JSON export of the MATLAB fixture
//! (`/work/tf_model.json`: keys w, w0, m, som_m, w_in, w_out, b_out, inh, taus,
//! taus_gaus, taus_gaus0 as nested lists). Shared by the fidelity example and
//! the benchmark; to be replaced by the `.mat` loader after the merge.

use std::path::Path;

use ndarray::{Array1, Array2};
use spikernn::rate::{Activation, RateModel, Taus};

fn matrix(v: &serde_json::Value, key: &str) -> Array2<f64> {
    let rows = v[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key}: not a list"));
    let data: Vec<Vec<f64>> = rows
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap_or_else(|| panic!("{key}: not a nested list"))
                .iter()
                .map(|x| x.as_f64().unwrap_or_else(|| panic!("{key}: not a number")))
                .collect()
        })
        .collect();
    let (nr, nc) = (data.len(), data[0].len());
    Array2::from_shape_vec((nr, nc), data.concat()).expect("rectangular")
}

/// The model stored at `path`.
pub fn load(path: &Path) -> RateModel {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let v: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    let flat = |key: &str| -> Array1<f64> { matrix(&v, key).iter().cloned().collect() };
    let inh: Vec<bool> = flat("inh").iter().map(|&x| x != 0.0).collect();
    let taus = Taus::from_slice(&flat("taus").to_vec()).expect("valid taus");
    let m = matrix(&v, "m");
    let som_n = {
        let sm = matrix(&v, "som_m");
        (0..sm.nrows())
            .filter(|&i| (0..sm.ncols()).any(|j| sm[[i, j]] == 0.0))
            .count()
    };
    RateModel {
        w: matrix(&v, "w"),
        w0: matrix(&v, "w0"),
        m,
        som_m: matrix(&v, "som_m"),
        w_in: matrix(&v, "w_in"),
        w_out: flat("w_out"),
        b_out: flat("b_out")[0],
        som_n,
        inh,
        taus,
        taus_gaus: flat("taus_gaus"),
        taus_gaus0: flat("taus_gaus0"),
        activation: Activation::Sigmoid,
        dale: true,
        training: None,
        search: None,
        task: Some("go-nogo".into()),
    }
}
