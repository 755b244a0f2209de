import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

export const REPO_ROOT = resolve(__dirname, '../..');

/** Path of a built entry point; e2e tests run what `npm run build` produced, as a user would. */
export function builtEntry(relative: string): string {
  const path = resolve(REPO_ROOT, 'dist', relative);
  if (!existsSync(path)) throw new Error(`${path} is missing: run 'npm run build' first (npm test does)`);
  return path;
}

/** A child process with its output collected, for driving a Silo process the way a user does. */
export class SiloProcess {
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(
    readonly child: ChildProcess,
    private readonly ownGroup = false,
  ) {
    child.stdout?.on('data', (chunk: Buffer) => (this.stdout += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    this.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  }

  static node(entry: string, env: Record<string, string>, args: string[] = []): SiloProcess {
    return new SiloProcess(
      spawn(process.execPath, [entry, ...args], { cwd: REPO_ROOT, env: baseEnv(env), stdio: 'pipe' }),
    );
  }

  /** Any command, with exactly `env` (nothing of this process's environment). */
  static spawn(command: string, args: string[], env: Record<string, string>): SiloProcess {
    return new SiloProcess(spawn(command, args, { cwd: REPO_ROOT, env, stdio: 'pipe' }));
  }

  /** Started in its own process group, so that a Ctrl-C can be sent to the group as a terminal does. */
  static group(command: string, args: string[], env: Record<string, string>): SiloProcess {
    // detached: the child calls setsid(), so its pid is also its process group and session id.
    return new SiloProcess(
      spawn(command, args, { cwd: REPO_ROOT, env: baseEnv(env), stdio: 'pipe', detached: true }),
      true,
    );
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error('process did not start');
    return this.child.pid;
  }

  /** Parsed JSON log lines from stdout. */
  logLines(): Record<string, unknown>[] {
    return this.stdout
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  }

  async waitFor(
    condition: () => boolean | Promise<boolean>,
    what: string,
    timeoutMs = 30_000,
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    void this.exited.then(() => (exited = true));
    while (!(await condition())) {
      if (exited)
        throw new Error(
          `process exited while waiting for ${what}\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`,
        );
      if (Date.now() > deadline)
        throw new Error(`timed out waiting for ${what}\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async exitWithin(timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        this.exited,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`process did not exit within ${timeoutMs} ms\n${this.stderr}`)),
            timeoutMs,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Last resort for a test that failed half-way: nothing may outlive the test run. */
  kill(): void {
    if (this.ownGroup && this.child.pid !== undefined) {
      try {
        process.kill(-this.child.pid, 'SIGKILL');
      } catch {
        // the group is already gone
      }
    } else if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGKILL');
    }
  }
}

/** A clean environment: PATH and HOME only, plus what the test gives, so no developer variable leaks in. */
function baseEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, ...env };
}

export async function httpStatus(url: string): Promise<number | undefined> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return undefined;
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
