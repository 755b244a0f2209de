import type { Page, Response } from 'playwright-core';

/** A Content-Security-Policy violation as the page saw it. */
export interface CspViolation {
  directive: string;
  blocked: string;
  document: string;
}

/**
 * Collects every Content-Security-Policy violation of `page` from now on: the
 * `securitypolicyviolation` events of each document it loads, and the browser's console
 * messages about a refused load. Call before the first navigation.
 */
export async function watchCspViolations(page: Page): Promise<CspViolation[]> {
  const seen: CspViolation[] = [];
  await page.exposeFunction('__siloCspViolation', (v: CspViolation) => seen.push(v));
  await page.addInitScript({
    content: `document.addEventListener('securitypolicyviolation', (e) =>
      window.__siloCspViolation({ directive: e.violatedDirective, blocked: e.blockedURI, document: e.documentURI }));`,
  });
  page.on('console', (message) => {
    if (/Content Security Policy/i.test(message.text())) {
      seen.push({ directive: 'console', blocked: message.text(), document: page.url() });
    }
  });
  return seen;
}

/** The directives of a Content-Security-Policy header, by name. */
export function cspDirectives(header: string | undefined): Record<string, string[]> {
  return Object.fromEntries(
    (header ?? '')
      .split(';')
      .map((d) => d.trim().split(/\s+/))
      .filter(([name]) => name)
      .map(([name, ...values]) => [name, values]),
  );
}

/**
 * The console's security headers as the browser received them on `response`: a strict CSP
 * (only its own scripts, never inline ones; fetches to itself and `connectTo`), never framed,
 * no MIME sniffing, no referrer.
 */
export async function expectConsoleSecurityHeaders(response: Response | null, connectTo: string[] = []) {
  if (!response) throw new Error('no response');
  const headers = await response.allHeaders();
  const csp = cspDirectives(headers['content-security-policy']);
  expect(csp['default-src']).toEqual(["'self'"]);
  expect(csp['script-src']).toEqual(["'self'"]);
  expect(csp['frame-ancestors']).toEqual(["'none'"]);
  expect(csp['connect-src']).toEqual(["'self'", ...connectTo]);
  expect(Object.values(csp).flat()).not.toContain("'unsafe-inline'");
  expect(Object.values(csp).flat()).not.toContain("'unsafe-eval'");
  expect(headers['x-content-type-options']).toBe('nosniff');
  expect(headers['referrer-policy']).toBe('no-referrer');
  expect(headers['x-frame-options']).toBe('DENY');
}
