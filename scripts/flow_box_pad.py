"""How a rollout's `flow_box_pad` was chosen: a trained model evaluated on the protocol's clips of the *training* split
(the validation split is the evaluation split) reporting its warp flow ('none') or the warp flow inside its predicted boxes
grown by each margin of a list (`cvp.objects.flow_in_boxes`); prints all-pixel and moving-pixel EPE, and the PSNR (unchanged:
the frames keep the warp flow). For approach 4 also the PSNR its composite frames would have if they were warped with the
boxed flow instead (`--render-boxed`), which is why they are not.

`flow_box_pad` acts only when a model rolls out with boxes, so one trained checkpoint serves every margin.
Needs `make main` first (the demo data and data/runs/demo/<model>/).

    python scripts/flow_box_pad.py approach1
    python scripts/flow_box_pad.py approach4 --render-boxed
    python scripts/flow_box_pad.py approach4 --pads 0 1 --split validation
"""
from __future__ import annotations
import argparse, sys, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from main import RUNS_DEMO


class RenderBoxed:
    "Approach 4 whose composite frames are warped with the flow it reports (the boxed flow) instead of its warp flow."
    uses_context_boxes = True
    def __init__(self, model): self.model, self.__name__ = model, f'{model.registry_name} (frames from the boxed flow)'
    def __call__(self, context, n_future, **kw):
        from cvp.approach4 import composite_frames
        out = self.model.rollout(context, n_future, **kw)
        return {**out, 'frames': composite_frames(context[:, -1], out['flow'], out['occlusion'], out['frames_latent'])}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('model', choices=['approach1', 'approach4'])
    ap.add_argument('--pads', nargs='+', default=['none', '0', '0.5', '1', '2'], help="margins in frame pixels; 'none' = the warp flow")
    ap.add_argument('--split', default='train')
    ap.add_argument('--max-clips', type=int, default=None, help='the first clips of the split only (default: all)')
    ap.add_argument('--render-boxed', action='store_true', help='approach 4: also the PSNR of frames warped with the boxed flow')
    ap.add_argument('--runs', default=str(RUNS_DEMO))
    ap.add_argument('--threads', type=int, default=2)
    a = ap.parse_args(argv)
    if a.render_boxed and a.model != 'approach4': ap.error('--render-boxed is for approach4 (composite rendering)')
    import torch
    from cvp.metrics import evaluate, protocol_clips, PROTOCOL
    from cvp.ttt import trained_model
    torch.set_num_threads(a.threads)
    from cvp.synthetic import ensure_mini_clevrer        # the demo data (as the main job made it) and its 'exact' flow source
    ds = protocol_clips(ensure_mini_clevrer('demo'), a.split, flow='exact', **PROTOCOL)
    model, info = trained_model(a.model, a.runs, preset='demo', size=PROTOCOL['size'], stride=PROTOCOL['stride'], n_context=PROTOCOL['n_context'],
                                device='cpu', allow_tiny=False)
    n = min(len(ds), a.max_clips or len(ds))
    print(f'{a.model} ({info["weights"]}), {a.split} split, the first {n} of {len(ds)} clips')
    print('| flow_box_pad px | PSNR dB | flow EPE all px | moving EPE step 1 | moving EPE step 10 |' + (' PSNR, frames from the boxed flow |' if a.render_boxed else '')
          + '\n|---:|---:|---:|---:|---:|' + ('---:|' if a.render_boxed else ''))
    for p in a.pads:
        model.flow_box_pad = None if p == 'none' else float(p)
        t = time.time(); r = evaluate(model, ds, device='cpu', max_clips=n)
        extra = f" {evaluate(RenderBoxed(model), ds, device='cpu', max_clips=n)['psnr_mean']:.3f} |" if a.render_boxed else ''
        print(f"| {p} | {r['psnr_mean']:.3f} | {r['epe_mean']:.4f} | {r['epe_moving'][0]:.3f} | {r['epe_moving'][-1]:.3f} |{extra}  ({time.time() - t:.0f} s)", flush=True)


if __name__ == '__main__':
    main()
