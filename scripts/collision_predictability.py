"""How predictable are the collision labels from what a model is given? Oracles on the protocol's clips.

The protocol scores collision prediction by AP over the future transitions of the evaluation clips (the seed's label:
did a collision happen in this time step?). This script asks what the *true* future allows (an upper reference, not a
model), in three ways:

1. Rules: a transition is scored by the pair of objects that comes closest to contact between t and t+1, measured on
   the true 2D boxes (what the object heads predict), on boxes extrapolated at constant velocity, or on the simulator's
   3D positions (which no model here sees).
2. Learned oracles: a small classifier per pair of objects, fitted and scored by 5-fold cross-validation over the
   split's clips (a clip's transitions stay in one fold), reading the pair's distances over frames t-1..t+2 from
   (a) the true 3D positions, (b) the true 2D boxes, (c) the 3D positions of the last context frame carried forward
   at constant velocity; a transition scores as its best pair: what a model that predicted these quantities perfectly
   could learn from them, with this many positives.
3. The evaluation's *event* question (`collision_event_ap`): for each pair of objects seen in the last context frame,
   will these two collide during the rollout? Scored by how close the pair's boxes come over the rollout: extrapolated
   at constant velocity (the `constant_velocity` baseline's score, `pair_proximity`) or the true future boxes. Given a
   runs folder, the same rule also reads the boxes the trained approaches 1 and 4 *predict*, beside their pair heads.

Every AP comes with a 90% interval from resampling the clips (the validation split has 10 positive transitions: one
positive ranked differently moves the AP by up to about 0.1).

    python scripts/collision_predictability.py                  # demo preset validation clips (after `make main`)
    python scripts/collision_predictability.py demo train       # the 160 training clips: 6x the positives
    python scripts/collision_predictability.py demo validation data/runs/demo   # + the trained approaches' boxes and heads
"""
from __future__ import annotations
import sys
from pathlib import Path
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cvp.metrics import protocol_clips, average_precision, _extrapolate_boxes, pair_proximity
from cvp.objects import box_gap, box_centers
from cvp.synthetic import ensure_mini_clevrer


def interval(scores, labels, groups, n: int = 200, q=(5, 95), seed: int = 0) -> str:
    "`AP [lo, hi]`: the AP and its percentile interval over `n` resamples of the clips (`groups`: the clip of each score)."
    s, y, g = (np.asarray(torch.as_tensor(a), dtype=np.float64).ravel() for a in (scores, labels, groups))
    ids = np.unique(g); rows = {c: np.nonzero(g == c)[0] for c in ids}
    rng = np.random.default_rng(seed)
    boot = [average_precision(s[i], y[i]) for i in (np.concatenate([rows[c] for c in rng.choice(ids, len(ids))]) for _ in range(n))]
    lo, hi = np.nanpercentile(boot, q)
    return f"{average_precision(s, y):.3f} [{lo:.3f}, {hi:.3f}]"


def closing(d0, d1, pm, touch=None):
    "Per transition: the best pair's approach (d0 - d1), minus how far apart it ends (or, with `touch`, only pairs ending within it)."
    s = (d0 - d1) * (d1 < touch).float() if touch is not None else (d0 - d1) - d1
    return s.masked_fill(~pm, -9).max().item()


def pair_features(x, n_context: int, n_future: int) -> dict:
    "Per future transition t -> t+1 and pair i < j: distances over frames t-1..t+2 (the clip's last frame repeated past its end), `(n_future, P, F)`, and where the pair is seen."
    L, b, v = x['location'], x['boxes'], x['box_valid']
    N = L.shape[1]; iu = torch.triu_indices(N, N, 1)
    here = (L != 0).any(-1)                                              # padded slots hold zeros
    r = L[..., 2].amax(0); rs = r[:, None] + r[None]                     # a resting object's centre height: half its size
    ahead = torch.arange(1, len(L) - n_context + 2).view(-1, 1, 1)         # frames n_context..T, one past the clip's end
    cv = torch.cat([L[:n_context], L[n_context - 1] + ahead * (L[n_context - 1] - L[n_context - 2])])
    pad = lambda a: torch.cat([a, a[-1:]])
    L, b = pad(L), pad(b)
    d3 = lambda P, t: torch.cdist(P[t, :, :2], P[t, :, :2]) - rs
    out = {k: [] for k in ('3D', '2D', '3Dcv', 'ok3D', 'ok2D', 'ok3Dcv')}
    for k in range(n_future):
        t0, ts = n_context - 1 + k, range(n_context - 2 + k, n_context + 2 + k)
        c = lambda t: box_centers(b[t])
        out['3D'].append(torch.stack([d3(L, t) for t in ts] + [rs], -1)[iu[0], iu[1]])
        out['3Dcv'].append(torch.stack([d3(cv, t) for t in ts] + [rs], -1)[iu[0], iu[1]])
        out['2D'].append(torch.stack(sum([[torch.cdist(c(t), c(t)), box_gap(b[t][:, None], b[t][None])] for t in ts], []), -1)[iu[0], iu[1]])
        seen = here[t0 - 1:t0 + 3].all(0); out['ok3D'].append((seen[:, None] & seen[None])[iu[0], iu[1]])
        ctx = here[n_context - 2:n_context].all(0); out['ok3Dcv'].append((ctx[:, None] & ctx[None])[iu[0], iu[1]])
        bv = v[n_context - 1]; out['ok2D'].append((bv[:, None] & bv[None])[iu[0], iu[1]])    # what the object heads start from
    out = {k: torch.stack(a) for k, a in out.items()}
    out['y'] = x['collision_pairs'][n_context - 1:n_context - 1 + n_future][:, iu[0], iu[1]].float()
    return out


def fit_classifier(X, y, hidden: int = 32, steps: int = 1500, seed: int = 0):
    "A 2-layer MLP on standardised features, class-balanced logistic loss; returns its scoring function."
    torch.manual_seed(seed)
    m = torch.nn.Sequential(torch.nn.Linear(X.shape[1], hidden), torch.nn.SiLU(), torch.nn.Linear(hidden, hidden), torch.nn.SiLU(), torch.nn.Linear(hidden, 1))
    opt = torch.optim.Adam(m.parameters(), 3e-3, weight_decay=1e-4)
    mu, sd = X.mean(0), X.std(0) + 1e-6
    w = (1 - y).sum() / y.sum().clamp(min=1)
    for _ in range(steps):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(m((X - mu) / sd)[:, 0], y, pos_weight=w)
        opt.zero_grad(); loss.backward(); opt.step()
    return lambda Z: m((Z - mu) / sd)[:, 0].detach()


def learned(feats: list, n_future: int, folds: int = 5) -> dict:
    "Per input: cross-validated pair scores, a transition scored by its best pair -> (scores, labels) over all clips' future transitions."
    out = {}
    for name, key in (('3D positions, true future', '3D'), ('2D boxes, true future', '2D'), ('3D positions of the context, constant velocity', '3Dcv')):
        scores = []
        for f in range(folds):
            tr = [c for i, c in enumerate(feats) if i % folds != f]
            X = torch.cat([c[key][c['ok' + key]] for c in tr]); y = torch.cat([c['y'][c['ok' + key]] for c in tr])
            score = fit_classifier(X, y)
            for i, c in enumerate(feats):
                if i % folds == f:
                    s = score(c[key].flatten(0, 1)).view(n_future, -1).masked_fill(~c['ok' + key], -1e9)
                    scores.append((i, s.amax(1) if s.shape[1] else torch.full((n_future,), -1e9)))
        out[name] = torch.cat([s for _, s in sorted(scores, key=lambda p: p[0])])
    return out


def main(preset: str = 'demo', split: str = 'validation', runs: str | None = None, n_context: int = 6, n_future: int = 10):
    ds = protocol_clips(ensure_mini_clevrer(preset, progress=False), split, n_context=n_context, n_future=n_future)
    rules = {'2D boxes, true future: gaps closing': [], '2D boxes, true future: centres closing': [],
             '2D boxes, constant velocity: centres closing': [], '3D positions, true future: closing into contact': []}
    y, feats = [], []
    for i in range(len(ds)):
        x = ds[i]
        feats.append(pair_features(x, n_context, n_future))
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
            here = (L[t0] != 0).any(-1) & (L[t1] != 0).any(-1)
            p3 = here[:, None] & here[None] & ~eye
            d = lambda t: torch.cdist(L[t, :, :2], L[t, :, :2])
            rules['3D positions, true future: closing into contact'].append(closing(d(t0), d(t1), p3, touch=0.86))
            y.append(float(x['collision'][t0]))
    y, clip = torch.tensor(y), torch.arange(len(ds)).repeat_interleave(n_future)
    print(f"{split}: {len(ds)} clips x {n_future} future transitions, {int(y.sum())} with a collision "
          f"(positive rate {y.mean():.3f} = the AP of a constant score). AP [90% interval over resampled clips]:")
    for k, s in rules.items(): print(f"  AP {interval(s, y, clip)}  rule, {k}")
    for k, s in learned(feats, n_future).items(): print(f"  AP {interval(s, y, clip)}  classifier (5-fold over clips), {k}")
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
    y, head, y_tr = [], {n: [] for n in trained}, []
    for i in range(len(ds)):
        x = ds[i]
        b, v = x['boxes'], x['box_valid']
        y_tr.append(x['collision'][n_context - 1:n_context - 1 + n_future])
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
            head[n].append(out['collision'][0])
    clip = torch.cat([torch.full((len(a),), i) for i, a in enumerate(y)]); y = torch.cat(y)
    print(f"{len(ds)} clips, {len(y)} pairs of objects seen in the last context frame, {int(y.sum())} collide in the rollout "
          f"(positive rate {y.float().mean():.3f} = the AP of a constant score)")
    for k, s in rules.items(): print(f"  event AP {interval(torch.cat(s), y, clip)}  {k}")
    if trained:
        y_tr = torch.cat(y_tr); clip_tr = torch.arange(len(ds)).repeat_interleave(n_future)
        print("The trained heads' per-transition score (the evaluation's collision_ap" + ("; clips they were trained on):" if ds.split == 'train' else "):"))
        for n, s in head.items(): print(f"  AP {interval(torch.cat(s), y_tr, clip_tr)}  {n} collision head")


if __name__ == '__main__':
    main(*sys.argv[1:4])
