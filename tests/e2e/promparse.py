#!/usr/bin/env python3
"""promparse.py - read a Prometheus text exposition (format 0.0.4) on stdin,
check it, and print its samples as JSON: {"name{label=value,...}": value}.

Checks (each failure is one line on stderr, exit 1): every sample belongs to
a family with exactly one # HELP and one # TYPE, before its samples; names
and label names are valid; label values are properly quoted and escaped;
values are numbers; counters end in _total; no sample is given twice.
"""
import json
import re
import sys

NAME = re.compile(r'[a-zA-Z_:][a-zA-Z0-9_:]*$')
LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"\s*(,|$)')
SAMPLE = re.compile(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+(-?\d+))?$')


def labels(text):
    out, pos = [], 0
    while pos < len(text):
        m = LABEL.match(text, pos)
        if not m:
            raise ValueError("bad labels: " + text)
        value = m.group(2).replace('\\n', '\n').replace('\\"', '"').replace('\\\\', '\\')
        out.append((m.group(1), value))
        pos = m.end()
    return out


def main():
    help_, type_, samples, errors = {}, {}, {}, []
    for n, line in enumerate(sys.stdin.read().split('\n'), 1):
        if not line:
            continue
        if line.startswith('# HELP ') or line.startswith('# TYPE '):
            parts = line.split(' ', 3)
            if len(parts) < 4 or not NAME.match(parts[2]):
                errors.append(f"{n}: bad comment: {line}")
                continue
            seen = help_ if parts[1] == 'HELP' else type_
            if parts[2] in seen:
                errors.append(f"{n}: second # {parts[1]} for {parts[2]}")
            seen[parts[2]] = parts[3]
            if parts[1] == 'TYPE' and parts[3] not in ('counter', 'gauge', 'histogram', 'summary', 'untyped'):
                errors.append(f"{n}: bad type {parts[3]}")
            continue
        if line.startswith('#'):
            continue
        m = SAMPLE.match(line)
        if not m:
            errors.append(f"{n}: not a sample: {line}")
            continue
        name, lab, value = m.group(1), m.group(2) or '', m.group(3)
        fam = name
        # A histogram's (or summary's) samples carry suffixes of its name.
        for suffix in ('_bucket', '_sum', '_count'):
            base = name[:-len(suffix)]
            if name.endswith(suffix) and type_.get(base) in ('histogram', 'summary'):
                fam = base
                if suffix == '_bucket' and 'le=' not in lab:
                    errors.append(f"{n}: {name} without an le label")
        if fam not in type_:
            errors.append(f"{n}: {name} has no # TYPE before it")
        if fam not in help_:
            errors.append(f"{n}: {name} has no # HELP before it")
        if type_.get(fam) == 'counter' and not name.endswith('_total'):
            errors.append(f"{n}: counter {name} does not end in _total")
        if not name.startswith('psoffload_'):
            errors.append(f"{n}: {name} lacks the psoffload_ prefix")
        try:
            lv = labels(lab)
            v = float(value)
        except ValueError as e:
            errors.append(f"{n}: {e}")
            continue
        key = name + ('{' + ','.join(f"{k}={v}" for k, v in lv) + '}' if lv else '')
        if key in samples:
            errors.append(f"{n}: {key} given twice")
        samples[key] = v
    for e in errors:
        print(e, file=sys.stderr)
    json.dump(samples, sys.stdout, indent=1, sort_keys=True)
    print()
    return 1 if errors else 0


if __name__ == '__main__':
    sys.exit(main())
