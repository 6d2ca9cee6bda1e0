"""The code a pre-registered study's runs read, held to the plan's commit.

A plan with `"freeze": true` promises that its runs ran the code of the
commit that fixed the plan: the study refuses to start (before any work)
unless the plan file is committed with the content it reads, the checkout's
HEAD descends from that commit, and nothing a run reads differs from it —
neither in a later commit nor uncommitted. Every run's record then stores
the commit it ran from (one entry per part of a study run in parts), and the
report states the plan's choice only when every entry of every record
passes the same check again, from the repository's own history.

What a run reads: everything under `official_td/` and `gin/` except
`REPORT_ONLY`, the modules that only write the report from finished runs
(and the Keras 3 room, which the Model Garden trainers never import; a test
holds that none of them is imported by a run's processes).

Written by hand on `git` (`git log`, `git show`, `git diff`,
`git merge-base --is-ancestor`): no library of the stack audits a checkout's
history.
"""

import hashlib
import os
import subprocess
from typing import Dict, List, Optional, Sequence, Tuple

READ = ('official_td', 'gin')
REPORT_ONLY = ('official_td/keras_hub/', 'official_td/study/report.py',
               'official_td/study/plots.py', 'official_td/study/speedup.py',
               'official_td/study/events.py', 'official_td/study/freeze.py',
               'official_td/study/choice.py', 'official_td/study/overlap.py',
               'official_td/study/pairs.py')


class FreezeError(ValueError):
  """The code a plan's runs would read is not the plan's commit."""


def package_root() -> str:
  """The directory holding this checkout's `official_td/`."""
  return os.path.dirname(os.path.dirname(os.path.dirname(
      os.path.abspath(__file__))))


def _git(root: str, *args, raw: bool = False):
  """`git -C root ARGS`'s output (bytes with `raw`), or None when it fails
  (or no git)."""
  try:
    proc = subprocess.run(['git', '-C', root] + list(args),
                          capture_output=True, check=False)
  except OSError:
    return None
  if proc.returncode:
    return None
  return proc.stdout if raw else proc.stdout.decode('utf-8', 'replace')


def is_read(path: str) -> bool:
  """Whether a repository path is code a run reads."""
  path = path.replace(os.sep, '/')
  in_read = any(path == d or path.startswith(d + '/') for d in READ)
  return in_read and not any(
      path.startswith(p) if p.endswith('/') else path == p
      for p in REPORT_ONLY)


def head(root: str) -> Optional[str]:
  out = _git(root, 'rev-parse', 'HEAD')
  return out.strip() if out else None


def uncommitted(root: str) -> List[str]:
  """Paths a run reads that differ from HEAD (changed, staged, untracked)."""
  out = _git(root, 'status', '--porcelain', '--untracked-files=all',
             '--', *READ) or ''
  paths = [line[3:].split(' -> ')[-1].strip('"') for line in out.splitlines()
           if line.strip()]
  return sorted(p for p in paths if is_read(p))


def changed(root: str, before: str, after: str) -> List[str]:
  """Paths a run reads that differ between two commits."""
  out = _git(root, 'diff', '--name-only', before, after, '--', *READ) or ''
  return sorted(p for p in out.splitlines() if p and is_read(p))


def is_ancestor(root: str, before: str, after: str) -> bool:
  return _git(root, 'merge-base', '--is-ancestor', before, after) is not None


def _repo_path(root: str, path: str) -> Optional[str]:
  if '://' in path:
    return None
  rel = os.path.relpath(os.path.abspath(path), os.path.abspath(root))
  return None if rel.startswith('..') else rel.replace(os.sep, '/')


def plan_commit(root: str, plan_path: str, sha256: str) -> Optional[str]:
  """The first commit whose copy of the plan file has this sha256."""
  rel = _repo_path(root, plan_path)
  if rel is None:
    return None
  commits = (_git(root, 'log', '--reverse', '--format=%H', '--', rel)
             or '').split()
  for commit in commits:
    blob = _git(root, 'show', f'{commit}:{rel}', raw=True)
    # (None: the commit that deleted it)
    if blob is not None and hashlib.sha256(blob).hexdigest() == sha256:
      return commit
  return None


def code_entry(root: str) -> Dict:
  """What a record stores of the code a part of a run ran from."""
  return dict(commit=head(root), uncommitted=uncommitted(root))


def entry_problems(root: str, base: str, entry: Dict) -> List[str]:
  """Why one record entry is not the plan's code (none: it is)."""
  commit = entry.get('commit')
  if not commit:
    return ['no commit recorded (not run from a git checkout)']
  if entry.get('uncommitted'):
    return ['ran with uncommitted changes to '
            + ', '.join(entry['uncommitted'])]
  if _git(root, 'cat-file', '-e', f'{commit}^{{commit}}') is None:
    return [f'its commit {commit[:12]} is not in this repository\'s history']
  if not is_ancestor(root, base, commit):
    return [f'its commit {commit[:12]} does not descend from the plan\'s '
            f'{base[:12]}']
  moved = changed(root, base, commit)
  return [f'{", ".join(moved)} changed between the plan\'s commit '
          f'{base[:12]} and its {commit[:12]}'] if moved else []


def check_before_runs(plan, root: Optional[str] = None) -> str:
  """Refuses (FreezeError) to train under a freezing plan unless this
  checkout runs the plan's code; returns the plan's commit."""
  root = root or package_root()
  where = f'--plan={plan.path} fixes its code ("freeze": true): '
  if head(root) is None:
    raise FreezeError(where + f'{root} is not a git checkout. Run the study '
                      'from a clone of the repository that holds the plan.')
  base = plan_commit(root, plan.path, plan.sha256)
  if base is None:
    raise FreezeError(
        where + 'this file, as it reads now (sha256 '
        f'{plan.sha256[:12]}…), is in no commit of {root}. Commit the plan '
        '(inside the repository) before any of its runs.')
  problems = entry_problems(root, base, code_entry(root))
  if problems:
    raise FreezeError(
        where + f'this checkout is not the plan\'s code: {problems[0]}. '
        f'Check out the plan\'s commit ({base[:12]}) or revert those changes '
        'before any run.')
  return base


def record_problems(plan, records: Dict, root: Optional[str] = None
                    ) -> Tuple[Optional[str], Sequence[str]]:
  """The plan's commit, and each record entry that is not its code, as
  `RUN seed N: why` (none: every run ran the plan's code). `records`:
  (name, seed) -> the record (or None). Each distinct entry is checked
  once (a study's runs share a few commits)."""
  root = root or package_root()
  base = plan_commit(root, plan.path, plan.sha256) if head(root) else None
  if base is None:
    return None, [f'the plan (sha256 {plan.sha256[:12]}…) is in no commit of '
                  f'the repository at {root}, so no record can be checked '
                  'against it']
  checked, found = {}, []
  for (name, seed), record in sorted(records.items()):
    for entry in (record or {}).get('code') or [{}]:
      key = (entry.get('commit'), tuple(entry.get('uncommitted') or ()))
      if key not in checked:
        checked[key] = entry_problems(root, base, entry)
      found += [f'{name} seed {seed}: {p}' for p in checked[key]]
  return base, found
