"""The study behind the research answer: seeds and ablations at the main job's settings (`make study`).

Each run trains one approach with one seed (and, for an ablation, one changed parameter) by executing its notebook
with papermill at the main job's demo-scale parameters (`scripts/main.py`, STAGES), into its own run folder under
data/runs/study/; then every run is evaluated the same way as the README table: the trained checkpoint
(`cvp.ttt.trained_model`), the protocol's validation clips (`cvp.metrics.protocol_clips`), `cvp.metrics.evaluate`.
The answers go into figures/results.json under `seeds` {model: {psnr_mean: [...], ssim_mean: [...], seeds: [...]}} and
`ablations` {name: {psnr_mean: [...], ssim_mean: [...], seeds: [...], what: ...}}, which the README reads.
Needs `make main` first (the demo data, the published frame VAE and the README's seed-0 runs). A finished run is
not trained again while its settings and its stage's stamp (notebook, the cvp code it runs, the stages before it) are the
main job's (delete its folder to redo it), so an interrupted study resumes and a changed model is retrained.

    python scripts/study.py                                  # what `make study` runs: seeds 0 1 2, every ablation
    python scripts/study.py --seeds 1 --only a1 a4           # a subset
    python scripts/study.py --list
    python scripts/study.py --trained-only                   # record what is trained so far (a study cut short)
"""
from __future__ import annotations
import argparse, json, os, sys, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from main import ROOT, FIG, STAGES, RUNS_DEMO, job_env, _stamps   # the main job's settings are the study's settings

STUDY = ROOT / 'data' / 'runs' / 'study'
MODELS = {'a1': 'approach1', 'a2': 'approach2', 'a3': 'approach3', 'a4': 'approach4'}
# name -> (stage, changed parameters, what it asks)
ABLATIONS = {
    'approach1 w_flow=0': ('a1', dict(w_flow=0.0), 'approach 1 without flow supervision (the warping structure kept): does supervising the flow help?'),
    'approach4 w_flow=0': ('a4', dict(w_flow=0.0, w_flow_px=0.0), 'approach 4 without flow supervision (latent and pixel flow losses at 0)'),
}


def run_dir(stage: str, seed: int, change: dict | None = None) -> Path:
    "The run folder of one training: data/runs/study/<model>[-<change>]-s<seed>."
    tag = ''.join(f'-{k}{v:g}' for k, v in sorted((change or {}).items()))
    return STUDY / f'{MODELS[stage]}{tag}-s{seed}'


def trained(stage: str, seed: int, change: dict | None = None) -> bool:
    "Whether that run has finished training (the main job's own run for seed 0 without change)."
    if seed == 0 and not change: return (RUNS_DEMO / MODELS[stage] / 'last.pt').is_file()
    return _current(run_dir(stage, seed, change), stage, seed, change)


_STAMPS = {}

def _current(d: Path, stage: str, seed: int, change: dict | None) -> bool:
    "Whether run folder `d` finished with this study's parameters and the main job's current stamp of its stage (its notebook, the cvp code it runs, the stages before it)."
    if not _STAMPS: _STAMPS.update(_stamps())
    done = d / 'done'
    if not (done.is_file() and (d / MODELS[stage] / 'last.pt').is_file()): return False
    rec = json.loads(done.read_text())
    return rec.get('params') == _params(stage, seed, change) and rec.get('stamp') == _STAMPS[stage]


def _notebook(stage: str) -> str: return next(nb for n, nb, p in STAGES if n == stage)

def _params(stage: str, seed: int, change: dict | None = None) -> dict:
    "The papermill parameters of one study run: the main job's stage settings, the change, --threads, the seed, its run folder."
    p = next(p for n, nb, p in STAGES if n == stage)
    return {**p, **(change or {}), **THREADS, 'seed': seed, 'out_dir': None, 'run_dir': str(run_dir(stage, seed, change) / MODELS[stage])}


THREADS = {}   # --threads: torch threads of each training run (default: the main job's)

def train(stage: str, seed: int, change: dict | None = None) -> Path:
    "Train one run with papermill (skipped when its checkpoint exists; seed 0 without change is the main job's run)."
    import papermill as pm
    if seed == 0 and not change and (RUNS_DEMO / MODELS[stage] / 'last.pt').is_file(): return RUNS_DEMO
    d, nb, params = run_dir(stage, seed, change), _notebook(stage), _params(stage, seed, change)
    if _current(d, stage, seed, change): return d
    mine = json.dumps(dict(params=params, stamp=_STAMPS[stage]), sort_keys=True)
    started = d / 'started'
    if d.exists() and ((d / 'done').exists() or not started.is_file() or started.read_text() != mine):
        import shutil   # trained, or begun, with other settings or code (the main job's changed since): train again
        print(f'[study] {d.name}: trained or begun with other settings or code, removed', flush=True); shutil.rmtree(d)
    d.mkdir(parents=True, exist_ok=True)
    started.write_text(mine)   # an interrupted run with the same settings and code resumes from its checkpoints (cvp.learner.fit)
    print(f'[study] {d.name}: training ({nb})', flush=True)
    t0 = time.time()
    pm.execute_notebook(str(ROOT / 'nbs' / nb), str(d / nb), parameters=params, cwd=str(ROOT / 'nbs'), kernel_name='python3',
                        progress_bar=False)
    (d / 'done').write_text(json.dumps(dict(seconds=round(time.time() - t0, 1), params=params, stamp=_STAMPS[stage])))
    return d


_COPY = {}

def evaluate_run(name: str, runs_dir: Path) -> dict:
    "`runs_dir/name`'s checkpoint on the protocol's validation clips, as the README table measures: PSNR/SSIM means, PSNR per step and its margin over copy-last, flow/box/collision figures where predicted."
    from cvp.ttt import trained_model
    from cvp.metrics import evaluate, protocol_clips, CopyLast
    from cvp.synthetic import ensure_mini_clevrer
    model, _ = trained_model(name, runs_dir, preset='demo', allow_tiny=False)
    ds = protocol_clips(ensure_mini_clevrer('demo', progress=False), 'validation', flow='exact')
    r = evaluate(model, ds, device='cpu')
    if 'psnr' not in _COPY: _COPY['psnr'] = evaluate(CopyLast(), ds, device='cpu')['psnr']
    out = dict(psnr_mean=round(r['psnr_mean'], 4), ssim_mean=round(r['ssim_mean'], 5), psnr=[round(float(x), 3) for x in r['psnr']],
               min_step_margin=round(float((r['psnr'] - _COPY['psnr']).min()), 3))
    for k in ('epe_mean', 'box_iou_mean', 'collision_ap', 'collision_event_ap'):
        if r.get(k) is not None: out[k] = round(float(r[k]), 4)
    if r.get('epe_moving') is not None: out['epe_moving_1_10'] = [round(float(r['epe_moving'][0]), 4), round(float(r['epe_moving'][-1]), 4)]
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--seeds', nargs='*', type=int, default=[0, 1, 2])
    ap.add_argument('--only', nargs='*', default=None, help=f'stages among {list(MODELS)} (default: all)')
    ap.add_argument('--no-ablations', action='store_true')
    ap.add_argument('--list', action='store_true')
    ap.add_argument('--trained-only', action='store_true', help='record only the runs already trained (train nothing)')
    ap.add_argument('--threads', type=int, default=None, help="torch threads per training run (1: leave a core to another job; results differ from 2 threads in float rounding)")
    a = ap.parse_args(argv)
    stages = [s for s in MODELS if a.only is None or s in a.only]
    if a.threads: THREADS['threads'] = a.threads
    abl = {} if a.no_ablations else {k: v for k, v in ABLATIONS.items() if v[0] in stages}
    if a.list:
        for s in stages: print(f'seeds {a.seeds}: {MODELS[s]}')
        for k, (s, ch, what) in abl.items(): print(f'ablation {k}: {what}')
        return
    job_env(side_by_side=True)       # studies may share the cores (the README's timing: two side by side)
    rj = FIG / 'results.json'
    if not rj.is_file(): sys.exit('[study] figures/results.json is missing: run `make main` first')
    def record(key, name, entry):
        "Write one finished entry into results.json at once, so an interrupted study keeps what it measured (locked: studies may run side by side)."
        import fcntl
        from cvp.core import atomic_write
        with open(rj.with_suffix('.lock'), 'w') as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            doc = json.loads(rj.read_text()); doc.setdefault(key, {})[name] = entry
            with atomic_write(rj, 'w') as f: json.dump(doc, f, indent=1)
        print(f"[study] {key} {name}: PSNR {entry['psnr_mean']}", flush=True)
    # cheapest complete answer first: the latent pair (approach 3 vs 2), then the flow ablations, then the flow-warping approaches' seeds
    first = [s for s in stages if s in ('a2', 'a3')]
    runs = ([(MODELS[s], s, None, None) for s in first] + [(k, s, ch, what) for k, (s, ch, what) in abl.items()]
            + [(MODELS[s], s, None, None) for s in stages if s not in first])
    for name, s, ch, what in runs:
        seeds = [seed for seed in a.seeds if not a.trained_only or trained(s, seed, ch)]
        if not seeds: continue
        rows = [(seed, evaluate_run(MODELS[s], train(s, seed, ch))) for seed in seeds]
        entry = dict(seeds=[r[0] for r in rows], **{k: [r[1].get(k) for r in rows] for k in rows[0][1]})
        record('ablations' if ch else 'seeds', name, {**entry, **({'what': what} if what else {}), **({'threads_seeds_1_2': a.threads} if a.threads else {})})


if __name__ == '__main__':
    sys.exit(main())
