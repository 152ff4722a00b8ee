"""How a rollout's `flow_snap` was chosen: a trained model evaluated on the protocol's clips of the *training* split
(the validation split is the evaluation split) with every threshold of a list; prints PSNR, all-pixel and moving-pixel EPE.

`flow_snap` (`cvp.warp.snap_static`) acts only when a model rolls out, so one trained checkpoint serves every threshold.
Needs `make main` first (the demo data and data/runs/demo/<model>/).

    python scripts/snap_threshold.py approach1
    python scripts/snap_threshold.py approach4 --snaps 0 0.1 0.15 0.2 --split validation
"""
from __future__ import annotations
import argparse, sys, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from main import RUNS_DEMO


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('model', choices=['approach1', 'approach4'])
    ap.add_argument('--snaps', type=float, nargs='+', default=[0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3])
    ap.add_argument('--split', default='train')
    ap.add_argument('--runs', default=str(RUNS_DEMO))
    ap.add_argument('--threads', type=int, default=2)
    a = ap.parse_args(argv)
    import torch
    from cvp.metrics import evaluate, protocol_clips, PROTOCOL
    from cvp.ttt import trained_model
    torch.set_num_threads(a.threads)
    from cvp.synthetic import ensure_mini_clevrer        # the demo data (as the main job made it) and its 'exact' flow source
    root = ensure_mini_clevrer('demo')
    ds = protocol_clips(root, a.split, flow='exact', **PROTOCOL)
    model, info = trained_model(a.model, a.runs, preset='demo', size=PROTOCOL['size'], stride=PROTOCOL['stride'], n_context=PROTOCOL['n_context'],
                                device='cpu', allow_tiny=False)
    print(f'{a.model} ({info["weights"]}), {a.split} split, {len(ds)} clips')
    print('| flow_snap px | PSNR dB | flow EPE all px | moving EPE step 1 | moving EPE step 10 |\n|---:|---:|---:|---:|---:|')
    for s in a.snaps:
        model.flow_snap = s
        t = time.time(); r = evaluate(model, ds, device='cpu')
        print(f"| {s:g} | {r['psnr_mean']:.3f} | {r['epe_mean']:.4f} | {r['epe_moving'][0]:.3f} | {r['epe_moving'][-1]:.3f} |  ({time.time() - t:.0f} s)", flush=True)


if __name__ == '__main__':
    main()
