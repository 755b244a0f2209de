import { consoleCsp } from './security-headers';

describe('consoleCsp', () => {
  it('lets the console fetch from itself only, without OpenID Connect sign-in', () => {
    expect(consoleCsp({ console: {} })['connect-src']).toEqual(["'self'"]);
  });

  it('lets the console fetch from the issuer’s origin when OpenID Connect sign-in is configured', () => {
    const csp = consoleCsp({
      console: {
        oidc: { authority: 'https://login.example.com/realms/ops/', clientId: 'silo', scope: 'openid' },
      },
    });
    expect(csp['connect-src']).toEqual(["'self'", 'https://login.example.com']);
    expect(csp['script-src']).toEqual(["'self'"]);
    expect(csp['frame-ancestors']).toEqual(["'none'"]);
  });
});
