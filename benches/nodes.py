#!/usr/bin/env python3
"""Nodes sharing one PostgreSQL store: frames per second and latency for 1, 2 and 4 nodes.

Starts a PostgreSQL server of its own (`.ci/postgres`, Debian's packages), then for each node
count an empty database and that many `verigrade serve --store postgres://…` nodes, each with
its own data folder. Every node gets its own line and its own packs (distinct serials, rendered
by `verigrade gen`: no frame is a duplicate), streamed by two `verigrade stream` clients per
node (half the packs each), all nodes at once. Prints per run the frames stored per second, all
nodes together, and the p50/p99 latency of a frame (sent to answered, the commit in PostgreSQL
included), each the median over --runs runs.

Usage: python3 benches/nodes.py [--nodes 1,2,4] [--packs 400] [--runs 3] [--rate 0]
Builds verigrade with `cargo build --release`.
"""
import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VERIGRADE = os.path.join(ROOT, 'target', 'release', 'verigrade')
GS = '\x1d'
STREAMS = 2


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def psql(url, sql):
    subprocess.run(['psql', url, '-qc', sql], check=True, stdout=subprocess.DEVNULL)


def render_packs(work, node, count):
    """Node `node`'s packs, half in each of its two streams' folders."""
    for i in range(count):
        folder = os.path.join(work, f'packs{node}-{i % STREAMS}')
        os.makedirs(folder, exist_ok=True)
        text = f'0109506000134352172812311012AB34{GS}21N{node}P{i}'
        subprocess.run([VERIGRADE, 'gen', '--gs1', '--text', text, '--module-px', '4',
                        '-o', os.path.join(folder, f'p{i:05}.png')],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.remove(os.path.join(folder, f'p{i:05}.json'))


def start_node(url, data_dir):
    """A node, its log in its data folder (a pipe left unread would stop it once full)."""
    port = free_port()
    os.makedirs(data_dir)
    log_path = os.path.join(data_dir, 'serve.log')
    with open(log_path, 'w') as log:
        node = subprocess.Popen([VERIGRADE, 'serve', '--listen', f'127.0.0.1:{port}',
                                 '--http-listen', 'off', '--data-dir', data_dir, '--store', url],
                                stderr=log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with open(log_path) as log:
            if 'serving on' in log.read():
                return node, f'http://127.0.0.1:{port}'
        if node.poll() is not None:
            break
        time.sleep(0.05)
    raise SystemExit(f'a node did not start: {open(log_path).read()}')


SUMMARY = re.compile(r'(\d+) verdicts \((\d+) failed\) .* in ([\d.]+) s: .* p50 ([\d.]+) ms, '
                     r'p99 ([\d.]+) ms')


def run(admin, nodes, packs, work, rate):
    url = admin.rsplit('/', 1)[0] + '/vgbench'
    psql(admin, 'DROP DATABASE IF EXISTS vgbench WITH (FORCE)')
    psql(admin, 'CREATE DATABASE vgbench')
    servers = [start_node(url, os.path.join(work, f'node{n}-{time.time_ns()}')) for n in range(nodes)]
    started = time.monotonic()
    clients = [subprocess.Popen([VERIGRADE, 'stream', '--server', address, '--line', f'L{n}',
                                 '--camera', f'c{k}', '--format', 'json', '--rate', str(rate),
                                 os.path.join(work, f'packs{n}-{k}')],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
               for n, (_, address) in enumerate(servers) for k in range(STREAMS)]
    summaries = [SUMMARY.search(c.communicate()[1]) for c in clients]
    elapsed = time.monotonic() - started
    for server, _ in servers:
        server.terminate()
        server.wait()
    if not all(summaries):
        raise SystemExit('a stream printed no summary')
    if any(int(s.group(2)) for s in summaries):
        raise SystemExit('a pack failed: every pack here is clean and its serial new')
    frames = sum(int(s.group(1)) for s in summaries)
    p50 = statistics.median(float(s.group(4)) for s in summaries)
    p99 = max(float(s.group(5)) for s in summaries)
    return frames / elapsed, p50, p99, frames


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--nodes', default='1,2,4')
    parser.add_argument('--packs', type=int, default=400, help='packs per node')
    parser.add_argument('--runs', type=int, default=3)
    parser.add_argument('--rate', type=float, default=0,
                        help='frames/s per stream, like a camera (0: as fast as answered)')
    args = parser.parse_args()
    counts = [int(n) for n in args.nodes.split(',')]
    subprocess.run(['cargo', 'build', '--release', '--quiet'], cwd=ROOT, check=True)
    work = tempfile.mkdtemp(prefix='verigrade-nodes-')
    os.chmod(work, 0o755)
    server_dir = os.path.join(work, 'postgres')
    script = os.path.join(ROOT, '.ci', 'postgres')
    admin = subprocess.run([script, 'start', server_dir, str(free_port())], check=True,
                           capture_output=True, text=True).stdout.strip()
    try:
        for n in range(max(counts)):
            render_packs(work, n, args.packs)
        pace = f'{args.rate:g} frames/s per stream' if args.rate else 'as fast as answered'
        print(f'{args.packs} packs per node, 2 streams per node ({pace}), {os.cpu_count()} cores, '
              f'PostgreSQL on the same machine; medians of {args.runs} runs')
        print('| nodes | frames/s (all nodes) | p50 latency | p99 latency |')
        print('|---|---|---|---|')
        for nodes in counts:
            results = [run(admin, nodes, args.packs, work, args.rate) for _ in range(args.runs)]
            rate = statistics.median(r[0] for r in results)
            p50 = statistics.median(r[1] for r in results)
            p99 = statistics.median(r[2] for r in results)
            print(f'| {nodes} | {rate:.0f} | {p50:.1f} ms | {p99:.1f} ms |', flush=True)
    finally:
        subprocess.run([script, 'stop', server_dir], check=False)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
