"""The main job: the whole cvp pipeline at demo scale on the embedded mini-CLEVRER, end to end.

data -> flow -> VAE -> five approaches -> TTT -> evaluation -> README results. Each stage is a notebook
executed with papermill and demo-scale parameters; executed copies land in data/runs/main/, figures and
results in figures/. A stage that already finished with the same parameters is skipped (delete
data/runs/main/<stage>.done or pass --force to redo it); the stages themselves resume their caches and
checkpoints, so an interrupted run picks up where it stopped.

    python scripts/main.py                 # everything (what `make main` runs)
    python scripts/main.py --only vae a4   # some stages
    python scripts/main.py --list
"""
from __future__ import annotations
import argparse, hashlib, json, os, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / 'data' / 'runs' / 'main'
FIG = ROOT / 'figures'
DEMO = dict(preset='demo', out_dir=str(FIG))
RUNS_DEMO = ROOT / 'data' / 'runs' / 'demo'

# name, notebook, demo-scale parameters (tiny defaults live in the notebooks; these set the demo scale)
STAGES = [
    ('data', '00a_synthetic.ipynb', dict(DEMO, workers=2)),
    # The 30-minute budget: an idle fresh clone took 31.8 min with 8 benchmark videos and the TTT stage's sweep (steps 1,3,5 on
    # 8 clips, 84 s) and with/without comparison (40 clips, 53 s; the evaluation stage measures the README's TTT rows itself):
    # those now use 4 videos, steps 1,3 on 4 clips and 16 clips. RAFT (221 s) stays at 300 steps: at 150, or at batch 4, it
    # no longer beats zero flow where objects move (01_flow's check failed: 1.37 and 1.27 vs 1.39 px). No model training changed.
    ('loader', '00_data.ipynb', dict(data_root=str(ROOT / 'data/mini-clevrer-demo'), bench_videos=4, out_dir=str(FIG))),
    ('flow', '01_flow.ipynb', dict(DEMO, train_steps=300, batch_size=8, ckpt=str(ROOT / 'data/checkpoints/raft_small-trained.pt'))),
    ('warp', '01a_warp.ipynb', dict(DEMO, max_videos=10)),
    # the preset's frame VAE (cvp.vae.VAE_PRESETS['demo']), trained, measured and published for approaches 2-5
    ('vae', '02_vae.ipynb', dict(DEMO, down=4, ch=16, n_res=0, latent_ch=4, max_steps=1000, batch_size=8, lr=2e-3, flow_max_steps=300,
                                 threads=2, publish=True, run_dir=str(RUNS_DEMO / 'vae'))),
    # 5 free-running training steps, 600 steps (2 steps, 300: drifted below copy-last after step 4, 31.90 dB); with the object heads: 32.32-32.51 dB
    # The object heads' pair prior and box GIoU term (cvp.objects): box IoU 0.729 -> 0.756 (constant velocity 0.741), collision event AP
    # 0.25 -> 0.55 (constant velocity 0.65), PSNR 32.83 -> 32.81 dB; approach 4: event AP 0.09 -> 0.64, IoU 0.735 -> 0.743, 33.44 -> 33.58 dB
    # Approaches 1 and 4 report their flow inside the boxes their object heads predict (flow_box_pad=0, the models' default; chosen on the
    # training clips, scripts/flow_box_pad.py; frames keep the warp flow): all-pixel EPE a1 0.0408 -> 0.0326, a4 0.0693 -> 0.0358, moving EPE
    # at step 1 a1 0.538 -> 0.539, a4 0.496 -> 0.497 (fresh clone, same weights, every PSNR unchanged)
    ('a1', '03_approach1.ipynb', dict(DEMO, max_steps=600, batch_size=8, n_future=5, run_dir=str(RUNS_DEMO / 'approach1'))),
    # L2 on latents: with L1 (a median) the temporal model kept predicting 'no change' (29.60 vs 28.33 dB measured)
    ('a2', '04_approach2.ipynb', dict(DEMO, max_steps=300, batch_size=8, latent_loss='l2', threads=2, run_dir=str(RUNS_DEMO / 'approach2'))),
    # a motion-gated flow head reading z_{t-1} too, moving pixels weighing as much as all static ones: its flow was zero flow's
    # (EPE 0.041 / 1.16 px moving at step 1) with the ungated head on [h_t, z_{t+1}]. The gate's cross-entropy at weight 1 and 450 steps
    # (1 thread, v5 data): PSNR 30.34 dB, EPE 0.0390, moving EPE 0.589 / 1.036 px at steps 1 / 10, 220 s; at w_gate 0.1 and 300 steps
    # 30.17 dB, 0.0407, 0.630 / 1.024, 174 s (the gate misses moving pixels: the ungated flow's moving EPE at step 1 is 0.50)
    # Also measured at these settings (fresh clone, v5 data; now 30.39 dB, EPE 0.0373, 0.584 / 1.012): the EPE on the gated flow
    # (flow_gated=True) 30.21 dB, 0.0436, 0.588 / 1.041; flow_static=0.3 30.35 dB, 0.0385, 0.584 / 1.034
    # The gate as a decision at rollout (gate_threshold=0.3, chosen on training clips: 05's 'The gate as a decision'): moving EPE at step 1
    # 0.584 -> 0.539, all-pixel 0.0373 -> 0.0384 on validation, same weights (a decision at 0.5: 0.580 / 0.0378). A BCE weighting the gate's
    # moving pixels 3x instead (gate_pos_weight, retrained): 30.00 dB, EPE 0.0427, 0.601 - worse on all three
    ('a3', '05_approach3.ipynb', dict(DEMO, max_steps=450, batch_size=8, latent_loss='l2', flow_width=64, flow_static=0.5, w_gate=1.0, gate_threshold=0.3, threads=2,
                                      run_dir=str(RUNS_DEMO / 'approach3'))),
    # composite rendering (warp the last frame's pixels, decode only where the mask distrusts the warp), the temporal model
    # reading z_t - z_{t-1}, half the flow loss on moving pixels: the seed's latent rendering gave 29.10 dB / 0.933 here
    ('a4', '06_approach4.ipynb', dict(DEMO, max_steps=300, batch_size=8, render='composite', motion_input=True, flow_balance=0.5,
                                      run_dir=str(RUNS_DEMO / 'approach4'))),
    # composite rendering (the last frame warped by the decoded flow, refilled where an object left) and a motion gate on the motion
    # latent: decoded frames and ungated flow gave 29.42 dB (below copy-last) and an all-pixel EPE of 0.089 (zero flow 0.041). The motion
    # encoder reading the frames and judged by its decoded flow's EPE (w_motion_epe; from the appearance latents with an L1 on latents
    # it inferred ~no motion: 1.13 px moving EPE), decoding on 35% of the transitions (1 thread, v5 data): 31.48 dB, EPE 0.0408, moving
    # EPE 0.723 / 1.057 px at steps 1 / 10, 180 s; before 31.22 dB, 0.0444, 0.792 / 1.043, 154 s
    # The motion encoder judged by its decoded flow alone (w_motion=0: no L1 to the flow VAE's latents, which held its moving pixels
    # back): moving EPE of its context flows 0.904 -> 0.613 px, of the predicted step 1 0.758 -> 0.704, 31.35 -> 31.52 dB, all-pixel
    # EPE 0.0408 both (07's flow_error_sources; same data and settings otherwise)
    # The context's motion as the research plan has it (motion_from='flow'): the flow VAE's latents of the context flow the evaluation gives
    # (the flow constant velocity gets; on real CLEVRER the eval stage's real_flow), the encoder on the frames where none is given: step 1 0.704 -> 0.370 px,
    # 31.52 -> 32.26 dB, all-pixel EPE 0.0408 -> 0.0290
    ('a5', '07_approach5.ipynb', dict(DEMO, max_steps=300, batch_size=8, flow_vae_steps=300, decode_frac=0.35, latent_loss='l2', flow_gate=True,
                                      render='composite', flow_balance=0.5, motion_from='flow', w_motion_epe=1.0, w_motion=0.0,
                                      run_dir=str(RUNS_DEMO / 'approach5'))),
    ('ttt', '08_ttt.ipynb', dict(DEMO, runs_dir=str(RUNS_DEMO), sweep_steps='1,3', sweep_lrs='1e-4,3e-4,1e-3', sweep_clips=4, max_clips=16)),
    # the real CLEVRER clips' context flow from the RAFT the flow stage trained (constant velocity runs there, approach 5 takes its motion
    # input from it): +13 s (RAFT on 4 real videos), approach 5 on real frames 30.45 -> 30.80 dB against the encoder's motion
    ('eval', '09_evaluation.ipynb', dict(DEMO, runs_dir=str(RUNS_DEMO), real_flow='raft_small-trained')),
]


def uses(code: list[str]) -> list[str]:
    "The cvp modules that notebook code runs: those it names (`cvp.x`, its `default_exp`) and, transitively, what they import."
    import re
    from cvp.core import import_graph
    graph, src = import_graph(ROOT / 'cvp'), '\n'.join(code)
    todo, seen = set(re.findall(r'\bcvp\.(\w+)', src)) | set(re.findall(r'#\|\s*default_exp\s+(\w+)', src)), set()
    while todo:
        m = todo.pop()
        if m in graph and m not in seen: seen.add(m); todo |= set(graph[m])
    return sorted(seen)


def _stamp(name, nb, params, upstream=''):
    "Parameters + the notebook's code + the code of the cvp modules it uses + the stamps of the stages before it: a stage re-runs when any of them changed."
    import nbformat
    code = [c.source for c in nbformat.read(ROOT / 'nbs' / nb, as_version=4).cells if c.cell_type == 'code']
    lib = [(m, (ROOT / 'cvp' / f'{m}.py').read_text()) for m in uses(code)]
    return hashlib.sha256(json.dumps([name, params, code, lib, upstream], sort_keys=True).encode()).hexdigest()[:16]


def _stamps():
    "Each stage's stamp, chained: a changed stage invalidates every stage after it (TTT and evaluation read the trained runs)."
    out, up = {}, ''
    for name, nb, params in STAGES:
        up = out[name] = _stamp(name, nb, params, up)
    return out


def job_env(side_by_side: bool = False):
    "The environment the notebooks' kernels inherit (unless already set): no plot windows; with `side_by_side` (jobs sharing the cores), OpenMP threads that wait by sleeping."
    os.environ.setdefault('MPLBACKEND', 'Agg')
    # OpenMP's wait policy changes no result, only time. Beside another job on 2 cores spinning waits are ruinous: RAFT training
    # (2 threads) took 11-14 s per step spinning and 1.5 s passive. Alone, sleeping waits cost a fifth: approach 1's training step
    # 0.37 s (default policy) against 0.45-0.50 s (PASSIVE), RAFT's 25 steps 19.4-20.0 s against 22.0-26.1 s (this machine,
    # interleaved runs). The main job runs its stages one at a time; the study runs side by side.
    if side_by_side: os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')


def run_stage(name, nb, params, stamp, force=False):
    "Execute one notebook with papermill; skip when it already finished with this stamp."
    import papermill as pm
    src = ROOT / 'nbs' / nb
    if not src.exists():
        print(f'[main] {name}: {nb} does not exist yet, skipped', flush=True); return None, False
    RUNS.mkdir(parents=True, exist_ok=True)
    done = RUNS / f'{name}.done'
    if not force and done.exists() and json.loads(done.read_text()).get('stamp') == stamp:
        print(f'[main] {name}: done before, skipped (--force to redo)', flush=True)
        return json.loads(done.read_text())['seconds'], False
    started = RUNS / f'{name}.started'       # an interrupted stage resumes its run folder; one with other settings starts afresh
    run_dir = params.get('run_dir')
    if run_dir and Path(run_dir).exists() and (not started.exists() or started.read_text() != stamp):
        import shutil
        print(f'[main] {name}: {run_dir} holds a run made with other settings: removed', flush=True)
        shutil.rmtree(run_dir)
    started.write_text(stamp)
    print(f'[main] {name}: {nb} {params}', flush=True)
    t0 = time.time()
    pm.execute_notebook(str(src), str(RUNS / nb), parameters=params, cwd=str(ROOT / 'nbs'), kernel_name='python3',
                        progress_bar=False, log_output=True, stdout_file=None)
    secs = round(time.time() - t0, 1)
    done.write_text(json.dumps(dict(stamp=stamp, seconds=secs, params=params)))
    print(f'[main] {name}: finished in {secs:.0f} s', flush=True)
    return secs, True


_STUDY_STAGE = {'approach1': 'a1', 'approach2': 'a2', 'approach3': 'a3', 'approach4': 'a4'}

def _study_entries() -> dict:
    "The `seeds` / `ablations` that `make study` wrote into results.json (the evaluation stage rewrites the file)."
    rj = FIG / 'results.json'
    doc = json.loads(rj.read_text()) if rj.is_file() else {}
    return {k: doc[k] for k in ('seeds', 'ablations') if doc.get(k)}

def _keep_study_entries(study: dict, ran: list):
    "Put the study's entries back into results.json, except those of a model whose training stage ran again (they are stale then)."
    rj = FIG / 'results.json'
    if not study or not rj.is_file(): return
    doc = json.loads(rj.read_text())
    for key, entries in study.items():
        kept = {n: e for n, e in entries.items() if _STUDY_STAGE.get(n.split()[0]) not in ran}
        if kept: doc[key] = {**kept, **doc.get(key, {})}
        if len(kept) < len(entries): print(f'[main] {key}: dropped {sorted(set(entries) - set(kept))}, retrained in this run: `make study` measures them again', flush=True)
    rj.write_text(json.dumps(doc, indent=1))

def render_readme():
    "README.md from nbs/index.ipynb: executed, markdown cells verbatim, code hidden, outputs kept."
    import nbformat
    from nbconvert import MarkdownExporter
    from nbconvert.preprocessors import ExecutePreprocessor
    nb = nbformat.read(ROOT / 'nbs' / 'index.ipynb', as_version=4)
    ExecutePreprocessor(timeout=600, kernel_name='python3').preprocess(nb, {'metadata': {'path': str(ROOT / 'nbs')}})
    body, _ = MarkdownExporter(exclude_input=True, exclude_output_prompt=True).from_notebook_node(nb)
    body = body.replace('](../figures/', '](figures/')
    (ROOT / 'README.md').write_text(body.strip() + '\n')
    print('[main] README.md regenerated from nbs/index.ipynb', flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--only', nargs='*', help='stage names to run (default: all)')
    ap.add_argument('--force', action='store_true', help='re-run stages that finished before')
    ap.add_argument('--list', action='store_true')
    args = ap.parse_args(argv)
    if args.list:
        for n, nb, p in STAGES: print(f'{n:6s} {nb:24s} {p}')
        return
    job_env()
    import logging   # papermill logs each executed cell and its output at INFO: the progress of a stage
    logging.basicConfig(level=logging.INFO, format='  %(message)s', stream=sys.stdout)
    logging.getLogger('traitlets').setLevel(logging.ERROR)
    FIG.mkdir(exist_ok=True)
    t0, times, ran = time.time(), {}, []
    stamps = _stamps()
    study = _study_entries()
    for name, nb, params in STAGES:
        if args.only and name not in args.only: continue
        times[name], did = run_stage(name, nb, params, stamps[name], force=args.force)
        if did: ran.append(name)
    _keep_study_entries(study, ran)
    total = round(time.time() - t0, 1)
    tfile = FIG / 'timings.json'
    old = json.loads(tfile.read_text()) if tfile.exists() else {}
    old.update({k: v for k, v in times.items() if v is not None})
    # stage seconds in pipeline order, then this invocation: its wall-clock total and the stages it executed (not skipped)
    old = {**{n: old[n] for n, _, _ in STAGES if n in old}, 'total_this_run': total, 'ran_this_run': ran}
    tfile.write_text(json.dumps(old, indent=1))
    render_readme()
    print(f'[main] all done in {total / 60:.1f} min; stage seconds: {times}', flush=True)


if __name__ == '__main__':
    sys.exit(main())
