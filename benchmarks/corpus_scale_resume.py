"""Run curate + tokenize again on a corpus_scale.py home (e.g. after a fix), against fresh kept services.

    python benchmarks/corpus_scale_resume.py /tmp/cs20g/home-2560x-2w --out results.json
"""
import argparse, json, sys, os
from pathlib import Path
ap = argparse.ArgumentParser(); ap.add_argument("home"); ap.add_argument("--workers", type=int, default=2)
ap.add_argument("--out", default="corpus_scale_resume.json"); a = ap.parse_args()
sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus_scale as c
home = Path(a.home)
svc = c.Services(home, a.workers, home.parent / f"{home.name}-services-resume")
s1 = str(Path(sys.executable).parent / "s1")
env = {**os.environ, "S1_HOME": str(home)}
cl = ["--set", f"dask_address={svc.address}"]
steps = {}
try:
    for name, args in (("curate", ["run", "curate", *cl, "--set", "documents=null"]),
                       ("tokenize", ["run", "tokenize", *cl, "--set", "tokenizer.vocab_size=8000"])):
        b = svc.cpu_s(); svc.take_peak()
        steps[name] = c.run_monitored([s1, *args, "--json"], env)
        steps[name]["services_cpu_s"] = round(svc.cpu_s() - b, 1)
        steps[name]["services_peak_rss_mib"] = svc.take_peak()
        print(json.dumps({"step": name, **steps[name]}), flush=True)
finally:
    svc.close()
Path(a.out).write_text(json.dumps(steps, indent=1))
