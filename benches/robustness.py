#!/usr/bin/env python3
"""Differential robustness run: verigrade beside zxing-cpp on a seeded matrix of rendered symbols.

Every symbol is rendered by `verigrade gen` with one value drawn for each axis of the matrix:

  contrast   light/dark reflectances (Symbol Contrast down to 0.15)
  polarity   dark-on-light, light-on-dark
  angle      axis-aligned (a quarter turn), any angle
  module_px  2.5 to 30 pixels per module
  camera     sharp (no blur, no noise), blurred and noisy
  framing    a printed quiet zone of 1-4 modules on a cluttered carton, or a tight crop (0-2 modules) of a
             symbol printed with a 2-module quiet zone on plain paper, as a lab scan
  shape      square, rectangular (ISO/IEC 16022), DMRE (ISO/IEC 21471)

and crowded frames (`gen --crowd`: 30 or 100 GS1 packs in a 2448x2048 view of a case, sharp or blurred and
noisy). Each image is read by verigrade (`read --format json`, every symbol) and by zxing-cpp (in-process, as
../shared/tools/peer-decode.py does); a symbol counts as read when a decoder reports its text (GS separators
removed, as peers.py compares). Per axis value the table gives symbols, verigrade reads and zxing-cpp reads, and
flags the cells where verigrade reads fewer than zxing-cpp. A summary and, per flagged cell, commands that
reproduce a symbol verigrade misses and zxing-cpp reads follow.

With --keep DIR the images, their ground truth and results.tsv (per symbol: axis values, read by each
decoder, the `gen` command) stay in DIR.

Usage: python3 benches/robustness.py [--seed 1] [--count 800] [--crowd-frames 4] [--keep DIR]
                                     [--only AXIS=VALUE ...] [--misses N]
--only fixes an axis to one value for every symbol (repeatable), e.g. --only contrast=0.80/0.50 or
--only framing=crop1; --only crowd=crowd30 renders crowded frames only. Builds verigrade with
`cargo build --release`. Needs: pip install zxing-cpp pillow numpy.
"""
import argparse
import collections
import concurrent.futures
import importlib.util
import json
import math
import os
import random
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEER_TOOL = os.path.join(ROOT, '..', 'shared', 'tools', 'peer-decode.py')

# (light, dark) reflectances; Symbol Contrast = light - dark.
CONTRASTS = ['0.85/0.05', '0.70/0.30', '0.40/0.15', '0.80/0.50', '0.60/0.30', '0.50/0.30', '0.70/0.55']
MODULE_PX = [2.5, 3, 4, 5, 6, 8, 10, 15, 20, 30]
FRAMINGS = ['qz1', 'qz2', 'qz3', 'qz4', 'crop0', 'crop0.5', 'crop1', 'crop2']
# Data codewords per size (ISO/IEC 16022 Table 7, ISO/IEC 21471 Table 1).
SIZES = {
    'square': {'10x10': 3, '12x12': 5, '14x14': 8, '16x16': 12, '18x18': 18, '20x20': 22, '22x22': 30,
               '24x24': 36, '26x26': 44, '32x32': 62, '36x36': 86, '40x40': 114, '44x44': 144},
    'rectangular': {'8x18': 5, '8x32': 10, '12x26': 16, '12x36': 22, '16x36': 32, '16x48': 49},
    'dmre': {'8x48': 18, '8x64': 24, '8x80': 32, '8x96': 38, '8x120': 49, '8x144': 63, '12x64': 43,
             '12x88': 64, '16x64': 62, '20x36': 44, '20x44': 56, '20x64': 84, '22x48': 72, '24x48': 80,
             '24x64': 108, '26x40': 70, '26x48': 90, '26x64': 118},
}
AXES = {
    'contrast': CONTRASTS,
    'polarity': ['dark-on-light', 'light-on-dark'],
    'angle': ['axis-aligned', 'any'],
    'module_px': [str(p) for p in MODULE_PX],
    'camera': ['sharp', 'blurred+noisy'],
    'framing': FRAMINGS,
    'shape': list(SIZES),
}
# Crowded frames: (name, packs, module px, blur, noise), cycled over --crowd-frames.
CROWDS = [('crowd30', 30, 6, 0.0, 0.0), ('crowd30', 30, 6, 1.0, 4.0),
          ('crowd100', 100, 5, 0.0, 0.0), ('crowd100', 100, 5, 0.8, 3.0)]
LONGEST_PX = 1600
TEXT_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-./'


def load_peer_tool():
    spec = importlib.util.spec_from_file_location('peer_decode', PEER_TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def plain(text):
    return text.replace('\x1d', '')


def symbol_args(rng, index, fixed):
    """The axis values and `gen` options of single symbol `index`."""
    axes = {axis: fixed.get(axis, rng.choice(values)) for axis, values in AXES.items()}
    light, dark = axes['contrast'].split('/')
    px = float(axes['module_px'])
    # Symbols up to 1600 px long, so that the run stays within minutes.
    fitting = sorted((size, capacity) for size, capacity in SIZES[axes['shape']].items()
                     if max(map(int, size.split('x'))) * px <= LONGEST_PX)
    size, capacity = rng.choice(fitting)
    rows, cols = map(int, size.split('x'))
    rotation = rng.choice([0, 90, 180, 270]) if axes['angle'] == 'axis-aligned' else round(rng.uniform(0, 360), 1)
    length = max(1, rng.randint(max(1, capacity // 2), capacity))
    text = f'{index:05d}'[:length] + ''.join(rng.choice(TEXT_CHARS) for _ in range(length - 5))
    args = ['--text', text, '--size', size, '--module-px', f'{px:g}', '--light', light, '--dark', dark,
            '--rotate', f'{rotation:g}', '--seed', str(index)]
    if axes['polarity'] == 'light-on-dark':
        args.append('--light-on-dark')
    if axes['camera'] == 'blurred+noisy':
        blur = round(rng.uniform(0.4, max(0.5, min(1.5, 0.3 * px))), 2)
        args += ['--blur', f'{blur:g}', '--noise', f'{round(rng.uniform(2, 6), 1):g}']
    framing = axes['framing']
    if framing.startswith('crop'):
        args += ['--quiet-zone', '2', '--crop', framing[4:]]
    else:
        # A printed quiet zone of Q modules on a carton canvas with room around it.
        qz = int(framing[2:])
        rad = math.radians(rotation)
        half_w, half_h = (cols / 2 + qz) * px, (rows / 2 + qz) * px
        ext_x = half_w * abs(math.cos(rad)) + half_h * abs(math.sin(rad))
        ext_y = half_w * abs(math.sin(rad)) + half_h * abs(math.cos(rad))
        room = max(24, int(0.15 * max(ext_x, ext_y)))
        width, height = int(2 * ext_x) + 2 * room, int(2 * ext_y) + 2 * room
        dx, dy = rng.randint(-room // 2, room // 2), rng.randint(-room // 2, room // 2)
        args += ['--quiet-zone', str(qz), '--carton', '--canvas', f'{width}x{height}', '--offset', f'{dx},{dy}']
    axes['crowd'] = 'single'
    return axes, args


def crowd_args(index, seed):
    name, packs, px, blur, noise = CROWDS[index % len(CROWDS)]
    args = ['--crowd', str(packs), '--canvas', '2448x2048', '--size', '22x22', '--module-px', str(px),
            '--seed', str(seed * 1000 + index)]
    if blur:
        args += ['--blur', str(blur), '--noise', str(noise)]
    return {'crowd': name, 'camera': 'blurred+noisy' if blur else 'sharp'}, args


def render(verigrade, path, args):
    """Renders with `gen`, retrying with shorter text when the data does not fit the size."""
    while True:
        done = subprocess.run([verigrade, 'gen', *args, '-o', path], capture_output=True, text=True)
        if done.returncode == 0:
            return args
        if 'does not fit' not in done.stderr or '--text' not in args:
            raise RuntimeError(f'gen {shlex.join(args)}: {done.stderr.strip()}')
        i = args.index('--text') + 1
        if len(args[i]) <= 1:
            raise RuntimeError(f'gen {shlex.join(args)}: {done.stderr.strip()}')
        args = [*args[:i], args[i][:len(args[i]) * 3 // 4], *args[i + 1:]]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--count', type=int, default=800, help='single-symbol images')
    ap.add_argument('--crowd-frames', type=int, default=4, help='crowded frames (30 or 100 packs each)')
    ap.add_argument('--keep', help='keep the images and their ground truth in this folder')
    ap.add_argument('--only', action='append', default=[], metavar='AXIS=VALUE')
    ap.add_argument('--misses', type=int, default=3, help='reproducing commands shown per flagged cell')
    a = ap.parse_args()

    fixed = {}
    for item in a.only:
        axis, _, value = item.partition('=')
        known = dict(AXES, crowd=['single', 'crowd30', 'crowd100'])
        if axis not in known or value not in known[axis]:
            sys.exit(f'--only {item}: axes and values are ' +
                     '; '.join(f'{k}={"|".join(v)}' for k, v in known.items()))
        fixed[axis] = value
    singles = 0 if fixed.get('crowd', 'single') != 'single' else a.count
    crowd_frames = a.crowd_frames if fixed.get('crowd', 'crowd') != 'single' and \
        set(fixed) <= {'crowd', 'camera'} else 0

    subprocess.run(['cargo', 'build', '--release', '--quiet'], cwd=ROOT, check=True)
    verigrade = os.path.join(ROOT, 'target', 'release', 'verigrade')
    work = a.keep or tempfile.mkdtemp(prefix='verigrade-robustness-')
    os.makedirs(work, exist_ok=True)

    # Jobs: (path, axis values, gen args)
    jobs = []
    rng = random.Random(a.seed)
    for i in range(singles):
        axes, args = symbol_args(rng, i, fixed)
        jobs.append((os.path.join(work, f's{i:04d}.png'), axes, args))
    picked = [i for i in range(len(CROWDS) * a.crowd_frames)
              if CROWDS[i % len(CROWDS)][0] == fixed.get('crowd', CROWDS[i % len(CROWDS)][0])
              and ('camera' not in fixed or
                   (CROWDS[i % len(CROWDS)][3] > 0) == (fixed['camera'] == 'blurred+noisy'))][:crowd_frames]
    for i in picked:
        axes, args = crowd_args(i, a.seed)
        jobs.append((os.path.join(work, f'c{i:03d}.png'), axes, args))

    started = time.time()
    with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        rendered = list(pool.map(lambda job: render(verigrade, job[0], job[2]), jobs))
    jobs = [(path, axes, args) for (path, axes, _), args in zip(jobs, rendered)]
    render_s = time.time() - started

    # Expected texts per image, from the ground truth beside it.
    expected = {}
    for path, _, _ in jobs:
        with open(path[:-4] + '.json') as f:
            truth = json.load(f)
        expected[path] = [plain(s['text']) for s in truth['symbols']] if 'symbols' in truth else [plain(truth['text'])]

    started = time.time()
    out = subprocess.run([verigrade, 'read', '--format', 'json', *[p for p, _, _ in jobs]],
                         capture_output=True, text=True)
    verigrade_texts = {}
    for line in out.stdout.splitlines():
        record = json.loads(line)
        verigrade_texts[record['path']] = {plain(s['text']) for s in record.get('symbols', [])}
    verigrade_s = time.time() - started

    from PIL import Image
    import numpy as np
    zxing = load_peer_tool().peer_zxingcpp()
    started = time.time()
    zxing_texts = {path: {plain(t) for t in zxing(np.array(Image.open(path).convert('L')))} for path, _, _ in jobs}
    zxing_s = time.time() - started

    # Per symbol: its axis values, whether each decoder read it, and how to render it again.
    symbols = []
    for path, axes, args in jobs:
        for text in expected[path]:
            symbols.append((axes, text in verigrade_texts.get(path, set()), text in zxing_texts[path],
                            ['verigrade', 'gen', *args, '-o', os.path.basename(path)]))

    total = len(symbols)
    vg = sum(s[1] for s in symbols)
    zx = sum(s[2] for s in symbols)
    print(f'Robustness matrix: seed {a.seed}, {total} symbols in {len(jobs)} images '
          f'({singles} single-symbol images, {len(picked)} crowded frames); '
          f'rendered in {render_s:.0f} s, read by verigrade in {verigrade_s:.0f} s, by zxing-cpp in {zxing_s:.0f} s')
    if fixed:
        print('Only: ' + ', '.join(f'{k}={v}' for k, v in fixed.items()))
    print()
    flagged = []
    for axis in [*AXES, 'crowd']:
        cells = collections.OrderedDict((v, [0, 0, 0, []]) for v in (AXES.get(axis) or ['single', 'crowd30', 'crowd100']))
        for axes, v_ok, z_ok, command in symbols:
            if axis not in axes:
                continue
            cell = cells.setdefault(axes[axis], [0, 0, 0, []])
            cell[0] += 1
            cell[1] += v_ok
            cell[2] += z_ok
            if z_ok and not v_ok:
                cell[3].append(command)
        print(f'| {axis} | symbols | verigrade | zxing-cpp | |')
        print('|---|---|---|---|---|')
        for value, (n, v_ok, z_ok, misses) in cells.items():
            if n == 0:
                continue
            flag = 'verigrade < zxing-cpp' if v_ok < z_ok else ''
            if flag:
                flagged.append((axis, value, n, v_ok, z_ok, misses))
            print(f'| {value} | {n} | {v_ok} | {z_ok} | {flag} |')
        print()

    # Contrast is the strongest axis; crossed with each other axis, it tells a miss that comes
    # with low contrast from one that comes with the other axis.
    print('Contrast crossed with each axis (single symbols): verigrade / zxing-cpp / symbols, * where verigrade '
          'reads fewer')
    print()
    contrasts = [c for c in CONTRASTS if any(axes.get('contrast') == c for axes, *_ in symbols)]
    for axis in [a for a in AXES if a != 'contrast']:
        print(f'| {axis} | ' + ' | '.join(contrasts) + ' |')
        print('|---|' + '---|' * len(contrasts))
        for value in AXES[axis]:
            row = []
            for contrast in contrasts:
                cell = [(v_ok, z_ok) for axes, v_ok, z_ok, _ in symbols
                        if axes.get(axis) == value and axes.get('contrast') == contrast]
                v_ok, z_ok = sum(c[0] for c in cell), sum(c[1] for c in cell)
                row.append(f'{v_ok}/{z_ok}/{len(cell)}' + ('*' if v_ok < z_ok else '') if cell else '')
            if any(row):
                print(f'| {value} | ' + ' | '.join(row) + ' |')
        print()

    # A text no symbol of the image holds: a misread, which a verifier must never report. Counted
    # by distinct text: a symbol reported twice, or read as another symbol's text of the same
    # image, is not counted here.
    misreads = {name: sum(len(texts.get(path, set()) - set(expected[path])) for path, _, _ in jobs)
                for name, texts in (('verigrade', verigrade_texts), ('zxing-cpp', zxing_texts))}
    only_zxing = sum(1 for s in symbols if s[2] and not s[1])
    only_verigrade = sum(1 for s in symbols if s[1] and not s[2])
    print(f'Summary: {total} symbols; verigrade read {vg} ({100 * vg / total:.1f} %), zxing-cpp {zx} '
          f'({100 * zx / total:.1f} %); zxing-cpp only: {only_zxing}, verigrade only: {only_verigrade}; '
          f'misreads (a text the image does not hold): verigrade {misreads["verigrade"]}, '
          f'zxing-cpp {misreads["zxing-cpp"]}; '
          f'{len(flagged)} cells where verigrade reads fewer than zxing-cpp'
          + (': ' + ', '.join(f'{axis}={value} ({v_ok} vs {z_ok} of {n})'
                               for axis, value, n, v_ok, z_ok, _ in flagged) if flagged else '.'))
    if flagged and a.misses:
        print()
        print('Symbols verigrade misses and zxing-cpp reads, per flagged cell (first few):')
        for axis, value, _, _, _, misses in flagged:
            print(f'{axis}={value}:')
            for command in misses[:a.misses]:
                print('  ' + shlex.join(command))
    if not a.keep:
        shutil.rmtree(work)
        return
    with open(os.path.join(work, 'results.tsv'), 'w') as f:
        f.write('\t'.join([*AXES, 'crowd', 'verigrade', 'zxing-cpp', 'command']) + '\n')
        for axes, v_ok, z_ok, command in symbols:
            f.write('\t'.join([*(axes.get(axis, '') for axis in [*AXES, 'crowd']), str(int(v_ok)), str(int(z_ok)),
                               shlex.join(command)]) + '\n')
    print(f'\nImages, ground truth and results.tsv (one line per symbol) kept in {work}')


if __name__ == '__main__':
    main()
