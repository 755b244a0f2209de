import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

const root = resolve(__dirname, '../..');
const pinned = /^SILO_NODE_VERSION=(\S+)$/m.exec(
  readFileSync(resolve(root, 'scripts/lib/ensure-node.sh'), 'utf8'),
)?.[1];
const imageNode = /^SILO_IMAGE_NODE_VERSION=(\S+)$/m.exec(
  readFileSync(resolve(root, 'scripts/lib/buildah.sh'), 'utf8'),
)?.[1];

describe('the runtime Silo is tested on', () => {
  it('is Node.js 24 (npm test fetches it where the machine has an older one)', () => {
    expect(Number(process.versions.node.split('.')[0])).toBeGreaterThanOrEqual(24);
  });

  it('is the one the image ships, and the one package.json asks for', () => {
    expect(pinned).toMatch(/^24\.\d+\.\d+$/);
    expect(imageNode).toBe(pinned);
    expect(readFileSync(resolve(root, 'Dockerfile'), 'utf8').match(/^FROM node:.*$/gm)).toEqual([
      'FROM node:24-bookworm-slim AS build',
      'FROM node:24-bookworm-slim',
    ]);
    expect(
      (JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')) as { engines: { node: string } })
        .engines.node,
    ).toBe('>=24');
  });

  it('is put first on PATH by ensure_node when the machine has an older Node.js', () => {
    // A PATH whose first node is a stand-in that says it is 20: ensure_node must bring 24 before it.
    // Anything else it is asked (npm, which runs on the first node on PATH, fetching 24 when this
    // machine has none in .cache/node yet) it hands to this runtime's node.
    const fake = resolve(root, '.cache/test-old-node');
    execFileSync('bash', [
      '-c',
      `mkdir -p "${fake}" && printf '#!/bin/sh\\nif [ "$1" = -p ]; then echo 20.20.2; elif [ "$1" = -v ] || [ "$1" = --version ]; then echo v20.20.2; else exec "%s" "$@"; fi\\n' "${process.execPath}" > "${fake}/node" && chmod +x "${fake}/node"`,
    ]);
    const npmDir = resolve(
      execFileSync('bash', ['-c', 'dirname "$(command -v npm)"'], { encoding: 'utf8' }).trim(),
    );
    const out = execFileSync(
      'bash',
      [
        '-c',
        `source scripts/lib/ensure-node.sh && ensure_node "$PWD" && node -p process.versions.node && command -v node`,
      ],
      {
        cwd: root,
        encoding: 'utf8',
        env: { PATH: `${fake}:${npmDir}:/usr/bin:/bin`, HOME: process.env.HOME ?? '/root' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    ).split('\n');
    expect(out[0]).toBe(pinned);
    expect(out[1]).toBe(
      resolve(root, `.cache/node/${pinned}-linux-${process.arch === 'arm64' ? 'arm64' : 'x64'}/bin/node`),
    );
  });
});
