"""The closed-loop benchmark of issue 18 (`make bench-loop`, `make test-loop`).

Each round: the images table holds every image's current estimate (mu as
the score, the Laplace variance as the score variance); a policy chooses a
budget of pairs (pairpick, run as the real binary against the PostgreSQL of
the PG* environment, or the simulator's own uniform pairs); the simulated
annotator answers them (tests/bench/loop_model.py); the model is refitted on
every outcome so far plus the round-0 prior and written back.

Regimes (every image has a true quality s ~ N(0, 1) and a prior estimate
mu0 = s + N(0, sd^2) with variance sd^2):
  daily      the production case: 80% known images (sd 0.15), 20% new ones
             (sd 0.8); N/10 pairs a round; Spearman over the new images.
  uncertain  every image sd 0.5; N/2 pairs a round; Spearman over all
             images, and comparisons per image to reach 0.95.
  growing    the daily catalogue plus N/10 new images (sd 0.8) inserted at
             the start of every round; Spearman over every image that
             arrived new (the first 20% and the arrivals).

Policies (--policies, comma-separated; each NAME or NAME:key=value;...):
  all-random   the baseline: `pairs` distinct pairs drawn uniformly from all
               unordered pairs of the images present and never compared
               before (the simulator draws them, from a generator seeded by
               (seed, round) only, so each seed's baseline is the same
               whatever else runs)
  NAME         pairpick with strategy {by: score, bins: 10, binning:
               quantile, prefer: NAME}; e.g. random, uncertain, informative
  NAME:k=v;..  the same with strategy keys overridden or added, e.g.
               'wide:prefer=uncertain;window=32;beta=0.3' or
               'bins1:prefer=random;bins=1'; a key 'section.key' goes to
               that section (output.max_pending=500)
pairpick keeps its own defaults for every key not named (window 8, beta
0.1, score_sigma 0.1, no max_exposure); its pending table's unique pair
constraint means no pair is shown twice, and the baseline obeys that too.

Every policy of a (regime, N, seed, lapse) sees the same true qualities, the
same priors, the same arrivals, the same pairpick --seed per round, and the
same annotator answer for the same pair (drawn per unordered pair).

Output: the table on stdout; results.json (parameters, every task's rounds,
the aggregates, the checks) and curves.csv (one row per task and round)
under --out. With --check: compares --default against all-random in every
regime, prints ok/FAIL per check and `N passed, N failed`, and exits 1 when
any failed.
"""
import argparse
import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import loop_model  # noqa: E402
import loop_report  # noqa: E402

REGIMES = ('daily', 'uncertain', 'growing')
REGIME_TITLES = {
    'daily': 'daily catalogue (80% known sd 0.15, 20% new sd 0.8; N/10 pairs a round)',
    'uncertain': 'everyone equally uncertain (sd 0.5; N/2 pairs a round)',
    'growing': 'growing catalogue (daily catalogue + N/10 new images sd 0.8 every round)',
}
METRIC_NAMES = {
    'daily': 'Spearman over the new images',
    'uncertain': 'Spearman over all images',
    'growing': 'Spearman over the images that arrived new',
}
BASELINE = 'all-random'


class Policy:
    def __init__(self, spec):
        self.spec = spec
        name, _, rest = spec.partition(':')
        self.name = name.strip()
        if not self.name:
            raise ValueError('empty policy name in %r' % spec)
        self.sections = {'strategy': {'by': 'score', 'bins': 10, 'binning': 'quantile',
                                      'prefer': self.name}}
        for item in filter(None, (x.strip() for x in rest.split(';'))):
            key, eq, value = item.partition('=')
            if not eq:
                raise ValueError('policy %r: expected key=value, got %r' % (spec, item))
            section, dot, key = key.strip().rpartition('.')
            self.sections.setdefault(section if dot else 'strategy', {})[key] = value.strip()
        self.simulated = self.name == BASELINE
        if self.simulated and rest:
            raise ValueError('%s takes no options' % BASELINE)

    def config(self, job, schema):
        lines = ['job: %s' % job,
                 'source:', '  table: %s.images' % schema, '  id: id', '  score: mu',
                 '  variance: var']
        sections = {k: dict(v) for k, v in self.sections.items()}
        sections.setdefault('output', {})['table'] = '%s.pairs' % schema
        for section in ('strategy', 'output'):
            lines.append('%s:' % section)
            lines += ['  %s: %s' % (k, v) for k, v in sections.pop(section).items()]
        for section, keys in sections.items():
            lines.append('%s:' % section)
            lines += ['  %s: %s' % (k, v) for k, v in keys.items()]
        return '\n'.join(lines) + '\n'


def pairs_per_round(regime, n):
    return max(1, n // 2) if regime == 'uncertain' else max(1, n // 10)


def world(regime, n, seed, rounds):
    """True qualities, priors, the metric's images and the arrivals."""
    rng = np.random.default_rng([seed, n, REGIMES.index(regime)])
    if regime == 'uncertain':
        s = rng.normal(size=n)
        sd = np.full(n, 0.5)
        new = np.ones(n, dtype=bool)
        arrivals = 0
    else:
        arrivals = n // 10 if regime == 'growing' else 0
        total = n + arrivals * rounds
        s = rng.normal(size=total)
        new = np.zeros(total, dtype=bool)
        new[rng.permutation(n)[:round(0.2 * n)]] = True
        new[n:] = True
        sd = np.where(new, 0.8, 0.15)
    mu0 = s + sd * rng.normal(size=s.size)
    return s, mu0, sd * sd, new, arrivals


def random_pairs(rng, n, count, seen):
    """count distinct unordered pairs of 0..n-1, uniform, none in seen (keys)."""
    count = min(count, n * (n - 1) // 2 - seen.size)
    keys = np.empty(0, dtype=np.int64)
    while keys.size < count:
        a = rng.integers(0, n, 2 * count + 16)
        b = rng.integers(0, n, 2 * count + 16)
        keep = a != b
        lo, hi = np.minimum(a, b)[keep], np.maximum(a, b)[keep]
        cand = np.concatenate([keys, (lo << 22) | hi])
        _, first = np.unique(cand, return_index=True)
        cand = cand[np.sort(first)]
        keys = cand[~np.isin(cand, seen)][:count]
    return keys >> 22, keys & ((1 << 22) - 1)


def psql(args):
    result = subprocess.run(['psql', '-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1'] + args,
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError('psql %s failed: %s' % (' '.join(args), result.stderr.strip()))
    return result.stdout


class Session:
    """One psql process and connection for a task's rounds: statements (and
    COPY data) go to its stdin, each batch ends with an \\echo of a marker
    line that tells where its output ends."""

    MARK = '__loop_batch_done__'

    def __init__(self, errlog):
        self.errlog = errlog
        with open(errlog, 'w', encoding='utf-8') as err:
            self.proc = subprocess.Popen(['psql', '-X', '-q', '-At', '-F', '\t', '-v', 'ON_ERROR_STOP=1'],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
                                         text=True)

    def run(self, text):
        self.proc.stdin.write(text + '\n\\echo ' + self.MARK + '\n')
        self.proc.stdin.flush()
        out = []
        for line in self.proc.stdout:
            line = line.rstrip('\n')
            if line == self.MARK:
                return out
            out.append(line)
        with open(self.errlog, encoding='utf-8') as f:
            raise RuntimeError('psql ended: %s' % f.read().strip())

    def close(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        self.proc.wait()


def write_images(session, schema, mu, var):
    rows = ''.join('%d\t%.17g\t%.17g\n' % (i, m, v) for i, (m, v) in enumerate(zip(mu, var)))
    session.run('TRUNCATE %s.images;\nCOPY %s.images FROM STDIN;\n%s\\.' % (schema, schema, rows))


def take_pending(session, schema):
    rows = [line.split('\t') for line in session.run(
        "UPDATE %s.pairs SET status = 'annotated' WHERE status = 'pending' "
        'RETURNING image_a, image_b;' % schema) if line]
    a = np.array([int(r[0]) for r in rows], dtype=np.int64)
    b = np.array([int(r[1]) for r in rows], dtype=np.int64)
    return a, b


def run_task(task):
    """One (regime, n, policy, seed, lapse): every round's numbers."""
    regime, n, seed, lapse, rounds = task['regime'], task['n'], task['seed'], task['lapse'], task['rounds']
    policy = Policy(task['policy'])
    s, mu0, var0, new, arrivals = world(regime, n, seed, rounds)
    present = n
    refit = loop_model.Refit(mu0[:n], var0[:n], task['variances'])
    mu, var = mu0[:n].copy(), var0[:n].copy()
    budget = pairs_per_round(regime, n)
    all_a = np.empty(0, dtype=np.int64)
    all_b = np.empty(0, dtype=np.int64)
    all_y = np.empty(0, dtype=np.int8)
    schema = 'loop_%d' % task['index']
    workdir = None
    session = None
    rec = {'regime': regime, 'n': n, 'policy': policy.spec, 'seed': seed, 'lapse': lapse,
           'pairs_per_round': budget, 'rounds': []}

    def record(r, paired, pp_seconds, refit_seconds, pairs, pp_summary=None):
        m = new[:present]
        rec['rounds'].append({
            'round': r, 'images': present, 'pairs': int(pairs), 'comparisons': int(all_a.size),
            'metric': loop_model.spearman(mu[m], s[:present][m]),
            'spearman_all': loop_model.spearman(mu, s[:present]),
            'unpaired_share': None if r == 0 else 1.0 - paired / present,
            'pairpick_seconds': pp_seconds, 'refit_seconds': refit_seconds,
            'pairpick_reported_seconds': pp_summary.get('seconds') if pp_summary else None,
            'pairpick_stage_seconds': pp_summary.get('stage_seconds') if pp_summary else None})

    try:
        if not policy.simulated:
            workdir = tempfile.mkdtemp(prefix='loop-%d.' % task['index'], dir=task['tmp'])
            config = os.path.join(workdir, 'policy.yaml')
            with open(config, 'w', encoding='utf-8') as f:
                f.write(policy.config('loop-%d' % task['index'], schema))
            psql(['-c', 'DROP SCHEMA IF EXISTS %s CASCADE' % schema,
                  '-c', 'CREATE SCHEMA %s' % schema,
                  '-c', 'CREATE TABLE %s.images (id integer PRIMARY KEY, mu float8, var float8)'
                  % schema])
            out = subprocess.run([task['pairpick'], 'migrate', config, '--quiet'],
                                 capture_output=True, text=True)
            if out.returncode != 0:
                raise RuntimeError('pairpick migrate failed (%d): %s' % (out.returncode, out.stderr))
            session = Session(os.path.join(workdir, 'psql.err'))
        record(0, 0, None, None, 0)
        for r in range(1, rounds + 1):
            if arrivals:
                refit.grow(mu0[present:present + arrivals], var0[present:present + arrivals])
                mu = np.concatenate([mu, mu0[present:present + arrivals]])
                var = np.concatenate([var, var0[present:present + arrivals]])
                present += arrivals
            pp_seconds = summary = None
            if policy.simulated:
                rng = np.random.default_rng([seed, r, 17])
                a, b = random_pairs(rng, present, budget, (np.minimum(all_a, all_b) << 22)
                                    | np.maximum(all_a, all_b))
            else:
                write_images(session, schema, mu, var)
                t0 = time.monotonic()
                out = subprocess.run([task['pairpick'], 'run', config, '--run-id', 'r%d' % r,
                                      '--seed', str(seed * 1000 + r), '--max-pairs', str(budget),
                                      '--quiet'], capture_output=True, text=True)
                pp_seconds = time.monotonic() - t0
                if out.returncode != 0:
                    raise RuntimeError('pairpick run (%s, round %d) failed (%d): %s'
                                       % (policy.spec, r, out.returncode, out.stderr.strip()))
                summary = json.loads(out.stdout.strip().splitlines()[-1])
                a, b = take_pending(session, schema)
            y = loop_model.annotate(seed, lapse, s, a, b)
            all_a = np.concatenate([all_a, a])
            all_b = np.concatenate([all_b, b])
            all_y = np.concatenate([all_y, y])
            t0 = time.monotonic()
            mu, var = refit.fit(all_a, all_b, all_y, start=mu)
            refit_seconds = time.monotonic() - t0
            paired = np.unique(np.concatenate([a, b])).size
            record(r, paired, pp_seconds, refit_seconds, a.size, summary)
    finally:
        if session is not None:
            session.close()
        if workdir is not None:
            try:
                psql(['-c', 'DROP SCHEMA IF EXISTS %s CASCADE' % schema])
            finally:
                shutil.rmtree(workdir, ignore_errors=True)
    rec['variances'] = refit.variances
    return rec


def parse_map(text, convert, what):
    """'daily=2000,uncertain=500:2000' -> {'daily': [2000], 'uncertain': [500, 2000]}."""
    out = {}
    for item in filter(None, (x.strip() for x in text.split(','))):
        key, eq, value = item.partition('=')
        if not eq or key not in REGIMES:
            raise SystemExit('loop: %s: expected REGIME=VALUE with REGIME one of %s, got %r'
                             % (what, ', '.join(REGIMES), item))
        out[key] = [convert(v) for v in value.split(':')]
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--regimes', default=','.join(REGIMES))
    p.add_argument('--n', default='daily=2000,uncertain=500:2000:10000,growing=2000',
                   help='images per regime; several sizes separated by ":"')
    p.add_argument('--rounds', default='daily=10,uncertain=10,growing=10',
                   help='rounds per regime (uncertain: per size, ":"-separated, or one for all)')
    p.add_argument('--seeds', type=int, default=5, help='seeds 1..SEEDS')
    p.add_argument('--lapses', default='0,0.1', help='lapse probabilities, comma-separated')
    p.add_argument('--policies', default='all-random,random,uncertain')
    p.add_argument('--default', default='informative',
                   help="the policy (by name) --check holds against all-random: pairpick's default")
    p.add_argument('--reference', default='random',
                   help="the policy whose final value is the catalogue regimes' target")
    p.add_argument('--variances', default='gabp', choices=('gabp', 'exact', 'diag'),
                   help='how the refit computes the Laplace variances (tests/bench/loop_model.py)')
    p.add_argument('--jobs', type=int, default=os.cpu_count() or 1)
    p.add_argument('--pairpick', default='build/pairpick')
    p.add_argument('--out', default='build/bench-loop')
    p.add_argument('--check', action='store_true')
    p.add_argument('--tolerance', type=float, default=0.0,
                   help='--check: how far below all-random the default may fall at a round')
    p.add_argument('--accuracy', action='store_true',
                   help="also measure 'gabp' and 'diag' variances against 'exact' at N = 2,000")
    args = p.parse_args(argv)
    args.default = args.default.split(':')[0]
    args.reference = args.reference.split(':')[0]

    regimes = [r for r in args.regimes.split(',') if r]
    for r in regimes:
        if r not in REGIMES:
            raise SystemExit('loop: unknown regime %r (%s)' % (r, ', '.join(REGIMES)))
    sizes = parse_map(args.n, int, '--n')
    rounds = parse_map(args.rounds, int, '--rounds')
    lapses = [float(x) for x in args.lapses.split(',') if x]
    policies = [Policy(x) for x in args.policies.split(',') if x]
    names = [pol.name for pol in policies]
    if len(set(names)) != len(names):
        raise SystemExit('loop: policy names must differ: %s' % ', '.join(names))
    if args.check and (BASELINE not in names or args.default not in names):
        raise SystemExit('loop: --check needs %s and the default policy %r among --policies'
                         % (BASELINE, args.default))
    pairpick = os.path.abspath(args.pairpick)
    if any(not pol.simulated for pol in policies) and not os.access(pairpick, os.X_OK):
        raise SystemExit('loop: %s not found: run make all first' % pairpick)
    out_dir = os.path.abspath(args.out)
    os.makedirs(out_dir, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix='pairpick-loop.')

    tasks = []
    for regime in regimes:
        ns = sizes.get(regime)
        if not ns:
            raise SystemExit('loop: no --n for regime %s' % regime)
        rs = rounds.get(regime, [10])
        if len(rs) not in (1, len(ns)):
            raise SystemExit('loop: --rounds for %s: one value or one per size' % regime)
        for k, n in enumerate(ns):
            for lapse in lapses:
                for pol in policies:
                    for seed in range(1, args.seeds + 1):
                        tasks.append({'regime': regime, 'n': n, 'rounds': rs[k if len(rs) > 1 else 0],
                                      'policy': pol.spec, 'seed': seed, 'lapse': lapse,
                                      'variances': args.variances, 'pairpick': pairpick, 'tmp': tmp})
    # The largest first, so that the pool does not end on one long task.
    tasks.sort(key=lambda t: -t['n'] * t['rounds'] * (1 + t['n'] / 4000))
    for i, t in enumerate(tasks):
        t['index'] = i

    started = time.monotonic()
    print('loop: %d tasks (%s; %d seeds; lapses %s; policies %s) on %d workers'
          % (len(tasks), ', '.join(regimes), args.seeds, args.lapses, args.policies, args.jobs),
          file=sys.stderr, flush=True)
    accuracy = loop_model.accuracy() if args.accuracy else None
    if accuracy:
        print('loop: variances at N = 2,000: gabp median/max relative error %.4f/%.4f, diag %.4f/%.4f'
              % (accuracy['gabp']['median_rel_error'], accuracy['gabp']['max_rel_error'],
                 accuracy['diag']['median_rel_error'], accuracy['diag']['max_rel_error']),
              file=sys.stderr, flush=True)
    records = []
    try:
        env_threads = os.environ.get('OPENBLAS_NUM_THREADS')
        with concurrent.futures.ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            futures = {pool.submit(run_task, t): t for t in tasks}
            for done, fut in enumerate(concurrent.futures.as_completed(futures), 1):
                t = futures[fut]
                try:
                    records.append(fut.result())
                except RuntimeError as e:
                    for other in futures:
                        other.cancel()
                    print('loop: %s N=%d %s seed %d: %s' % (t['regime'], t['n'], t['policy'],
                                                           t['seed'], e), file=sys.stderr)
                    return 2
                print('loop: %4d/%d  %.0f s  %s N=%d %s seed %d lapse %g'
                      % (done, len(tasks), time.monotonic() - started, t['regime'], t['n'],
                         t['policy'], t['seed'], t['lapse']), file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    elapsed = time.monotonic() - started

    params = {'regimes': regimes, 'sizes': {r: sizes[r] for r in regimes},
              'rounds': {r: rounds.get(r, [10]) for r in regimes}, 'seeds': args.seeds,
              'lapses': lapses, 'policies': [pol.spec for pol in policies], 'default': args.default,
              'reference': args.reference, 'variances': args.variances,
              'jobs': args.jobs, 'annotator_noise': loop_model.NOISE, 'seconds': elapsed,
              'openblas_threads': env_threads, 'pairpick': pairpick}
    failed = loop_report.report(records, params, out_dir, args.check, args.tolerance, accuracy,
                                REGIME_TITLES, METRIC_NAMES, BASELINE)
    print('loop: %.0f s; results in %s' % (elapsed, out_dir), file=sys.stderr)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
