//! Rate models ↔ `.mat`: round trips, the real TensorFlow/MATLAB file,
//! tutorial-style files and error messages.

use std::path::{Path, PathBuf};

use spikernn::io::mat::{self, MatData, MatVar};
use spikernn::io::model_file::{
    load_model, load_model_with_warnings, model_to_vars, save_model, write_search_record,
};
use spikernn::rate::{
    Activation, EvalPoint, NetConfig, RateModel, RefitRecord, SearchRecord, Taus, TrainNoise,
    TrainingRecord,
};
use spikernn::{rng, Error};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

const TF: &str = "tf_sst_go_nogo_N200.mat";

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs().max(1.0)
}

fn model(seed: u64, taus: Taus, som_n: usize) -> RateModel {
    let cfg = NetConfig {
        n: 40,
        p_inh: 0.25,
        som_n,
        taus,
        activation: Activation::Softplus,
        ..NetConfig::default()
    };
    let mut m = RateModel::init(&cfg, 2, &mut rng::from_seed(seed)).unwrap();
    // Make trained and initial values differ.
    m.w.mapv_inplace(|v| v * 1.5);
    m.taus_gaus.mapv_inplace(|g| g + 0.25);
    m.b_out = -0.125;
    m
}

#[test]
fn model_round_trip_equal_and_stable() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = model(11, Taus::Range(4.0, 20.0), 3);
    m.training = Some(TrainingRecord {
        losses: vec![30.5, 12.25, 6.0, 1e-3],
        trials: 1700,
        eval_perf_mean: 0.97,
        eval_loss_mean: 5.5,
        evals: vec![
            EvalPoint {
                trial: 1600,
                loss: 8.5,
                accuracy: 0.9,
            },
            EvalPoint {
                trial: 1700,
                loss: 5.5,
                accuracy: 0.97,
            },
        ],
        noise: TrainNoise {
            rec_sd: 0.3,
            input_sd: 0.05,
        },
    });
    m.search = Some(SearchRecord {
        opt_scaling_factor: 35.0,
        all_perfs: vec![0.5, 0.9, 0.97],
        scaling_factors: vec![25.0, 30.0, 35.0],
        refit: Some(RefitRecord {
            w_out_spk: (0..m.n()).map(|i| 0.1 * i as f64).collect(),
            b_out_spk: -0.25,
            lambda: 35.0,
            alpha: 1.5,
            trials: 100,
            holdout_mse: 0.02,
        }),
    });
    m.task = Some("go-nogo".into());
    let p1 = dir.path().join("a.mat");
    save_model(&p1, &m).unwrap();
    let (back, warns) = load_model_with_warnings(&p1).unwrap();
    assert!(warns.is_empty());
    assert_eq!(back, m);

    // save → load → save: identical variables (and bytes).
    let p2 = dir.path().join("b.mat");
    save_model(&p2, &back).unwrap();
    let (f1, f2) = (mat::read(&p1).unwrap(), mat::read(&p2).unwrap());
    assert_eq!(f1.vars, f2.vars);
    assert_eq!(std::fs::read(&p1).unwrap(), std::fs::read(&p2).unwrap());

    // The file layout of docs/model.md#model-files.
    let n = 40;
    let dims = |k: &str| f1.get(k).unwrap().dims.clone();
    let class = |k: &str| f1.get(k).unwrap().data.class_name();
    for k in ["w", "w0", "m", "som_m"] {
        assert_eq!(dims(k), vec![n, n], "{k}");
        assert_eq!(class(k), "double");
    }
    assert_eq!(dims("w_in"), vec![n, 2]);
    assert_eq!(dims("w_out"), vec![1, n]);
    assert_eq!(dims("b_out"), vec![1, 1]);
    assert_eq!(dims("inh"), vec![n, 1]);
    assert_eq!(class("inh"), "logical");
    assert_eq!(class("exc"), "logical");
    assert_eq!(dims("taus"), vec![1, 2]);
    assert_eq!(dims("taus_gaus"), vec![n, 1]);
    assert_eq!(dims("taus_gaus0"), vec![n, 1]);
    assert_eq!(class("N"), "int64");
    assert_eq!(f1.get("N").unwrap().data, MatData::I64(vec![40]));
    assert_eq!(f1.get("som_N").unwrap().data, MatData::I64(vec![3]));
    assert_eq!(f1.get("tr").unwrap().data, MatData::I64(vec![1700]));
    assert_eq!(f1.get("activation").unwrap().as_str(), Some("softplus"));
    assert_eq!(f1.get("task").unwrap().as_str(), Some("go-nogo"));
    assert_eq!(dims("losses"), vec![1, 4]);
    assert_eq!(dims("all_perfs"), vec![3, 1]);
    assert_eq!(dims("scaling_factors"), vec![1, 3]);
    // Row/column order: w[1, 0] is stored at column-major index 1.
    let w = f1.get("w").unwrap().to_f64().unwrap();
    assert_eq!(w[1], m.w[[1, 0]]);
    assert_eq!(w[n], m.w[[0, 1]]);
}

#[test]
fn model_round_trip_fixed_tau_no_records() {
    let dir = tempfile::tempdir().unwrap();
    let m = model(3, Taus::Fixed(10.0), 0);
    let p = dir.path().join("fixed.mat");
    save_model(&p, &m).unwrap();
    let back = load_model(&p).unwrap();
    assert_eq!(back, m);
    assert_eq!(back.training, None);
    assert_eq!(back.search, None);
    assert_eq!(mat::read(&p).unwrap().get("taus").unwrap().dims, vec![1, 1]);
}

#[test]
fn model_round_trip_no_dale() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = NetConfig {
        n: 30,
        dale: false,
        ..NetConfig::default()
    };
    let m = RateModel::init(&cfg, 1, &mut rng::from_seed(5)).unwrap();
    assert!(m.w.iter().any(|&v| v < 0.0));
    let p = dir.path().join("nodale.mat");
    save_model(&p, &m).unwrap();
    assert_eq!(load_model(&p).unwrap(), m);
}

#[test]
fn tf_file_loads_as_rate_model() {
    let (m, warns) = load_model_with_warnings(&fixture(TF)).unwrap();
    assert!(warns.is_empty(), "{warns:?}");
    // Values from tests/fixtures/tf_expected.py (scipy); float32 arrays widen
    // exactly to f64, so single entries compare exactly.
    assert_eq!(m.n(), 200);
    assert_eq!(m.n_inputs(), 1);
    assert_eq!(m.inh.iter().filter(|&&b| b).count(), 59);
    let first_inh: Vec<usize> = (0..200).filter(|&i| m.inh[i]).take(5).collect();
    assert_eq!(first_inh, vec![1, 6, 7, 9, 18]);
    assert!(m.dale);
    assert_eq!(m.som_n, 20);
    assert_eq!(m.b_out, 0.022129174321889877);
    assert_eq!(m.w_out[0], 0.05601392686367035);
    assert_eq!(m.w_out[199], -0.009213697165250778);
    assert_eq!(m.taus, Taus::Range(4.0, 20.0));
    assert_eq!(m.taus_gaus[0], -2.710752248764038);
    assert_eq!(m.taus_gaus[199], -0.45963335037231445);
    assert_eq!(m.taus_gaus0[0], -1.9373419284820557);
    assert_eq!(m.w[[0, 0]], 0.0);
    assert_eq!(m.w[[0, 79]], 0.6404211521148682);
    assert_eq!(m.w_in[[5, 0]], 0.15272179245948792);
    assert_eq!(m.activation, Activation::Sigmoid);
    let sum = |a: &mut dyn Iterator<Item = f64>| a.sum::<f64>();
    assert!(close(
        sum(&mut m.w.iter().copied()),
        1863.0596339336698,
        1e-9
    ));
    assert!(close(
        sum(&mut m.w0.iter().copied()),
        1504.723674703262,
        1e-9
    ));
    assert_eq!(sum(&mut m.m.iter().copied()), 82.0);
    assert_eq!(sum(&mut m.som_m.iter().copied()), 38820.0);
    assert_eq!(m.w.iter().filter(|&&v| v != 0.0).count(), 3121);
    assert!(m.w.iter().all(|&v| v >= 0.0));
    assert!(close(
        sum(&mut m.w_in.iter().copied()),
        3.1258513551438227,
        1e-9
    ));
    assert!(close(
        sum(&mut m.w_out.iter().copied()),
        -0.8662126203998923,
        1e-9
    ));
    assert!(close(
        sum(&mut m.taus_gaus.iter().copied()),
        -125.5304360203445,
        1e-9
    ));
    assert!(close(
        sum(&mut m.taus_gaus0.iter().copied()),
        11.419397439807653,
        1e-9
    ));
    let t = m.training.as_ref().unwrap();
    assert_eq!(t.trials, 1501);
    assert_eq!(t.losses.len(), 6000);
    assert_eq!(t.losses[0], 8.754937171936035);
    assert!(close(t.losses.iter().sum(), 3690.4746597856283, 1e-9));
    assert_eq!(t.eval_perf_mean, 1.0);
    assert_eq!(t.eval_loss_mean, 0.7871107429265976);
    let s = m.search.as_ref().unwrap();
    assert_eq!(s.opt_scaling_factor, 30.0);
    assert_eq!(
        s.all_perfs,
        vec![0.69, 0.85, 0.97, 0.97, 0.93, 0.95, 0.88, 0.76, 0.55, 0.36, 0.36, 0.45]
    );
    let lambdas: Vec<f64> = (0..12).map(|k| 20.0 + 5.0 * k as f64).collect();
    assert_eq!(s.scaling_factors, lambdas);
    assert_eq!(m.task, None);
    // SOM units: the first 20 inhibitory units receive no inhibition.
    let som: Vec<usize> = (0..200).filter(|&i| m.inh[i]).take(20).collect();
    for &i in &som {
        for j in 0..200 {
            assert_eq!(m.som_m[[i, j]], if m.inh[j] { 0.0 } else { 1.0 });
        }
    }
}

#[test]
fn tf_file_generic_reader_every_variable() {
    let f = mat::read(&fixture(TF)).unwrap();
    assert!(f.warnings.is_empty(), "{:?}", f.warnings);
    // Classes as MATLAB sees them (scipy.io.whosmat): the booleans are
    // logical, and MATLAB's search results are class double stored narrowly
    // as miUINT8 data (which scipy.io.loadmat returns as uint8 arrays).
    let expect: &[(&str, &str, &[usize], f64)] = &[
        ("x0", "single", &[200, 200, 1], 110963.76965205444),
        ("r0", "single", &[200, 200, 1], 35689.83497709036),
        ("w0", "single", &[200, 200], 1504.723674703262),
        ("taus_gaus0", "single", &[200, 1], 11.419397439807653),
        ("w_in0", "single", &[200, 1], 3.1258513551438227),
        ("u", "double", &[1, 200], 0.0),
        ("o", "single", &[199, 1, 1], -5.807038286700845),
        ("w", "single", &[200, 200], 1863.0596339336698),
        ("x", "single", &[200, 200, 1], -93693.38246022246),
        ("target", "double", &[1, 200], 0.0),
        ("w_out", "single", &[1, 200], -0.8662126203998923),
        ("r", "single", &[200, 200, 1], 6473.929924475378),
        ("m", "single", &[200, 200], 82.0),
        ("som_m", "single", &[200, 200], 38820.0),
        ("N", "int64", &[1, 1], 200.0),
        ("exc", "logical", &[200, 1], 141.0),
        ("inh", "logical", &[200, 1], 59.0),
        ("inh_som", "logical", &[200, 1], 20.0),
        ("inh_pv", "logical", &[200, 1], 39.0),
        ("w_in", "single", &[200, 1], 3.1258513551438227),
        ("b_out", "single", &[1, 1], 0.022129174321889877),
        ("som_N", "int64", &[1, 1], 20.0),
        ("losses", "double", &[1, 6000], 3690.4746597856283),
        ("taus", "double", &[1, 2], 24.0),
        ("eval_perf_mean", "double", &[1, 1], 1.0),
        ("eval_loss_mean", "double", &[1, 1], 0.7871107429265976),
        ("eval_os", "double", &[100, 199], 5923.841232884675),
        ("eval_labels", "double", &[1, 100], 54.0),
        ("taus_gaus", "single", &[200, 1], -125.5304360203445),
        ("tr", "int64", &[1, 1], 1501.0),
        ("all_perfs", "double", &[12, 1], 8.719999999999999),
        ("opt_scaling_factor", "double", &[1, 1], 30.0),
        ("scaling_factors", "double", &[1, 12], 570.0),
    ];
    for &(name, class, dims, s) in expect {
        let v = f.get(name).unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(v.data.class_name(), class, "{name}");
        assert_eq!(v.dims, dims, "{name}");
        let got: f64 = v.to_f64().unwrap().iter().sum();
        assert!(close(got, s, 1e-9), "{name}: sum {got} vs {s}");
    }
    assert_eq!(f.get("activation").unwrap().as_str(), Some("sigmoid"));
    assert_eq!(f.get("activation").unwrap().dims, vec![1, 7]);
    assert_eq!(f.vars.len(), expect.len() + 1);
    let x = f.get("x").unwrap().to_f64().unwrap();
    // x[1, 2, 0] at column-major index 1 + 2·200.
    assert_eq!(x[1 + 2 * 200], -0.42005401849746704);
    assert_eq!(
        f.get("o").unwrap().to_f64().unwrap()[198],
        0.012498375028371811
    );
    assert_eq!(
        f.get("scaling_factors").unwrap().data,
        MatData::F64((0..12).map(|k| f64::from(20 + 5 * k)).collect())
    );
}

#[test]
fn tf_file_search_record_update_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("tf.mat");
    std::fs::copy(fixture(TF), &p).unwrap();
    let before = mat::read(&p).unwrap();
    let rec = SearchRecord {
        opt_scaling_factor: 35.0,
        all_perfs: vec![0.5, 0.75],
        scaling_factors: vec![30.0, 35.0],
        refit: None,
    };
    write_search_record(&p, &rec).unwrap();
    let after = mat::read(&p).unwrap();
    assert_eq!(after.vars.len(), before.vars.len());
    for v in &before.vars {
        if ["opt_scaling_factor", "all_perfs", "scaling_factors"].contains(&v.name.as_str()) {
            continue;
        }
        assert_eq!(after.get(&v.name), Some(v), "{} changed", v.name);
    }
    assert_eq!(
        after.get("all_perfs").unwrap(),
        &MatVar::f64_col("all_perfs", vec![0.5, 0.75])
    );
    let m = load_model(&p).unwrap();
    assert_eq!(m.search, Some(rec));
    // Missing file: I/O error naming it.
    let e =
        write_search_record(&dir.path().join("none.mat"), &SearchRecord::default()).unwrap_err();
    assert!(matches!(e, Error::Io { .. }) && e.to_string().contains("none.mat"));
}

#[test]
fn tutorial_style_file_loads_with_defaults() {
    let m = load_model(&fixture("tutorial_style.mat")).unwrap();
    assert_eq!(m.n(), 4);
    assert_eq!(m.inh, vec![false, true, false, false]);
    assert!(m.dale);
    assert_eq!(m.b_out, 0.0);
    assert_eq!(m.som_n, 0);
    assert_eq!(m.activation, Activation::Sigmoid);
    assert_eq!(m.taus, Taus::Fixed(10.0));
    assert_eq!(m.training, None);
    assert_eq!(m.search, None);
    // w = arange(16).reshape(4, 4) / 100 in float32; w0 = 2 w.
    assert_eq!(m.w[[1, 2]], (6.0f32 / 100.0) as f64);
    assert_eq!(m.w0[[3, 1]], (13.0f32 / 100.0 * 2.0) as f64);
    assert_eq!(m.w_in[[3, 0]], 3.0);
    assert_eq!(m.w_out[2], (2.0f32 / 10.0) as f64);
    assert_eq!(m.taus_gaus.to_vec(), vec![-1.5, -0.5, 0.5, 1.5]);
    assert_eq!(m.taus_gaus0.to_vec(), vec![0.0; 4]);
    assert_eq!(m.m[[1, 1]], -1.0);
}

fn write_vars(dir: &Path, name: &str, vars: &[MatVar]) -> PathBuf {
    let p = dir.join(name);
    mat::write(&p, vars).unwrap();
    p
}

fn minimal(n: usize) -> Vec<MatVar> {
    vec![
        MatVar::f64_matrix("w", n, n, vec![0.1; n * n]),
        MatVar::f64_matrix("w_in", n, 1, vec![1.0; n]),
        MatVar::f64_row("w_out", vec![0.5; n]),
        MatVar::new(
            "exc",
            vec![n, 1],
            MatData::F64((0..n).map(|i| if i == 0 { 0.0 } else { 1.0 }).collect()),
        ),
        MatVar::f64_row("taus", vec![4.0, 4.0]),
        MatVar::f64_col("taus_gaus", vec![0.0; n]),
    ]
}

#[test]
fn minimal_file_signs_from_exc_and_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_vars(dir.path(), "min.mat", &minimal(3));
    let m = load_model(&p).unwrap();
    assert_eq!(m.inh, vec![true, false, false]);
    assert_eq!(m.m[[0, 0]], -1.0);
    assert_eq!(m.m[[2, 2]], 1.0);
    assert_eq!(m.w0, m.w);
    assert_eq!(m.som_m.sum(), 9.0);
    assert_eq!(m.taus, Taus::Fixed(4.0), "equal taus mean fixed");
}

#[test]
fn missing_key_names_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    for key in ["w", "w_in", "w_out", "taus", "taus_gaus"] {
        let vars: Vec<MatVar> = minimal(3).into_iter().filter(|v| v.name != key).collect();
        let p = write_vars(dir.path(), &format!("no_{key}.mat"), &vars);
        let e = load_model(&p).unwrap_err();
        assert!(
            matches!(&e, Error::MissingKey { key: k, .. } if k == key),
            "{key}: {e}"
        );
        let msg = e.to_string();
        assert!(
            msg.contains(&format!("no_{key}.mat")) && msg.contains(&format!("'{key}'")),
            "{msg}"
        );
    }
    // No way to get the signs.
    let vars: Vec<MatVar> = minimal(3).into_iter().filter(|v| v.name != "exc").collect();
    let p = write_vars(dir.path(), "nosigns.mat", &vars);
    let e = load_model(&p).unwrap_err();
    assert!(e.to_string().contains("missing key 'm'"), "{e}");
}

#[test]
fn wrong_shape_names_key_expected_and_found() {
    let dir = tempfile::tempdir().unwrap();
    let mut vars = minimal(4);
    vars[1] = MatVar::f64_matrix("w_in", 3, 1, vec![1.0; 3]);
    let p = write_vars(dir.path(), "shape.mat", &vars);
    let e = load_model(&p).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, Error::BadKey { .. }));
    assert!(
        msg.contains("shape.mat")
            && msg.contains("'w_in'")
            && msg.contains("4×n")
            && msg.contains("3×1"),
        "{msg}"
    );
    // N disagreeing with w.
    let mut vars = minimal(4);
    vars.push(MatVar::i64_scalar("N", 5));
    let p = write_vars(dir.path(), "n.mat", &vars);
    let msg = load_model(&p).unwrap_err().to_string();
    assert!(
        msg.contains("'w'") && msg.contains("5×5") && msg.contains("4×4"),
        "{msg}"
    );
    // taus_gaus too short.
    let mut vars = minimal(4);
    vars[5] = MatVar::f64_col("taus_gaus", vec![0.0; 3]);
    let p = write_vars(dir.path(), "tg.mat", &vars);
    let msg = load_model(&p).unwrap_err().to_string();
    assert!(msg.contains("'taus_gaus'") && msg.contains("4×1"), "{msg}");
    // Unknown activation.
    let mut vars = minimal(4);
    vars.push(MatVar::string("activation", "tanh"));
    let p = write_vars(dir.path(), "act.mat", &vars);
    let msg = load_model(&p).unwrap_err().to_string();
    assert!(
        msg.contains("'activation'") && msg.contains("tanh"),
        "{msg}"
    );
    // Evaluation rows of different lengths; a fractional trial count.
    let mut vars = minimal(4);
    vars.push(MatVar::f64_row("losses", vec![1.0, 0.5]));
    vars.push(MatVar::f64_row("eval_trials", vec![100.0, 200.0]));
    vars.push(MatVar::f64_row("eval_perfs", vec![0.5]));
    vars.push(MatVar::f64_row("eval_losses", vec![3.0, 2.0]));
    let p = write_vars(dir.path(), "ev.mat", &vars);
    let msg = load_model(&p).unwrap_err().to_string();
    assert!(
        msg.contains("'eval_perfs'") && msg.contains("2 values"),
        "{msg}"
    );
    let n = vars.len();
    vars[n - 2] = MatVar::f64_row("eval_perfs", vec![0.5, 1.0]);
    vars[n - 3] = MatVar::f64_row("eval_trials", vec![100.0, 150.5]);
    let p = write_vars(dir.path(), "ev2.mat", &vars);
    let msg = load_model(&p).unwrap_err().to_string();
    assert!(msg.contains("'eval_trials'"), "{msg}");
}

#[test]
fn model_vars_match_spec_keys() {
    let m = model(1, Taus::Range(4.0, 20.0), 0);
    let names: Vec<String> = model_to_vars(&m).into_iter().map(|v| v.name).collect();
    for k in [
        "w",
        "w0",
        "m",
        "som_m",
        "w_in",
        "w_out",
        "b_out",
        "N",
        "som_N",
        "inh",
        "exc",
        "taus",
        "taus_gaus",
        "taus_gaus0",
        "activation",
    ] {
        assert!(names.iter().any(|n| n == k), "{k}");
    }
    assert!(!names.iter().any(|n| n == "losses" || n == "task"));
}

#[test]
fn task_specs_and_init_sources_round_trip() {
    use spikernn::rate::InitSource;
    use spikernn::task::TaskSpec;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.mat");
    let specs = [
        TaskSpec::builtin("xor"),
        TaskSpec::Builtin {
            name: "dms".into(),
            delay_ms: Some(50.0),
        },
        TaskSpec::File {
            name: "my-task".into(),
            path: "tasks/my task.toml".into(),
            text: "name = \"my-task\"\n# ± — non-ASCII survives\n".into(),
        },
    ];
    for spec in specs {
        let mut m = model(3, Taus::Fixed(10.0), 0);
        m.task = Some(spec.clone());
        m.init_from = Some(InitSource {
            path: "short.mat".into(),
            task: "dms".into(),
        });
        save_model(&p, &m).unwrap();
        let back = load_model(&p).unwrap();
        assert_eq!(back.task, Some(spec));
        assert_eq!(back.init_from, m.init_from);
    }
    // Files without the new keys load as before.
    let old = load_model(&fixture(TF)).unwrap();
    assert_eq!(old.init_from, None);
}
