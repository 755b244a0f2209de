import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
export function headingSlug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/`/g, '')
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** The anchors a Markdown page has, numbered as GitHub numbers repeated headings (`-1`, `-2`). */
export function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    const heading = fenced ? null : /^#{1,6}\s+(.+?)\s*#*\s*$/.exec(line);
    if (!heading) continue;
    const slug = headingSlug(heading[1].replace(/\[([^\]]*)\]\([^)]*\)/g, '$1'));
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    anchors.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return anchors;
}

/**
 * The links of the Markdown page at `path` that lead nowhere: a relative file that does not
 * exist, or a `#fragment` that is no heading of the page it names. Links to other sites are not
 * followed (nothing but the registries is reachable here), nor are links inside code.
 */
export function brokenLinks(path: string): string[] {
  const text = readFileSync(path, 'utf8');
  const prose = text.replace(/^\s*(```|~~~)[\s\S]*?^\s*\1/gm, '').replace(/`[^`\n]*`/g, '');
  const broken: string[] = [];
  for (const match of prose.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
    const target = match[1];
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue;
    const [file, fragment] = target.split('#', 2);
    const page = file ? resolve(dirname(path), decodeURIComponent(file)) : path;
    if (!existsSync(page)) {
      broken.push(`${target}: no such file`);
      continue;
    }
    if (fragment === undefined || fragment === '') continue;
    if (statSync(page).isDirectory() || !page.endsWith('.md')) {
      broken.push(`${target}: a #fragment into something that is not a Markdown page`);
      continue;
    }
    if (!anchorsOf(readFileSync(page, 'utf8')).has(decodeURIComponent(fragment).toLowerCase())) {
      broken.push(`${target}: no heading #${fragment}`);
    }
  }
  return broken;
}
