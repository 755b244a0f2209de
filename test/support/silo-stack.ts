import { mintDevToken, type Role } from '../../libs/auth/src';
import { freePort } from './free-port';
import { builtEntry, httpStatus, SiloProcess } from './silo-process';
import { testEnvironment } from './test-config';

export const API_ENTRY = 'apps/control-plane-api/src/main.js';
export const WORKER_ENTRY = 'apps/provisioning-worker/src/main.js';

/** Who calls the API: a dev token is minted for this subject and these roles. */
export interface Caller {
  sub: string;
  roles: Role[];
}

export interface Reply<T> {
  status: number;
  body: T;
}

/** The part of the contract's tenant resource the e2e tests look at. */
export interface TenantBody {
  id: string;
  slug: string;
  status: string;
  database: { instanceIdentifier: string; endpoint: { host: string; port: number } | null } | null;
  provisioning: {
    steps: { name: string; saga: string; status: string }[];
    lastError: { code: string; message: string; step: string } | null;
  };
}

/**
 * The API and the provisioning worker, started from dist/ with one environment (the same
 * queue prefix), driven over HTTP with dev tokens. Every answer is kept in `responses`, and each
 * process's output in its SiloProcess, so that a test can search them afterwards.
 */
export class SiloStack {
  readonly responses: string[] = [];
  private readonly tokens = new Map<string, string>();

  private constructor(
    readonly env: Record<string, string>,
    readonly base: string,
    readonly api: SiloProcess,
    readonly worker: SiloProcess,
    private readonly signer?: (caller: Caller) => Promise<string>,
  ) {}

  /**
   * Starts both with `testEnvironment(overrides)` on a free port (or `overrides.PORT`); resolves
   * once both are ready. `launch` starts an entry point (default: node on dist/ of this checkout).
   * `signer` mints a caller's token where the stack trusts an identity provider's JWKS instead
   * of the development secret (default: a dev token signed with AUTH_JWT_SECRET).
   */
  static async start(
    overrides: Record<string, string> = {},
    launch: (entry: string, env: Record<string, string>) => SiloProcess = (entry, env) =>
      SiloProcess.node(builtEntry(entry), env),
    signer?: (caller: Caller) => Promise<string>,
  ): Promise<SiloStack> {
    const port = overrides.PORT ? Number(overrides.PORT) : await freePort();
    const env = testEnvironment({ PORT: String(port), ...overrides });
    const stack = new SiloStack(
      env,
      `http://127.0.0.1:${port}`,
      launch(API_ENTRY, env),
      launch(WORKER_ENTRY, env),
      signer,
    );
    try {
      await Promise.all([
        stack.api.waitFor(
          async () => (await httpStatus(`${stack.base}/readyz`)) === 200,
          '/readyz to answer 200',
        ),
        stack.worker.waitFor(
          () => stack.worker.stdout.includes('"msg":"taking provisioning jobs"'),
          'the worker to take jobs',
        ),
      ]);
    } catch (error) {
      await stack.stop();
      throw error;
    }
    return stack;
  }

  get processes(): SiloProcess[] {
    return [this.api, this.worker];
  }

  /** One API call as `caller`; the status, headers and body are appended to `responses`. */
  async call<T = unknown>(method: string, path: string, caller: Caller, body?: unknown): Promise<Reply<T>> {
    const res = await fetch(`${this.base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${await this.token(caller)}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    this.responses.push(`${method} ${path} ${res.status} ${JSON.stringify([...res.headers])}\n${text}`);
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
  }

  /**
   * Polls GET /v1/tenants/{id} as `caller` until the tenant is `wanted`. FAILED, a process that
   * exited or `timeoutMs` ends the wait with the tenant's steps and the processes' last lines.
   */
  async waitForStatus(id: string, wanted: string, caller: Caller, timeoutMs: number): Promise<TenantBody> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { status, body } = await this.call<TenantBody>('GET', `/v1/tenants/${id}`, caller);
      if (status !== 200)
        throw new Error(`GET /v1/tenants/${id} answered ${status}: ${JSON.stringify(body)}`);
      if (body.status === wanted) return body;
      if (body.status === 'FAILED' || Date.now() > deadline || !this.processes.every(running)) {
        throw new Error(
          `tenant ${body.slug} is ${body.status}, waiting for ${wanted}: ${JSON.stringify(body.provisioning)}\n${this.tails()}`,
        );
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** SIGTERM to both, SIGKILL to whichever has not exited 15 s later; resolves once both exited. */
  async stop(): Promise<void> {
    await Promise.all(
      this.processes.map(async (p) => {
        if (running(p)) p.child.kill('SIGTERM');
        await p.exitWithin(15_000).catch(() => {
          p.kill();
          return p.exited;
        });
      }),
    );
  }

  private tails(): string {
    const tail = (p: SiloProcess) => `${p.stdout}${p.stderr}`.split('\n').slice(-30).join('\n');
    return `api:\n${tail(this.api)}\nworker:\n${tail(this.worker)}`;
  }

  private async token(caller: Caller): Promise<string> {
    const key = `${caller.sub}:${caller.roles.join(',')}`;
    let token = this.tokens.get(key);
    if (!token) {
      token = this.signer
        ? await this.signer(caller)
        : await mintDevToken({
            secret: this.env.AUTH_JWT_SECRET,
            sub: caller.sub,
            roles: caller.roles,
            issuer: this.env.AUTH_ISSUER,
            audience: this.env.AUTH_AUDIENCE,
          });
      this.tokens.set(key, token);
    }
    return token;
  }
}

export function running(p: SiloProcess): boolean {
  return p.child.exitCode === null && p.child.signalCode === null;
}
