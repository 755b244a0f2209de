import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { anchorsOf, brokenLinks, headingSlug } from '../support/markdown-links';

function site(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'silo-docs-'));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

describe('markdown links', () => {
  it('makes anchors as GitHub does', () => {
    expect(headingSlug('2. The image')).toBe('2-the-image');
    expect(headingSlug('Provisioning worker (`<prefix>-provisioning-worker`)')).toBe(
      'provisioning-worker-prefix-provisioning-worker',
    );
    expect(headingSlug('Data-plane router')).toBe('data-plane-router');
    expect([...anchorsOf('# A\n## Metrics\n```\n# not a heading\n```\n### Metrics\n')]).toEqual([
      'a',
      'metrics',
      'metrics-1',
    ]);
  });

  it('finds a link to a missing page and to a missing heading, and passes the rest', () => {
    const dir = site({
      'README.md': [
        '# Silo',
        'See [operating](docs/operating.md#suspending-a-tenant), [deploying](docs/deploying.md),',
        '[here](#silo), [a site](https://example.com/x), `[code](nowhere.md)` and',
        '[gone](docs/gone.md), [no such part](docs/operating.md#resuming) and [self](#nothing-here).',
        '```',
        '[in a block](also-nowhere.md)',
        '```',
      ].join('\n'),
      'docs/operating.md': '# Operating\n## Suspending a tenant\n',
      'docs/deploying.md': '# Deploying\n',
    });
    expect(brokenLinks(join(dir, 'README.md'))).toEqual([
      'docs/gone.md: no such file',
      'docs/operating.md#resuming: no heading #resuming',
      '#nothing-here: no heading #nothing-here',
    ]);
  });
});
