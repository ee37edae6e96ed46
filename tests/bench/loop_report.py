"""The closed-loop benchmark's aggregates, table, checks and files
(tests/bench/loop.py calls report()).

Per (regime, N, lapse) and policy, over seeds: the metric after every round
(mean and standard deviation), the comparisons to reach each target
(interpolated linearly between the two rounds around it: on the mean curve
over seeds, which the table shows, and per seed, whose spread the table
shows when every seed reached it),
the share of images in no pair of a round, and pairpick's wall time per run.

Targets: 'uncertain' 0.95 over all images, in comparisons per image; the
catalogue regimes the reference policy's mean final value (the issue's
"random-in-bins' Spearman after 2,000 comparisons") and 0.96.
"""
import csv
import json
import math
import os
import statistics

UNCERTAIN_TARGET = 0.95
CATALOGUE_TARGET = 0.96


def _mean(xs):
    xs = [x for x in xs if x is not None]
    return statistics.fmean(xs) if xs else None


def _sd(xs):
    xs = [x for x in xs if x is not None]
    return statistics.stdev(xs) if len(xs) > 1 else 0.0 if xs else None


def reach(rounds, target):
    """Comparisons at which the metric first reaches target, or None."""
    prev = None
    for r in rounds:
        if r['metric'] >= target:
            if prev is None or r['metric'] == prev['metric']:
                return float(r['comparisons'])
            f = (target - prev['metric']) / (r['metric'] - prev['metric'])
            return prev['comparisons'] + f * (r['comparisons'] - prev['comparisons'])
        prev = r
    return None


def _group(records):
    groups = {}
    for rec in records:
        key = (rec['regime'], rec['n'], rec['lapse'])
        groups.setdefault(key, {}).setdefault(rec['policy'], []).append(rec)
    for pols in groups.values():
        for recs in pols.values():
            recs.sort(key=lambda r: r['seed'])
    return groups


def _targets(regime, n, pols, reference):
    if regime == 'uncertain':
        return [('%.2f' % UNCERTAIN_TARGET, UNCERTAIN_TARGET, n)]
    out = []
    ref = next((recs for spec, recs in pols.items() if spec.split(':')[0] == reference), None)
    if ref:
        final = _mean([rec['rounds'][-1]['metric'] for rec in ref])
        out.append(('%s final %.3f' % (reference, final), final, 1))
    out.append(('%.2f' % CATALOGUE_TARGET, CATALOGUE_TARGET, 1))
    return out


def _summary(regime, n, recs, targets):
    rounds = len(recs[0]['rounds'])
    curve = [[rec['rounds'][r]['metric'] for rec in recs] for r in range(rounds)]
    comps = [_mean([rec['rounds'][r]['comparisons'] for rec in recs]) for r in range(rounds)]
    unpaired = [_mean([rec['rounds'][r]['unpaired_share'] for rec in recs]) for r in range(1, rounds)]
    pp = [x['pairpick_seconds'] for rec in recs for x in rec['rounds'][1:]]
    refit = [x['refit_seconds'] for rec in recs for x in rec['rounds'][1:]]
    out = {'seeds': [rec['seed'] for rec in recs], 'comparisons': comps,
           'metric_mean': [_mean(c) for c in curve], 'metric_sd': [_sd(c) for c in curve],
           'metric_per_seed': curve, 'unpaired_share': unpaired,
           'unpaired_share_mean': _mean(unpaired),
           'unpaired_share_first': unpaired[0] if unpaired else None,
           'pairpick_seconds_mean': _mean(pp),
           'pairpick_reported_seconds_mean': _mean(
               [x['pairpick_reported_seconds'] for rec in recs for x in rec['rounds'][1:]]), 'pairpick_seconds_max': max(
               [x for x in pp if x is not None], default=None),
           'refit_seconds_mean': _mean(refit), 'targets': []}
    mean_rounds = [{'metric': m, 'comparisons': c} for m, c in zip(out['metric_mean'], comps)]
    for label, value, per in targets:
        on_mean = reach(mean_rounds, value)
        per_seed = [reach(rec['rounds'], value) for rec in recs]
        per_seed = [None if x is None else x / per for x in per_seed]
        out['targets'].append({'label': label, 'value': value, 'unit': 'per image' if per > 1 else
                               'comparisons',
                               'mean_curve': None if on_mean is None else on_mean / per,
                               'per_seed': per_seed, 'mean': _mean(per_seed),
                               'sd': _sd(per_seed),
                               'reached': sum(x is not None for x in per_seed)})
    return out


def _fmt_target(t, seeds):
    if t['mean_curve'] is None:
        return 'not reached' if t['reached'] == 0 else 'mean not (%d/%d)' % (t['reached'], seeds)
    prec = 2 if t['unit'] == 'per image' else 0
    text = '%.*f' % (prec, t['mean_curve'])
    if t['reached'] == seeds:
        text += ' ±%.*f' % (prec, t['sd'])
    else:
        text += ' (%d/%d)' % (t['reached'], seeds)
    return text


def _print_group(key, pols, summaries, title, metric):
    regime, n, lapse = key
    first = next(iter(summaries.values()))
    seeds = len(first['seeds'])
    print()
    print('%s, N = %s, lapses %g%%: %s, mean of %d seeds (± sd)'
          % (title, format(n, ','), 100 * lapse, metric, seeds))
    per_image = regime == 'uncertain'
    heads = [('%.1f/img' % (c / n)) if per_image else format(int(round(c)), ',')
             for c in first['comparisons']]
    tlabels = ['to ' + t['label'] + (' (per image)' if t['unit'] == 'per image' else '')
               for t in first['targets']]
    name_w = max(8, max(len(s) for s in summaries))
    line = '%-*s' % (name_w, 'policy') + ''.join('%8s' % h for h in heads)
    line += ' %12s' % 'final sd' + ''.join(' %20s' % t for t in tlabels)
    line += ' %13s %9s %9s' % ('unpaired 1st', 'pp s/run', 'refit s')
    print(line)
    for spec, s in summaries.items():
        line = '%-*s' % (name_w, spec) + ''.join('%8.3f' % m for m in s['metric_mean'])
        line += ' %12s' % ('± %.3f' % s['metric_sd'][-1])
        line += ''.join(' %20s' % _fmt_target(t, seeds) for t in s['targets'])
        line += ' %13s' % ('%.1f%%/%.1f%%' % (100 * s['unpaired_share_first'],
                                               100 * s['unpaired_share_mean']))
        line += ' %9s' % ('-' if s['pairpick_seconds_mean'] is None else '%.3f' % s['pairpick_seconds_mean'])
        line += ' %9.3f' % s['refit_seconds_mean']
        print(line)


def _checks(groups, summaries, default, baseline, tolerance):
    checks = []
    for key, pols in sorted(groups.items()):
        regime, n, lapse = key
        by_name = {spec.split(':')[0]: spec for spec in pols}
        if default not in by_name or baseline not in by_name:
            continue
        d = summaries[key][by_name[default]]
        b = summaries[key][by_name[baseline]]
        where = '%s N=%d lapse %g' % (regime, n, lapse)
        worse = [r for r in range(1, len(d['metric_mean']))
                 if d['metric_mean'][r] < b['metric_mean'][r] - tolerance]
        checks.append({
            'name': '%s: %s >= %s at every round' % (where, default, baseline),
            'passed': not worse,
            'detail': ', '.join('round %d: %.3f against %.3f' % (r, d['metric_mean'][r], b['metric_mean'][r])
                                for r in worse)})
        if regime == 'uncertain':
            dt, bt = d['targets'][0], b['targets'][0]
            dm = math.inf if dt['reached'] < len(d['seeds']) else dt['mean']
            bm = math.inf if bt['reached'] < len(b['seeds']) else bt['mean']
            if math.isinf(dm) and math.isinf(bm):
                passed = d['metric_mean'][-1] >= b['metric_mean'][-1] - tolerance
            else:
                passed = dm <= bm
            checks.append({
                'name': '%s: comparisons per image to %.2f, %s <= %s' % (where, dt['value'], default,
                                                                         baseline),
                'passed': passed, 'detail': '%s vs %s' % (dm, bm)})
    return checks


def report(records, params, out_dir, check, tolerance, accuracy, titles, metrics, baseline):
    groups = _group(records)
    order = {r: i for i, r in enumerate(params['regimes'])}
    pol_order = {spec: i for i, spec in enumerate(params['policies'])}
    summaries = {}
    for key in sorted(groups, key=lambda k: (order[k[0]], k[1], k[2])):
        pols = groups[key]
        targets = _targets(key[0], key[1], pols, params['reference'])
        summaries[key] = {spec: _summary(key[0], key[1], pols[spec], targets)
                          for spec in sorted(pols, key=lambda s: pol_order[s])}
        _print_group(key, pols, summaries[key], titles[key[0]], metrics[key[0]])
    print()
    print('unpaired 1st: share of the images in no pair of the first round / mean over rounds; '
          "pp s/run: pairpick's wall time per run (process start to exit; its own 'seconds' are "
          "in results.json); refit s: the simulator's refit")
    if accuracy:
        print('refit variances at N = 2,000 after 5 comparisons per image, relative to the exact '
              'diagonal of the inverse Hessian: gabp median %.2g max %.2g; diag (1/H_ii) median '
              '%.2g max %.2g' % (accuracy['gabp']['median_rel_error'],
                                 accuracy['gabp']['max_rel_error'],
                                 accuracy['diag']['median_rel_error'],
                                 accuracy['diag']['max_rel_error']))
    checks = _checks(groups, summaries, params['default'], baseline, tolerance) if check else []
    if check:
        print()
        for c in checks:
            print('%s %s%s' % ('ok  ' if c['passed'] else 'FAIL', c['name'],
                               '' if c['passed'] or not c['detail'] else ' (%s)' % c['detail']))
        failed = sum(not c['passed'] for c in checks)
        print('%d passed, %d failed' % (len(checks) - failed, failed))
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, 'results.json'), 'w', encoding='utf-8') as f:
        json.dump({'params': params, 'variance_accuracy': accuracy,
                   'summaries': [{'regime': k[0], 'n': k[1], 'lapse': k[2], 'policy': spec, **s}
                                 for k, pols in summaries.items() for spec, s in pols.items()],
                   'checks': checks, 'tasks': records}, f, indent=1)
    with open(os.path.join(out_dir, 'curves.csv'), 'w', encoding='utf-8', newline='') as f:
        w = csv.writer(f)
        cols = ['round', 'images', 'pairs', 'comparisons', 'metric', 'spearman_all', 'unpaired_share',
                'pairpick_seconds', 'refit_seconds']
        w.writerow(['regime', 'n', 'lapse', 'policy', 'seed'] + cols)
        for rec in sorted(records, key=lambda r: (order[r['regime']], r['n'], r['lapse'],
                                                   pol_order[r['policy']], r['seed'])):
            for x in rec['rounds']:
                w.writerow([rec['regime'], rec['n'], rec['lapse'], rec['policy'], rec['seed']]
                           + ['' if x[c] is None else x[c] for c in cols])
    return sum(not c['passed'] for c in checks)
