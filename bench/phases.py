#!/usr/bin/env python3
"""Wall ms of a pulse's phases, from its --log-level debug lines (one TSV line).

  phases.py LOG             listed, to fetch, index, stat, download, recheck, commit, duration
  phases.py --release LOG   requests, listed, to fetch, release, index, stat, download, recheck,
                            commit, duration (index then starts at the first index request)

  release   start .. the first index request (lock, keyring, InRelease fetched and verified)
  index     .. the last line before the first "pool files" (indices fetched, read, parsed, stored)
  stat      .. "pool files": which listed pool files are stored
  download  .. the last pool file request
  recheck   .. the second "pool files" (under the sweep lock)
  commit    .. "pulse done" (sync, sign, catalog transaction)
"""
import re
import sys
from datetime import datetime

release = sys.argv[1] == "--release"
ev = []
for line in open(sys.argv[-1]):
    m = re.match(r'time=(\S+) level=\w+ msg=("[^"]*"|\S+)(.*)', line)
    if m:
        t = datetime.fromisoformat(m.group(1).replace("Z", "+00:00")).timestamp() * 1000
        ev.append((t, m.group(2).strip('"'), m.group(3)))
pf = [i for i, e in enumerate(ev) if e[1] == "pool files"]
done = [e for e in ev if e[1] == "pulse done"][0]
t0 = ev[0][0]
reqs = [e for e in ev if e[1] == "upstream request"]
idx = [e[0] for e in reqs if "/dists/" in e[2] and "Release" not in e[2]]
trel = min(idx) if idx else t0
i1 = pf[0]
t1 = ev[i1][0]
tidx = ev[i1 - 1][0]
t2 = ev[pf[1]][0] if len(pf) > 1 else t1
pool = [e[0] for e in ev[i1:pf[1] if len(pf) > 1 else len(ev)] if e[1] == "upstream request" and "/pool/" in e[2]]
tdl = max(pool) if pool else t1
fetch = re.search(r'"to fetch"=(\d+)', ev[i1][2]).group(1)
listed = re.search(r'listed=(\d+)', ev[i1][2]).group(1)
dur = re.search(r'duration=(\S+)', done[2]).group(1)
ms = lambda a, b: "%.0f" % (b - a)
if release:
    row = [len(reqs), listed, fetch, ms(t0, trel), ms(trel, tidx)]
else:
    row = [listed, fetch, ms(t0, tidx)]
row += [ms(tidx, t1), ms(t1, tdl), ms(tdl, t2), ms(t2, done[0]), dur]
print("\t".join(str(x) for x in row))
