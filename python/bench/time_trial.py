"""Time one spiking trial through Python (compare with the Rust API:
`cargo run --release -p spikernn-python --example lif_trial -- MODEL LAMBDA REPS`,
same model, lambda, stimulus and seeds).

    python python/bench/time_trial.py MODEL.mat LAMBDA [REPS]
"""

import statistics
import sys
import time

import spikernn


def main() -> None:
    path, lam = sys.argv[1], float(sys.argv[2])
    reps = int(sys.argv[3]) if len(sys.argv) > 3 else 20
    model = spikernn.RateModel.load(path)
    task = spikernn.task(model.task or "go-nogo")
    net = spikernn.LifNetwork.from_rate(model, lam)
    u, _, _ = task.trial(kind=0, seed=1, spiking=True)
    times, spikes = [], 0
    for i in range(reps + 1):
        t0 = time.perf_counter()
        s = net.simulate(u, seed=i)
        dt = time.perf_counter() - t0
        if i > 0:  # the first run warms up
            times.append(dt)
            spikes += len(s.spike_units)
    times.sort()
    print(f"python: N = {model.N}, {reps} reps: median {statistics.median(times) * 1e3:.2f} ms, "
          f"min {times[0] * 1e3:.2f} ms ({spikes // reps} spikes/trial)")


if __name__ == "__main__":
    main()
