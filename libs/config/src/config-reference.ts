import { environmentSchema } from './config.schema';

interface Entry {
  variable: string;
  description: string;
  default: string;
  local: string;
}

interface Section {
  title: string;
  entries: Entry[];
}

const SECTION = /^# --- (.+?) -*$/;
const VARIABLE = /^([A-Z][A-Z0-9_]*)=(.*)$/;

/**
 * The configuration reference (docs/configuration.md) from `.env.example`: every variable the
 * schema reads, in the file's order and sections, with its description, its default and its
 * value for the local stack. Throws naming a variable the file and the schema disagree on, so
 * that the reference can only be made from a file that matches the schema.
 */
export function configurationReference(envExample: string): string {
  const sections: Section[] = [{ title: 'Processes, the API, its database, Redis and AWS', entries: [] }];
  // A comment block belongs to the variable on the line after it; a blank line ends it unused.
  let comment: string[] = [];
  for (const line of envExample.split('\n')) {
    const section = SECTION.exec(line);
    if (section) {
      sections.push({ title: section[1], entries: [] });
      comment = [];
      continue;
    }
    if (line.startsWith('#')) {
      comment.push(line.replace(/^#\s?/, ''));
      continue;
    }
    const variable = VARIABLE.exec(line);
    if (variable) {
      const text = comment.join(' ').trim();
      const stated = /\s*Default: (.*)$/.exec(text);
      const required = /\s*Required\.$/.test(text);
      sections[sections.length - 1].entries.push({
        variable: variable[1],
        description: text.replace(/\s*(Default: .*|Required\.)$/, ''),
        default: required ? 'required' : (stated?.[1] ?? ''),
        local: variable[2],
      });
    }
    comment = [];
  }

  const listed = sections.flatMap((s) => s.entries.map((e) => e.variable));
  const known = Object.keys(environmentSchema.shape);
  const missing = known.filter((v) => !listed.includes(v));
  const unknown = listed.filter((v) => !known.includes(v));
  if (missing.length || unknown.length) {
    throw new Error(
      `.env.example and the configuration schema disagree: ${[
        missing.length ? `not in .env.example: ${missing.join(', ')}` : '',
        unknown.length ? `not read by Silo: ${unknown.join(', ')}` : '',
      ]
        .filter(Boolean)
        .join('; ')}`,
    );
  }
  for (const entry of sections.flatMap((s) => s.entries)) {
    if (!entry.default) throw new Error(`${entry.variable}: its comment in .env.example states no default`);
  }

  const cell = (text: string) => text.replace(/\|/g, '\\|');
  const code = (text: string) => (text === '' ? '' : `\`${text}\``);
  const out = [
    '# Configuration reference',
    '',
    '<!-- Generated from .env.example by `npm run docs:config`; a test fails when it is out of date. Edit .env.example. -->',
    '',
    'Every environment variable Silo reads, as `libs/config` validates it at start-up: a bad or',
    'missing one stops the process with a message naming it, and every bad one is named at once.',
    'The processes read `.env` beneath their environment (a variable set in the environment wins;',
    '`SILO_ENV_FILE` names another file; an empty variable counts as unset). "Local stack" is the',
    'value `.env.example` gives `npm run dev`. Values are never echoed, since some are secrets:',
    '',
    '```',
    '$ REDIS_URL=nonsense npm run dev',
    'dev: Invalid configuration (1 problem):',
    '  - REDIS_URL: must be a URL starting with redis:// or rediss://',
    '```',
    '',
    'The schema is `libs/config/src/config.schema.ts`; rules across variables (a secret refused',
    'with `NODE_ENV=production`, `TENANT_AUTH_AUDIENCE` differing from `AUTH_AUDIENCE`, an alarm',
    'topic against real AWS) are checked there too, and named the same way.',
    '',
  ];
  for (const section of sections.filter((s) => s.entries.length)) {
    out.push(
      `## ${section.title}`,
      '',
      '| variable | default | local stack | what it does |',
      '|---|---|---|---|',
    );
    let described = '';
    for (const e of section.entries) {
      // A comment that states only a default shares the description of the variable before it.
      const description = e.description || (described ? `See \`${described}\`.` : '');
      if (e.description) described = e.variable;
      const fallback =
        e.default === '(unset)' ? 'unset' : e.default === 'required' ? '**required**' : code(e.default);
      out.push(`| \`${e.variable}\` | ${cell(fallback)} | ${cell(code(e.local))} | ${cell(description)} |`);
    }
    out.push('');
  }
  return out.join('\n');
}
