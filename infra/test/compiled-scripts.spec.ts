import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The sources import each other through the tsconfig's path aliases (`@silo/…`), which node
 * cannot resolve: every npm script that compiles with `tsc -p <project>` and then runs the output
 * with node must rewrite them with `tsc-alias -p <project>` in between (jest maps them itself, so
 * no other test sees a script that forgets).
 */
describe('npm scripts that run compiled code', () => {
  const scripts = (
    JSON.parse(readFileSync(join(__dirname, '../../package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    }
  ).scripts;

  it.each(
    Object.entries(scripts).filter(
      ([, command]) => /\btsc -p \S+/.test(command) && /\bnode (?:--\S+ )*\S+\.js/.test(command),
    ),
  )('%s rewrites the path aliases before node runs it', (_name, command) => {
    for (const [, project] of command.matchAll(/\btsc -p (\S+)/g))
      expect(command).toContain(`tsc-alias -p ${project}`);
  });
});
