import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { configurationReference } from '../../libs/config/src/config-reference';
import { brokenLinks } from '../support/markdown-links';

const root = resolve(__dirname, '../..');

function markdownFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return markdownFiles(path);
    return name.endsWith('.md') ? [path] : [];
  });
}

describe('the documentation', () => {
  const pages = [
    resolve(root, 'README.md'),
    resolve(root, 'bench/README.md'),
    ...markdownFiles(resolve(root, 'docs')),
  ];

  it('has no broken link between its pages: every file and every #heading a link names exists', () => {
    expect(pages.flatMap((page) => brokenLinks(page).map((b) => `${relative(root, page)}: ${b}`))).toEqual(
      [],
    );
  });

  it('has a configuration reference made from .env.example as it is now (npm run docs:config)', () => {
    const expected = configurationReference(readFileSync(resolve(root, '.env.example'), 'utf8'));
    expect(readFileSync(resolve(root, 'docs/configuration.md'), 'utf8')).toBe(expected);
  });
});
