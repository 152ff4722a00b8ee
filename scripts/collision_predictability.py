"""How predictable are the collision labels from what a model is given? Oracle rules on the protocol's clips.

The protocol scores collision prediction by AP over the future transitions of the evaluation clips. This script
asks what simple rules reach when they are handed the *true* future (an upper reference, not a model): the 2D boxes
of frames t and t+1 (what the object heads predict), and the simulator's 3D object positions (which no model here
sees). A rule scores a transition by the pair of objects that comes closest to contact between t and t+1.

The second part asks the evaluation's *event* question (`collision_event_ap`): for each pair of objects seen in the
last context frame, will these two collide during the rollout? A rule scores a pair by how close its boxes come over
the rollout: extrapolated at constant velocity (the `constant_velocity` baseline's score, `pair_proximity`) or the
true future boxes. Given a runs folder, the same closest-approach rule also reads the boxes that the trained approaches
1 and 4 *predict* (their learned box dynamics instead of constant velocity), beside their own pair heads' score.

    python scripts/collision_predictability.py                  # demo preset validation clips (after `make main`)
    python scripts/collision_predictability.py demo train       # the 400 training clips: 10x the positives
    python scripts/collision_predictability.py demo validation data/runs/demo   # + the trained approaches' boxes
"""
from __future__ import annotations
import sys
from pathlib import Path
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cvp.metrics import protocol_clips, average_precision, _extrapolate_boxes, pair_proximity
from cvp.objects import box_gap, box_centers
from cvp.synthetic import ensure_mini_clevrer


def closing(d0, d1, pm, touch=None):
    "Per transition: the best pair's approach (d0 - d1), minus how far apart it ends (or, with `touch`, only pairs ending within it)."
    s = (d0 - d1) * (d1 < touch).float() if touch is not None else (d0 - d1) - d1
    return s.masked_fill(~pm, -9).max().item()


def main(preset: str = 'demo', split: str = 'validation', runs: str | None = None, n_context: int = 6, n_future: int = 10):
    ds = protocol_clips(ensure_mini_clevrer(preset, progress=False), split, n_context=n_context, n_future=n_future)
    rules = {'2D boxes, true future: gaps closing': [], '2D boxes, true future: centres closing': [],
             '2D boxes, constant velocity: centres closing': [], '3D positions, true future: closing into contact': []}
    y = []
    for i in range(len(ds)):
        x = ds[i]
        b, v, L = x['boxes'], x['box_valid'], x['location']
        cv = torch.cat([b[:n_context], _extrapolate_boxes(b[None, :n_context], v[None, :n_context], n_future)[0]])
        N, eye = b.shape[1], torch.eye(b.shape[1], dtype=torch.bool)
        for k in range(n_future):
            t0, t1 = n_context - 1 + k, n_context + k
            pm = v[t0][:, None] & v[t0][None] & v[t1][:, None] & v[t1][None] & ~eye
            g = lambda B, t: box_gap(B[t][:, None], B[t][None])
            c = lambda B, t: torch.cdist(box_centers(B[t]), box_centers(B[t]))
            rules['2D boxes, true future: gaps closing'].append(closing(g(b, t0), g(b, t1), pm))
            rules['2D boxes, true future: centres closing'].append(closing(c(b, t0), c(b, t1), pm))
            rules['2D boxes, constant velocity: centres closing'].append(closing(c(cv, t0), c(cv, t1), pm))
            here = (L[t0] != 0).any(-1) & (L[t1] != 0).any(-1)                  # padded slots hold zeros
            p3 = here[:, None] & here[None] & ~eye
            d = lambda t: torch.cdist(L[t, :, :2], L[t, :, :2])
            rules['3D positions, true future: closing into contact'].append(closing(d(t0), d(t1), p3, touch=0.86))
            y.append(float(x['collision'][t0]))
    y = torch.tensor(y)
    print(f"{len(ds)} clips x {n_future} future transitions, {int(y.sum())} with a collision (positive rate {y.mean():.3f} = the AP of a constant score)")
    for k, s in rules.items(): print(f"  AP {average_precision(torch.tensor(s), y):.3f}  {k}")
    events(ds, n_context, n_future, models(runs, preset, n_context))


def models(runs, preset, n_context) -> dict:
    "The trained approaches 1 and 4 of a runs folder (none without one), at the protocol's size and stride."
    if not runs: return {}
    from cvp.ttt import trained_model
    from cvp.metrics import PROTOCOL
    return {n: trained_model(n, runs, preset=preset, size=PROTOCOL['size'], stride=PROTOCOL['stride'], n_context=n_context, device='cpu',
                             allow_tiny=False)[0].eval()
            for n in ('approach1', 'approach4')}


@torch.no_grad()
def events(ds, n_context, n_future, trained: dict):
    "Per pair of objects seen in the last context frame: does it collide in the rollout? AP of closest-approach rules."
    rules = {'2D boxes, constant velocity: closest approach of the centres': [], '2D boxes, true future: closest approach of the centres': [],
             '2D boxes, true future: smallest gap': []}
    for n in trained: rules[f'2D boxes, {n} predicted: closest approach of the centres'] = []; rules[f'{n} pair head (its collision_event_ap)'] = []
    y = []
    for i in range(len(ds)):
        x = ds[i]
        b, v = x['boxes'], x['box_valid']
        pv = v[n_context - 1]
        keep = torch.triu(pv[:, None] & pv[None], diagonal=1)
        y.append(x['collision_pairs'][n_context - 1:n_context - 1 + n_future].amax(0)[keep])
        cv = _extrapolate_boxes(b[None, :n_context], v[None, :n_context], n_future)
        rules['2D boxes, constant velocity: closest approach of the centres'].append(pair_proximity(cv, pv[None])[0].amax(0)[keep])
        fut, fv = b[n_context:n_context + n_future], v[n_context:n_context + n_future]
        both = fv[:, :, None] & fv[:, None]                                     # only where both boxes are seen
        rules['2D boxes, true future: closest approach of the centres'].append(
            (pair_proximity(fut[None], pv[None])[0] * both).amax(0)[keep])
        gap = box_gap(fut[:, :, None], fut[:, None]).masked_fill(~both, 9)
        rules['2D boxes, true future: smallest gap'].append(-gap.amin(0)[keep])
        for n, m in trained.items():
            out = m.rollout(x['frames'][None, :n_context], n_future, context_boxes=b[None, :n_context], context_box_valid=v[None, :n_context])
            rules[f'2D boxes, {n} predicted: closest approach of the centres'].append(pair_proximity(out['boxes'], pv[None])[0].amax(0)[keep])
            rules[f'{n} pair head (its collision_event_ap)'].append(out['collision_pairs'][0].amax(0)[keep])
    y = torch.cat(y)
    print(f"{len(ds)} clips, {len(y)} pairs of objects seen in the last context frame, {int(y.sum())} collide in the rollout "
          f"(positive rate {y.float().mean():.3f} = the AP of a constant score)")
    for k, s in rules.items(): print(f"  event AP {average_precision(torch.cat(s), y):.3f}  {k}")


if __name__ == '__main__':
    main(*sys.argv[1:4])
