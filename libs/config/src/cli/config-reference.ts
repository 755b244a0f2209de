import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { configurationReference } from '../config-reference';

// npm run docs:config: writes docs/configuration.md from .env.example.
const root = resolve(__dirname, '../../../../..');
const target = resolve(root, 'docs/configuration.md');
try {
  writeFileSync(target, configurationReference(readFileSync(resolve(root, '.env.example'), 'utf8')));
  process.stdout.write(`wrote ${target}\n`);
} catch (error) {
  process.stderr.write(`docs:config: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}
