/** A request the CLI made, its JSON body parsed. */
export interface ApiCall {
  method: string;
  url: string;
  body: unknown;
}

/**
 * The CLI run in-process against a scripted API: what it writes to stdout and stderr, the calls
 * it makes, and the API answering each call with the next answer given (status, body). `start`
 * in beforeEach, `stop` in afterEach.
 */
export class FakeCli {
  stdout = '';
  stderr = '';
  calls: ApiCall[] = [];
  /** The environment of a run: a token, the fake API's address, watches that do not wait. */
  readonly env = { SILO_TOKEN: 't', SILO_API_URL: 'http://silo.test', SILO_WATCH_POLL_MS: '0' };
  private readonly realFetch = global.fetch;

  start(): void {
    this.stdout = '';
    this.stderr = '';
    this.calls = [];
    jest.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      this.stdout += String(chunk);
      return true;
    });
    jest.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
      this.stderr += String(chunk);
      return true;
    });
  }

  stop(): void {
    jest.restoreAllMocks();
    global.fetch = this.realFetch;
  }

  /** The API answering each call with the next of `answers`; past the last, 500. */
  api(...answers: [number, unknown][]): void {
    global.fetch = ((url: URL, init: RequestInit) => {
      this.calls.push({
        method: init.method ?? 'GET',
        url: String(url),
        // The CLI sends its bodies as JSON text.
        body: typeof init.body === 'string' ? (JSON.parse(init.body) as unknown) : undefined,
      });
      const [status, body] = answers.shift() ?? [500, { title: 'no more answers' }];
      return Promise.resolve(new Response(JSON.stringify(body), { status }));
    }) as typeof fetch;
  }
}
