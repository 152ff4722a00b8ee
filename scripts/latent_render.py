"""How approaches 2 and 3 render frames (`render`, `cvp.approach2.LatentDynamics`): a trained model evaluated on the
protocol's clips of the *training* split (the validation split is the evaluation split) with its decoded latents as
frames ('latent', the seed's approach 2) or with the last context frame plus the decoded change ('delta'); prints mean
PSNR, PSNR at steps 1/4/7/10 and SSIM, beside copying the last frame. `--real` evaluates the real CLEVRER samples as well
(zero-shot, as the main job's second table).

`render` acts only when a model rolls out, so one trained checkpoint serves both. Needs `make main` first (the demo
data and data/runs/demo/<model>/).

    python scripts/latent_render.py
    python scripts/latent_render.py approach3 --split validation --real
"""
from __future__ import annotations
import argparse, sys, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from main import RUNS_DEMO


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('models', nargs='*', default=['approach2', 'approach3'], help='approach2 and/or approach3 (default: both)')
    ap.add_argument('--split', default='train')
    ap.add_argument('--real', action='store_true', help='also the real CLEVRER samples (../shared/clevrer-samples)')
    ap.add_argument('--runs', default=str(RUNS_DEMO))
    ap.add_argument('--threads', type=int, default=2)
    a = ap.parse_args(argv)
    if set(a.models) - {'approach2', 'approach3'}: ap.error(f"models: approach2 and/or approach3, got {a.models}")
    import torch
    from cvp.metrics import evaluate, protocol_clips, PROTOCOL, CopyLast
    from cvp.ttt import trained_model
    from cvp.synthetic import ensure_mini_clevrer
    torch.set_num_threads(a.threads)
    sets = {f'mini-CLEVRER demo, {a.split}': protocol_clips(ensure_mini_clevrer('demo'), a.split, **PROTOCOL)}
    if a.real:
        from cvp.data import clevrer_samples_root
        from cvp.evaluation import real_clips
        sets['real CLEVRER samples'] = real_clips(clevrer_samples_root(), **PROTOCOL)
    row = lambda name, r: (f"| {name} | {r['psnr_mean']:.2f} | " + ' / '.join(f"{r['psnr'][i - 1]:.1f}" for i in (1, 4, 7, 10))
                           + f" | {r['ssim_mean']:.4f} |")
    for where, ds in sets.items():
        print(f'\n{where}: {len(ds)} clips\n| model | PSNR dB | PSNR at 1 / 4 / 7 / 10 | SSIM |\n|---|---:|---|---:|')
        print(row('copy_last', evaluate(CopyLast(), ds, device='cpu')))
        for name in a.models:
            model, info = trained_model(name, a.runs, preset='demo', size=PROTOCOL['size'], stride=PROTOCOL['stride'],
                                        n_context=PROTOCOL['n_context'], device='cpu', allow_tiny=False)
            for render in ('latent', 'delta'):
                model.render = render
                t = time.time(); r = evaluate(model, ds, device='cpu')
                print(row(f"{name}, render='{render}'", r) + f"  ({time.time() - t:.0f} s)", flush=True)


if __name__ == '__main__':
    main()
