/** A problem+json answer, or a transport failure, as the CLI reports it. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail: string | undefined,
  ) {
    super(detail ? `${title}: ${detail}` : title);
  }

  /** 401 and 403: exit code 3. */
  get isAuth(): boolean {
    return this.status === 401 || this.status === 403;
  }
}

/**
 * The control-plane API over HTTP, as any outside client uses it: a bearer token, JSON, and the
 * problem's title and detail when it refuses.
 */
export class ApiClient {
  constructor(
    private readonly base: string,
    private readonly token: string,
  ) {}

  async call<T>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<T> {
    let res: Response;
    try {
      res = await fetch(new URL(path, this.base), {
        method,
        headers: {
          authorization: `Bearer ${this.token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...headers,
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (error) {
      const reason =
        error instanceof Error
          ? error.cause instanceof Error
            ? error.cause.message
            : error.message
          : String(error);
      throw new ApiError(0, `cannot reach the API at ${this.base}`, reason);
    }
    const text = await res.text();
    const parsed: unknown = text ? safeJson(text) : undefined;
    if (!res.ok) {
      const problem = (parsed ?? {}) as { title?: string; detail?: string };
      throw new ApiError(res.status, problem.title ?? `HTTP ${res.status}`, problem.detail);
    }
    return parsed as T;
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return { title: 'not JSON', detail: text.slice(0, 200) };
  }
}
