#!/usr/bin/env python
"""Open notebooks in a real JupyterLab (headless Chromium) and check what a reader meets.

    python scripts/lab_check.py [notebooks...] [--out /tmp/lab_check/] [--timeout 1800]
    python scripts/lab_check.py --all --open-only      # every notebook: opening must not mark it modified (~10 s each)

For each notebook (default: index.ipynb 00a_synthetic.ipynb 09_evaluation.ipynb; a name is looked up in nbs/):
1. opens it in JupyterLab and checks it is NOT marked modified once its kernel is up (before anything runs);
2. Run > Run All Cells, waits until the kernel is idle and no cell is queued;
3. checks there are no error outputs and no traceback on stderr (other stderr outputs are listed as warnings:
   they are the red boxes a reader sees);
4. for a notebook with ipywidgets viewers (dropdown + slider + image, as `cvp.evaluation.rollout_viewer`):
   moves the slider and changes the dropdown and checks the displayed image changes;
5. saves it (File > Save, through the nbdev save hook as `nbdev_install_hooks` sets it up) and reports its size;
6. writes `<out>/<notebook>_pNN.png` (the whole notebook after Run All, page by page), `<notebook>_opened.png` and, for viewers, `<out>/<notebook>_viewer*.png`.

JupyterLab serves a temporary COPY of nbs/, figures/ and settings.ini (the repository's notebooks are never
modified); the kernel imports `cvp` from this repository (PYTHONPATH), so data caches land in its data/ as in
nbdev_test. Jupyter's config, data-independent settings and workspaces are temporary too (no user config is read).
Needs: jupyterlab, playwright (pip; no browser download) and a Chromium (`apt-get install chromium`).
Exit code 0 when every notebook passed, 1 otherwise (2: the set-up itself failed).
"""
import argparse, json, os, re, shutil, socket, subprocess, sys, tempfile, time, secrets, urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_NBS = ['index.ipynb', '00a_synthetic.ipynb', '09_evaluation.ipynb']
CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                 '--disable-background-networking', '--disable-component-update', '--disable-sync',
                 '--disable-dev-shm-usage']
# JupyterLab settings for the check: every cell in the DOM (so the DOM checks see all outputs), no news/update
# pop-ups (closed network), no autosave (the check saves once, explicitly)
LAB_SETTINGS = {
    '@jupyterlab/notebook-extension/tracker.jupyterlab-settings': {'windowingMode': 'none'},
    '@jupyterlab/apputils-extension/notification.jupyterlab-settings': {'fetchNews': 'false', 'checkForUpdates': False},
    '@jupyterlab/docmanager-extension/plugin.jupyterlab-settings': {'autosave': False},
}


class CheckError(Exception): "A check failed; the message says which and why."


def log(*a): print(time.strftime('%H:%M:%S'), *a, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


def make_root(tmp: Path) -> Path:
    "The served copy: nbs/, figures/, settings.ini (the notebooks refer to ../figures and find settings.ini above)."
    root = tmp/'root'; root.mkdir()
    ign = shutil.ignore_patterns('.ipynb_checkpoints', '__pycache__', '*.tmp')
    shutil.copytree(ROOT/'nbs', root/'nbs', ignore=ign)
    shutil.copytree(ROOT/'figures', root/'figures', ignore=ign)
    shutil.copy2(ROOT/'settings.ini', root/'settings.ini')
    return root


def make_env(tmp: Path, hook: bool) -> dict:
    env = dict(os.environ)
    for k, sub in (('JUPYTER_CONFIG_DIR', 'config'), ('JUPYTER_RUNTIME_DIR', 'runtime'),
                   ('JUPYTERLAB_SETTINGS_DIR', 'lab-settings'), ('JUPYTERLAB_WORKSPACES_DIR', 'workspaces')):
        env[k] = str(tmp/sub); (tmp/sub).mkdir()
    env['PYTHONPATH'] = os.pathsep.join([str(ROOT)] + [p for p in env.get('PYTHONPATH', '').split(os.pathsep) if p])
    env.pop('MPLBACKEND', None)  # a test harness's Agg would hide inline figures
    for name, val in LAB_SETTINGS.items():
        p = tmp/'lab-settings'/name; p.parent.mkdir(parents=True, exist_ok=True); p.write_text(json.dumps(val))
    if hook:  # exactly what `nbdev_install_hooks` writes into ~/.jupyter/jupyter_server_config.py
        from nbdev.clean import _pre_save_hook_src
        (tmp/'config'/'jupyter_server_config.py').write_text(_pre_save_hook_src + '\n')
    return env


def start_lab(root: Path, env: dict, port: int, token: str, logf, timeout: float):
    cmd = [sys.executable, '-m', 'jupyter', 'lab', '--no-browser', f'--port={port}', '--ip=127.0.0.1',
           f'--ServerApp.token={token}', f'--ServerApp.root_dir={root}', '--ServerApp.port_retries=0',
           '--LabApp.expose_app_in_browser=True', '--LabApp.news_url=', '--ServerApp.open_browser=False']
    if hasattr(os, 'geteuid') and os.geteuid() == 0: cmd.append('--allow-root')
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)
    url = f'http://127.0.0.1:{port}/api/status?token={token}'
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None: raise CheckError(f'jupyter lab exited with code {proc.returncode} at start; see {logf.name}')
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200: return proc
        except OSError: pass
        time.sleep(0.5)
    raise CheckError(f'jupyter lab did not answer on port {port} within {timeout:.0f} s; see {logf.name}')


def api(base: str, token: str, path: str, method='GET'):
    req = urllib.request.Request(f'{base}{path}', method=method, headers={'Authorization': f'token {token}'})
    with urllib.request.urlopen(req, timeout=30) as r:
        body = r.read()
        return json.loads(body) if body else None


def stop_kernels(base, token):
    try:
        for s in api(base, token, '/api/sessions'): api(base, token, f"/api/sessions/{s['id']}", 'DELETE')
    except OSError as e: log(f'  (could not stop kernels: {e})')


# ---- browser side -------------------------------------------------------------------------------------------
JS_STATE = """() => {
  const app = window.jupyterapp, w = app && app.shell.currentWidget;
  if (!w || !w.context || !w.content || !w.content.model) return null;
  const sc = w.context.sessionContext, k = sc.session && sc.session.kernel;
  const tab = document.querySelector('.jp-mod-current.lm-TabBar-tab, .lm-TabBar-tab.lm-mod-current');
  return {path: w.context.path, dirty: w.context.model.dirty, ready: w.context.isReady,
          tabDirty: !!(tab && tab.classList.contains('jp-mod-dirty')),
          kernel: k ? k.status : null, conn: k ? k.connectionStatus : null, kernelName: k ? k.name : null,
          kernelDisplay: sc.kernelDisplayName,
          queued: Array.from(document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-InputPrompt'))
                       .filter(e => e.textContent.includes('*')).length,
          dialog: (document.querySelector('.jp-Dialog') || {}).textContent || null};
}"""

JS_META = """() => { const m = window.jupyterapp.shell.currentWidget.content.model;
  return {kernelspec: m.getMetadata('kernelspec'), language_info: m.getMetadata('language_info')}; }"""

JS_OUTPUTS = """() => {
  const m = window.jupyterapp.shell.currentWidget.content.model, res = [];
  let code = 0, ran = 0;
  for (let i = 0; i < m.cells.length; i++) {
    const c = m.cells.get(i); if (c.type !== 'code') continue; code++;
    if (c.executionCount != null) ran++;
    const outs = c.outputs.toJSON();
    for (const o of outs) {
      if (o.output_type === 'error') res.push({cell: i, kind: 'error', text: o.ename + ': ' + o.evalue});
      else if (o.output_type === 'stream' && o.name === 'stderr') {
        const t = Array.isArray(o.text) ? o.text.join('') : o.text;
        res.push({cell: i, kind: t.includes('Traceback') ? 'traceback' : 'stderr', text: t});
      }
    }
  }
  const dom = document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-RenderedText[data-mime-type="application/vnd.jupyter.stderr"]');
  const domTb = Array.from(dom).filter(e => /Traceback|Error\\b.*:/.test(e.textContent) && e.textContent.includes('Traceback')).length;
  return {items: res, code, ran, domStderr: dom.length, domTraceback: domTb};
}"""


def wait_for(page, pred, timeout, what, poll=0.5):
    t0 = time.time(); last = None
    while time.time() - t0 < timeout:
        last = page.evaluate(JS_STATE)
        if last and last.get('dialog'): raise CheckError(f'{what}: a dialog is open: {last["dialog"][:300]!r}')
        if last and pred(last): return last
        time.sleep(poll)
    raise CheckError(f'timed out after {timeout:.0f} s {what}; last state {last}')


def click_menu(page, menu: str, item: str):
    page.locator('.lm-MenuBar-itemLabel', has_text=re.compile(f'^{re.escape(menu)}$')).first.click()
    page.locator('.lm-Menu-itemLabel', has_text=re.compile(f'^{re.escape(item)}$')).first.click(timeout=10_000)


def page_screenshots(page, out: Path, stem: str, max_pages=40):
    "The whole notebook as readable viewport-sized pages `<stem>_p01.png`, ... (scrolling its container from the top)."
    sel = '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-outer'
    h, ch = page.evaluate(f"() => {{ const n = document.querySelector('{sel}'); return n ? [n.scrollHeight, n.clientHeight] : [0, 0]; }}")
    for old in out.glob(f'{stem}_p[0-9][0-9].png'): old.unlink()
    k, y = 0, 0
    while k < max_pages:
        page.evaluate(f"y => {{ const n = document.querySelector('{sel}'); if (n) n.scrollTop = y; }}", y)
        time.sleep(0.4); k += 1
        page.screenshot(path=str(out/f'{stem}_p{k:02d}.png'))
        if ch <= 0 or y + ch >= h: break
        y += max(ch - 60, 100)
    return h, k


def check_viewers(page, out: Path, stem: str, timeout: float):
    "Every VBox holding a dropdown, a slider and an image: slider and dropdown must change the image."
    boxes = page.locator('.jp-NotebookPanel:not(.lm-mod-hidden) .widget-vbox:has(.widget-dropdown select):has(.widget-slider):has(img)')
    n = boxes.count()
    if n == 0: return [], 0
    msgs = []
    def src(box): return box.locator('img').first.get_attribute('src')
    def changed(box, before, what):
        t0 = time.time()
        while time.time() - t0 < timeout:
            s = src(box)
            if s and s != before: return s
            time.sleep(0.25)
        raise CheckError(f'viewer {what}: the image did not change within {timeout:.0f} s')
    for i in range(n):
        box = boxes.nth(i); box.scroll_into_view_if_needed()
        img = box.locator('img').first
        size = img.evaluate('e => [e.naturalWidth, e.naturalHeight, e.clientWidth, e.clientHeight]')
        box.screenshot(path=str(out/f'{stem}_viewer{i}_before.png'))
        s0 = src(box)
        handle = box.locator('.widget-slider .noUi-handle').first
        handle.focus(); handle.press('End')                      # noUiSlider keyboard: to the last step
        s1 = changed(box, s0, 'slider (End key)')
        sel = box.locator('.widget-dropdown select').first
        opts = sel.locator('option').all_inner_texts()
        if len(opts) > 1:
            cur = sel.evaluate('e => e.selectedIndex')
            sel.select_option(index=(cur + 1) % len(opts))     # by index: labels are rendered with no-break spaces
            changed(box, s1, f'dropdown ({opts[cur]!r} -> {opts[(cur + 1) % len(opts)]!r})')
        box.screenshot(path=str(out/f'{stem}_viewer{i}_after.png'))
        val = box.locator('.widget-readout').first.inner_text() if box.locator('.widget-readout').count() else '?'
        msgs.append(f'viewer {i}: slider -> {val}, dropdown {len(opts)} options; image natural {size[0]}x{size[1]} px, '
                    f'shown {size[2]}x{size[3]} px: responds')
    return msgs, n


def check_notebook(page, base, token, rel: str, out: Path, root: Path, timeout: float, open_only: bool = False) -> dict:
    stem = Path(rel).stem
    res = {'notebook': rel, 'ok': False, 'failures': [], 'warnings': [], 'notes': []}
    t0 = time.time()
    try:
        page.goto(f'{base}/lab/tree/{rel}?reset&token={token}', wait_until='domcontentloaded', timeout=120_000)
        page.wait_for_selector('.jp-NotebookPanel .jp-Cell', timeout=120_000)
        st = wait_for(page, lambda s: s['path'] == rel and s['ready'] and s['kernel'] == 'idle' and s['conn'] == 'connected',
                      180, 'waiting for the notebook to open and its kernel to be idle')
        time.sleep(2.0)  # kernel_info (language_info) and the kernelspec arrive asynchronously after connect
        st = page.evaluate(JS_STATE)
        meta = page.evaluate(JS_META)
        res['notes'].append(f"kernel {st['kernelName']!r} ({st['kernelDisplay']})")
        if st['dirty'] or st['tabDirty']:
            saved = json.loads((root/rel).read_text())['metadata']
            diff = {k: (saved.get(k), meta.get(k)) for k in ('kernelspec', 'language_info') if saved.get(k) != meta.get(k)}
            hint = (" (the kernelspec's display_name comes from the installed kernel; nbdev_clean stores display_name = name, "
                    "so scripts/setup.sh installs the python3 kernel with display name 'python3')") if 'kernelspec' in diff else ''
            res['failures'].append(f'marked modified right after opening (nothing run); metadata saved -> in JupyterLab: {json.dumps(diff)}{hint}')
        page.screenshot(path=str(out/f'{stem}_opened.png'))
        if open_only:
            res['ok'] = not res['failures']; return res
        # --- Run All
        t_run = time.time()
        click_menu(page, 'Run', 'Run All Cells')
        wait_for(page, lambda s: s['kernel'] == 'busy' or s['queued'] > 0, 60, 'waiting for Run All to start')
        stable, t1 = 0, time.time()
        while stable < 4:
            if time.time() - t1 > timeout: raise CheckError(f'Run All did not finish within {timeout:.0f} s')
            s = page.evaluate(JS_STATE)
            if s.get('dialog'): raise CheckError(f'a dialog opened while running: {s["dialog"][:300]!r}')
            stable = stable + 1 if (s['kernel'] == 'idle' and s['queued'] == 0) else 0
            time.sleep(0.5)
        res['run_s'] = time.time() - t_run
        o = page.evaluate(JS_OUTPUTS)
        res['notes'].append(f"{o['ran']}/{o['code']} code cells ran in {res['run_s']:.0f} s")
        for it in o['items']:
            first = next((l for l in it['text'].splitlines() if l.strip()), '')[:200]
            if it['kind'] in ('error', 'traceback'): res['failures'].append(f"cell {it['cell']}: {it['kind']}: {first}")
            else: res['warnings'].append(f"cell {it['cell']}: stderr: {first}")
        if o['domTraceback']: res['failures'].append(f"{o['domTraceback']} stderr output(s) with a Traceback in the page")
        if o['ran'] < o['code']: res['failures'].append(f"only {o['ran']} of {o['code']} code cells ran")
        # --- widgets
        page.keyboard.press('Escape')
        try: res['notes'] += check_viewers(page, out, stem, 60)[0]
        except Exception as e: res['failures'].append(f'viewer: {str(e)[:500]}')
        # --- screenshot of the whole notebook, then save (through the nbdev hook) and measure
        h, k = page_screenshots(page, out, stem)
        res['notes'].append(f'notebook {h} px tall after Run All: {k} screenshots {stem}_pNN.png')
        click_menu(page, 'File', 'Save Notebook')
        wait_for(page, lambda s: not s['dirty'], 60, 'waiting for the save')
        saved = json.loads((root/rel).read_text())
        n_img = sum(1 for c in saved['cells'] for x in c.get('outputs', []) for k in x.get('data', {}) if k.startswith('image/'))
        res['notes'].append(f"saved after Run All: {(root/rel).stat().st_size/1e6:.2f} MB, {n_img} image outputs, "
                            f"widget state saved: {'widgets' in saved['metadata']}, execution counts kept: "
                            f"{any(c.get('execution_count') for c in saved['cells'])}")
        res['ok'] = not res['failures']
    except CheckError as e: res['failures'].append(str(e))
    except Exception as e: res['failures'].append(f'{type(e).__name__}: {str(e)[:500]}')
    finally:
        try: page.screenshot(path=str(out/f'{stem}_final.png'))
        except Exception: pass
        stop_kernels(base, token)
        res['seconds'] = time.time() - t0
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('notebooks', nargs='*', default=DEFAULT_NBS, help='notebook names in nbs/ (default: %(default)s)')
    ap.add_argument('--out', default='/tmp/lab_check/', help='folder for screenshots and the server log (default: %(default)s)')
    ap.add_argument('--timeout', type=float, default=1800, help='seconds Run All may take per notebook (default: %(default)s)')
    ap.add_argument('--chromium', default=os.environ.get('CHROMIUM', '/usr/bin/chromium'))
    ap.add_argument('--no-hook', action='store_true', help='save without the nbdev pre-save hook')
    ap.add_argument('--keep', action='store_true', help='keep the temporary copy (its path is printed)')
    ap.add_argument('--open-only', action='store_true', help='only check that opening does not mark the notebooks modified (fast)')
    ap.add_argument('--all', action='store_true', help='every notebook in nbs/ (with --open-only: a quick metadata check)')
    a = ap.parse_args(argv)
    t_all = time.time()
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    nbs = [n if n.endswith('.ipynb') else n + '.ipynb' for n in a.notebooks]
    nbs = [Path(n).name for n in nbs]
    if a.all: nbs = sorted(p.name for p in (ROOT/'nbs').glob('*.ipynb') if not p.name.startswith('_'))
    missing = [n for n in nbs if not (ROOT/'nbs'/n).exists()]
    if missing: print(f'no such notebook in {ROOT/"nbs"}: {missing}', file=sys.stderr); return 2
    if not Path(a.chromium).exists():
        print(f'Chromium not found at {a.chromium} (apt-get install chromium, or --chromium PATH)', file=sys.stderr); return 2
    try: from playwright.sync_api import sync_playwright
    except ImportError: print('playwright is missing: pip install -r requirements.txt', file=sys.stderr); return 2
    for n in nbs:
        if '#| eval: false' in (ROOT/'nbs'/n).read_text():
            log(f'note: {n} has `#| eval: false` cells; Run All in JupyterLab runs them too')

    tmp = Path(tempfile.mkdtemp(prefix='lab_check_'))
    results, proc, logf = [], None, open(out/'jupyter_lab.log', 'w')
    try:
        root, env = make_root(tmp), make_env(tmp, hook=not a.no_hook)
        port, token = free_port(), secrets.token_hex(16)
        log(f'starting jupyter lab on port {port}, serving a copy in {root}')
        proc = start_lab(root, env, port, token, logf, 120)
        base = f'http://127.0.0.1:{port}'
        with sync_playwright() as pw:
            ctx = pw.chromium.launch_persistent_context(str(tmp/'chromium-profile'), executable_path=a.chromium, headless=True,
                                                        args=CHROMIUM_ARGS, viewport={'width': 1400, 'height': 1000})
            ctx.set_default_timeout(60_000)
            page = ctx.pages[0] if ctx.pages else ctx.new_page()
            for n in nbs:
                log(f'{n}: opening')
                r = check_notebook(page, base, token, f'nbs/{n}', out, root, a.timeout, a.open_only)
                results.append(r)
                log(f"{n}: {'PASS' if r['ok'] else 'FAIL'} in {r['seconds']:.0f} s")
            ctx.close()
    except CheckError as e:
        print(f'set-up failed: {e}', file=sys.stderr); return 2
    finally:
        if proc and proc.poll() is None:
            os.killpg(proc.pid, 15)
            try: proc.wait(30)
            except subprocess.TimeoutExpired: os.killpg(proc.pid, 9)
        logf.close()
        if a.keep: print(f'kept {tmp}')
        else: shutil.rmtree(tmp, ignore_errors=True)

    total = time.time() - t_all
    print('\n==== lab_check summary ====')
    for r in results:
        print(f"{'PASS' if r['ok'] else 'FAIL'}  {r['notebook']}  {r['seconds']:.0f} s")
        for m in r['notes']: print(f'      {m}')
        for m in r['warnings']: print(f'  warn {m}')
        for m in r['failures']: print(f'  FAIL {m}')
    print(f'screenshots in {out}/ ; total {total:.0f} s ({total/60:.1f} min)')
    return 0 if results and all(r['ok'] for r in results) else 1


if __name__ == '__main__': sys.exit(main())
