#!/usr/bin/env python3
"""verigrade beside zxing-cpp and libdmtx on the same line-speed frames, in one run.

Renders frames 0..N-1 of the line-speed set (`verigrade gen --line-frame I`: a GS1 pack code at
5-9 px/module, any angle, anywhere on a cluttered carton), reads each with verigrade
(`read --first --timing R`: in-process, image already in memory, median of R reads) and with
each peer (in-process, image already in memory, median of R reads, as
../shared/tools/peer-decode.py does), and prints per decoder the frames decoded to the expected
text, the median time per frame and its ratio to verigrade's.

With `--set damaged-finder` the frames are instead 26x26 GS1 symbols at 6 px/module on a cluttered
carton, any angle, blurred and noisy, with 1-5 modules of the finder L printed light (`gen
--damage-finder`): how each decoder copes with a damaged finder.

With `--set crowd` the frames are 2448x2048 views into an open case (`gen --crowd`): `--packs` GS1 packs of
22x22 (default 30, at 6 px/module; more than 30 at 5 px/module), each with its own serial; every decoder reads
every symbol (verigrade without --first) and the table counts the packs read to their expected text.

Usage: python3 benches/peers.py [--set line|damaged-finder|crowd] [--frames 40] [--canvas WxH] [--repeat 5]
                                [--packs 30]
Peers: pip install zxing-cpp pillow numpy; apt-get install -y libdmtx0b && pip install pylibdmtx
(a missing peer is reported and skipped). Builds verigrade with `cargo build --release`.
"""
import argparse
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEER_TOOL = os.path.join(ROOT, '..', 'shared', 'tools', 'peer-decode.py')


def load_peer_tool():
    spec = importlib.util.spec_from_file_location('peer_decode', PEER_TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def same(a, b):
    return a.replace('\x1d', '') == b.replace('\x1d', '')


def read_count(expected, got):
    """How many of the expected texts are among the texts a decoder reported."""
    return sum(any(same(g, e) for g in got) for e in expected)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--set', choices=['line', 'damaged-finder', 'crowd'], default='line')
    ap.add_argument('--frames', type=int, default=40)
    ap.add_argument('--canvas', help='default 1280x1024; 2448x2048 for --set crowd')
    ap.add_argument('--repeat', type=int, default=5)
    ap.add_argument('--packs', type=int, default=30)
    a = ap.parse_args()
    a.canvas = a.canvas or ('2448x2048' if a.set == 'crowd' else '1280x1024')

    subprocess.run(['cargo', 'build', '--release', '--quiet'], cwd=ROOT, check=True)
    verigrade = os.path.join(ROOT, 'target', 'release', 'verigrade')
    work = tempfile.mkdtemp(prefix='verigrade-peers-')
    expected = {}
    for i in range(a.frames):
        path = os.path.join(work, f'frame{i:03d}.png')
        if a.set == 'line':
            spec = ['--line-frame', str(i), '--canvas', a.canvas]
        elif a.set == 'crowd':
            spec = ['--crowd', str(a.packs), '--size', '22x22', '--module-px', '6' if a.packs <= 30 else '5',
                    '--canvas', a.canvas, '--seed', str(i + 1)]
        else:
            spec = ['--text', '0109506000134352172812311012AB34', '--gs1', '--size', '26x26', '--module-px', '6',
                    '--rotate', str(i * 37 % 360), '--damage-finder', str(1 + i % 5), '--carton',
                    '--canvas', a.canvas, '--blur', '0.8', '--noise', '3', '--seed', str(i)]
        subprocess.run([verigrade, 'gen', *spec, '-o', path], check=True, stdout=subprocess.DEVNULL)
        with open(path[:-4] + '.json') as f:
            truth = json.load(f)
        # Every expected text of the frame: one symbol, or every pack of a crowd.
        expected[path] = [s['text'] for s in truth['symbols']] if 'symbols' in truth else [truth['text']]
    frames = sorted(expected)

    results = {}
    first = [] if a.set == 'crowd' else ['--first']
    out = subprocess.run([verigrade, 'read', *first, '--format', 'json', '--timing', str(a.repeat), *frames],
                         capture_output=True, text=True)
    ok, times = 0, []
    for line in out.stdout.splitlines():
        r = json.loads(line)
        ok += read_count(expected[r['path']], [s['text'] for s in r.get('symbols', [])])
        times.append(r['read_ms'])
    results['verigrade'] = (ok, statistics.median(times))

    from PIL import Image
    import numpy as np
    tool = load_peer_tool()
    for name, make in [('zxing-cpp', tool.peer_zxingcpp), ('libdmtx', tool.peer_libdmtx)]:
        try:
            run = make()
        except Exception as e:  # peer not installed
            print(f'{name}: not available ({e})', file=sys.stderr)
            continue
        ok, times = 0, []
        for path in frames:
            pixels = np.array(Image.open(path).convert('L'))
            per_frame = []
            for _ in range(a.repeat):
                t0 = time.perf_counter()
                got = run(pixels)
                per_frame.append(1000 * (time.perf_counter() - t0))
            ok += read_count(expected[path], got)
            times.append(statistics.median(per_frame))
        results[name] = (ok, statistics.median(times))

    base = results['verigrade'][1]
    what = {'line': 'line-speed frames', 'damaged-finder': 'frames with a damaged finder L',
            'crowd': f'crowded frames of {a.packs} packs'}[a.set]
    symbols = sum(len(e) for e in expected.values())
    print(f'{len(frames)} {what} at {a.canvas}, median of {a.repeat} reads each; '
          f'{platform.processor() or platform.machine()}, {os.cpu_count()} cores')
    print(f'| decoder | decoded | median per frame | ratio to verigrade |')
    print(f'|---|---|---|---|')
    for name, (ok, median) in results.items():
        print(f'| {name} | {ok} / {symbols} | {median:.2f} ms | {median / base:.1f}x |')


if __name__ == '__main__':
    main()
